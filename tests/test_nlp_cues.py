"""Escalation cues per language, each with the span that triggered it."""

from __future__ import annotations

import pytest

from monitor.nlp.cues import CUE_NAMES, MAX_CUE_CHARS, CueMatcher

MATCHER = CueMatcher()

# Sentences written for these tests (not taken from the labeled set).
POSITIVE = [
    ("en", "legal_threat", "My solicitor has the whole file now.", "solicitor"),
    (
        "en",
        "refund_refused",
        "They flatly refused any refund for the broken seat.",
        "refused any refund",
    ),
    ("en", "outage_duration", "Our shop has been without card payments for 3 days.", None),
    ("en", "damaged_property", "The parcel arrived with a shattered vase inside.", "shattered"),
    ("en", "rude_staff", "The receptionist was openly rude to my father.", "rude"),
    ("en", "switching", "Honestly I'm switching to a rival provider next month.", None),
    ("en", "going_public", "This thread is going viral, maybe now you'll listen.", "viral"),
    ("en", "repeat_contact", "This is my fourth call about the same meter.", "fourth call"),
    ("de", "legal_threat", "Ich habe einen Anwalt eingeschaltet.", "Anwalt"),
    ("de", "outage_duration", "Seit drei Tagen ohne Telefon, das ist lächerlich.", None),
    ("de", "switching", "Ich kündige zum Monatsende.", "kündige"),
    ("es", "refund_refused", "Se niegan a darme el reembolso del billete.", None),
    ("es", "going_public", "Lo voy a contar en la prensa.", "prensa"),
    ("pl", "rude_staff", "Kasjerka była bardzo niegrzeczna.", "niegrzeczna"),
    ("pl", "refund_refused", "Minął miesiąc i nadal brak zwrotu pieniędzy.", "brak zwrotu"),
    ("pl", "outage_duration", "Od wtorku nie ma prądu w całym bloku.", None),
    ("ru", "legal_threat", "Подаю в суд на компанию.", "суд"),
    ("ru", "damaged_property", "Курьер разбил мне телевизор.", "разбил"),
    ("fr", "repeat_contact", "C'est mon troisième appel cette semaine.", None),
    ("fr", "refund_refused", "Ils refusent tout remboursement.", None),
    ("it", "switching", "Passo alla concorrenza, basta.", None),
    ("it", "legal_threat", "Ho contattato un avvocato.", "avvocato"),
    ("pt", "going_public", "Vou expor tudo no meu blog.", "blog"),
    ("pt", "legal_threat", "Já registrei reclamação no Procon.", "Procon"),
]

NEGATIVE = [
    ("en", "outage_duration", "The replacement arrived in two days, no fuss at all."),
    ("en", "legal_threat", "The regulator published its yearly report today."),
    ("en", "repeat_contact", "I was charged twice for one order."),
    ("de", "outage_duration", "Geliefert nach zwei Tagen, ohne Probleme."),
    ("es", "going_public", "Mi hijo ve la tele todo el día."),
    ("it", "going_public", "Volo giornaliero per Porto da aprile."),
    ("pl", "legal_threat", "Nie sądziłem, że będzie tak dobrze."),
    ("pt", "switching", "A companhia cancelou o voo das 8h."),
]


@pytest.mark.parametrize(("lang", "cue", "text", "span"), POSITIVE)
def test_cue_found_with_span(lang: str, cue: str, text: str, span: str | None) -> None:
    found = {c.name: c for c in MATCHER.find(text, lang)}
    assert cue in found, f"{cue} not found in {text!r}: {list(found)}"
    c = found[cue]
    assert text[c.start : c.end] == c.span
    if span is not None:
        assert c.span == span


@pytest.mark.parametrize(("lang", "cue", "text"), NEGATIVE)
def test_no_false_cue(lang: str, cue: str, text: str) -> None:
    assert cue not in {c.name for c in MATCHER.find(text, lang)}


def test_unknown_language_uses_every_lexicon() -> None:
    names = {c.name for c in MATCHER.find("Mój prawnik już wie. Never again with you.", None)}
    assert {"legal_threat", "switching"} <= names


def test_cues_are_ordered_by_position_and_unique() -> None:
    cues = MATCHER.find("No refund, so see you in court. Also my lawyer agrees.", "en")
    assert [c.name for c in cues] == ["refund_refused", "legal_threat"]
    assert cues[1].span == "see you in court"


def test_every_language_has_every_cue() -> None:
    assert set(MATCHER.languages) >= {"en", "de", "es", "pl", "ru", "fr", "it", "pt"}
    assert len(CUE_NAMES) == 8


def test_long_text_is_bounded() -> None:
    text = "calm words " * (MAX_CUE_CHARS // 5) + "my lawyer"
    assert MATCHER.find(text, "en") == ()
