"""Harm: how likely a post is a customer complaint about the brand, and how escalated it is.

The main path uses the sentiment/complaint model (``monitor.nlp``): its complaint probability,
negative probability and escalation cues. Harm is then::

    base = max(complaint_weight · P(complaint), negative_weight · P(negative))
    harm = 1 − (1 − base) · Π (1 − w_cue)      for the cues, when P(negative or complaint) ≥ cue_gate

so escalation cues (legal threat, refund refused, outage duration, going public, switching …)
raise an already negative post towards 1 and never make praise harmful.

**Lexicon-only estimator** (``method = "lexicon"``): when no model is available, or for tests and
fast replays, :class:`LexiconHarm` estimates the same three numbers from a small multilingual
negativity lexicon and cue patterns (the cue lexicon of ``monitor.nlp.cues`` when that module is
installed, else the patterns below). It is clearly weaker than the model; every estimate says
which method produced it, and replay reports it in its summary.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from monitor.risk_settings import HarmSettings
from monitor.textnorm import fold

__all__ = [
    "CUE_LABELS",
    "HarmEstimate",
    "HarmEstimator",
    "LexiconHarm",
    "ModelHarm",
    "combine_harm",
    "lexicon_signals",
    "load_estimator",
]

CUE_LABELS: Mapping[str, str] = {
    "legal_threat": "legal threat",
    "refund_refused": "refund refused",
    "outage_duration": "outage duration",
    "going_public": "going public",
    "switching": "switching to a competitor",
    "damaged_property": "damaged property",
    "rude_staff": "rude staff",
    "repeat_contact": "repeat contact",
}


@dataclass(frozen=True, slots=True)
class HarmEstimate:
    """Harm of one text, with the numbers it came from."""

    harm: float  # 0..1
    complaint: float  # P(customer complaint)
    negative: float  # P(negative sentiment)
    cues: tuple[str, ...]
    lang: str | None
    method: str  # "model", "assessment" or "lexicon"


def combine_harm(
    complaint: float,
    negative: float,
    cues: Sequence[str],
    settings: HarmSettings,
    *,
    lang: str | None = None,
    method: str = "model",
) -> HarmEstimate:
    """Harm from complaint/negative probabilities and cues (formula in the module docstring)."""
    complaint = _unit(complaint)
    negative = _unit(negative)
    base = max(settings.complaint_weight * complaint, settings.negative_weight * negative)
    base = _unit(base)
    remaining = 1.0 - base
    if max(complaint, negative) >= settings.cue_gate:
        for cue in dict.fromkeys(cues):
            remaining *= 1.0 - _unit(settings.cues.get(cue, settings.unknown_cue_weight))
    return HarmEstimate(
        _unit(1.0 - remaining), complaint, negative, tuple(dict.fromkeys(cues)), lang, method
    )


def _unit(value: float) -> float:
    """Clamp to 0..1; NaN and None become 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(number):
        return 0.0
    return min(1.0, max(0.0, number))


class HarmEstimator(Protocol):
    method: str

    def assess(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[HarmEstimate]: ...


# -- lexicon-only estimator -----------------------------------------------------------------------

# Folded stems (accents removed, lower case); a stem matches at a word start.
_NEGATIVE = (
    # en
    "terrible awful worst horrible disgust useless broke broken never scam rip-off ripoff "
    "angry furious unacceptable ridiculous pathetic disappoint fail outage cancel refus "
    "delay lost complain shame nightmare rude damag stuck waiting unbelievable fraud joke hate "
    # de
    "schrecklich furchtbar katastroph unverschamt frech kaputt beschwer ausfall storung "
    "enttausch abzocke betrug wut sauer skandal verspat verlor warte "
    # es
    "terribl horribl pesim vergüenza verguenza estafa nunca roto rota queja reclam enfad "
    "harto decepcion fatal cancelad retras perdid grosero esperando "
    # pl
    "okropn fataln skandal oszust nigdy zepsut reklamac awari zawod wsciek "
    "porazk zenad beznadziej opozni zgubil niegrzeczn czekam "
    # fr
    "horrible nul nulle arnaque inadmissible honte jamais casse panne reclamation decu "
    "retard perdu impoli scandale "
    # it
    "pessim vergogna truffa guasto reclamo delus ritard perso maleducat "
    # pt
    "pessim horrivel vergonha golpe quebrad reclamac decepcion atras perdid grosseir "
    # ru
    "ужасн отвратительн позор обман мошен никогда сломал сломан жалоб претенз разочаров "
    "задерж потерял хамств хамил безобраз кошмар"
)
_POSITIVE = (
    "love great thanks thank amazing excellent awesome perfect happy recommend "
    "danke super toll klasse gracias genial encanta excelente dziekuje swietn polecam "
    "merci parfait genial grazie ottimo obrigad otimo спасибо отличн прекрасн люблю"
)
_FIRST_PERSON = (
    "i my me we our mine ich mein mich mir wir unser yo mi me nos mio moj moja moje mnie ja "
    "je mon ma mes moi io mio mia eu meu minha я мой моя мне меня мы"
)
_CUE_PATTERNS: Mapping[str, str] = {
    "legal_threat": r"lawyer|attorney|lawsuit|sue |suing|court|legal action|anwalt|klage|gericht|"
    r"abogad|demanda|denunci|tribunal|prawnik|pozew|do sadu|w sadzie|avocat|plainte|justice|avvocat|denuncia|"
    r"advogad|processo|юрист|суд|иск|адвокат",
    "refund_refused": r"refund|money back|zwrot|erstatt|geld zuruck|reembols|devoluc|rembours|"
    r"rimbors|возврат|верн\w* деньг",
    "outage_duration": r"\d+\s*(day|days|hour|hours|tag|tage|tagen|stunden|dia|dias|hora|horas|"
    r"dni|dzien|godzin|jour|jours|heure|heures|giorn|ore|дн|день|дня|час)|"
    r"without (internet|power|service)|ohne (internet|strom)|sin (internet|servicio)|"
    r"bez (internetu|pradu)|sans (internet|service)|senza (internet|servizio)|sem internet|"
    r"без (интернета|связи|света)",
    "going_public": r"press|journalist|video|song|blog|viral|everyone should know|tiktok|youtube|"
    r"presse|zeitung|lied|prensa|cancion|periodist|prasa|dziennikar|piosenk|chanson|journal|"
    r"stampa|canzone|imprensa|musica|прес|журналист|видео|песн|блог",
    "switching": r"switch(ing)? to|cancel(l?ing)? my|moving to|never (fly|buy|use)|kundig|wechsel|"
    r"cambio a|me cambio|darme de baja|rezygnuj|przechodze do|zmieniam|resili|je passe chez|"
    r"disdett|passo a|cancelar|mudar para|ухожу к|перехожу|расторг",
    "damaged_property": r"smash|broke my|broken|damag|destroy|kaputt|beschadig|zerstor|rot[oa]\b|"
    r"danad|destroz|zniszcz|uszkodz|zepsu|casse|endommag|abime|rott[oai]\b|danneggi|quebr|danific|"
    r"сломал|разбил|поврежд",
    "rude_staff": r"rude|rolled (her|his) eyes|yelled|unfreundlich|frech|angeschrien|grosero|"
    r"maleducad|niegrzeczn|chamsk|impoli|desagreable|maleducat|grosseir|mal educad|хам|грубо|"
    r"нагруб",
    "repeat_contact": r"(third|fourth|fifth|3rd|4th|5th) time|again and again|schon wieder|"
    r"zum (dritten|vierten) mal|otra vez|por tercera vez|po raz (trzeci|kolejny)|"
    r"troisieme fois|encore une fois|terza volta|ancora una volta|terceira vez|"
    r"(третий|четвертый) раз|снова",
}


def _stem_regex(words: str) -> re.Pattern[str]:
    stems = sorted({fold(w) for w in words.split()}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(s) for s in stems) + r")")


@dataclass(frozen=True, slots=True)
class _Lexicon:
    negative: re.Pattern[str]
    positive: re.Pattern[str]
    first_person: re.Pattern[str]
    cues: tuple[tuple[str, re.Pattern[str]], ...]


def _build_lexicon() -> _Lexicon:
    first = {fold(w) for w in _FIRST_PERSON.split()}
    return _Lexicon(
        _stem_regex(_NEGATIVE),
        _stem_regex(_POSITIVE),
        re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in first) + r")(?!\w)"),
        tuple(
            (name, re.compile(r"(?<!\w)(?:" + fold(p) + ")")) for name, p in _CUE_PATTERNS.items()
        ),
    )


def _shared_cue_finder() -> Callable[[str, str | None], list[str]] | None:
    """The model package's cue lexicon, when installed (``monitor.nlp.cues``)."""
    try:
        module = importlib.import_module("monitor.nlp.cues")
    except ImportError:
        return None
    matcher = getattr(module, "CueMatcher", None)  # compiled once, not once per text
    finder = matcher().find if callable(matcher) else getattr(module, "find_cues", None)
    if not callable(finder):
        return None

    def names(text: str, lang: str | None) -> list[str]:
        try:
            found = finder(text, lang)
        except TypeError:
            found = finder(text)
        return [c if isinstance(c, str) else str(getattr(c, "name", c)) for c in found]

    return names


def lexicon_signals(
    text: str, settings: HarmSettings, lexicon: _Lexicon | None = None
) -> tuple[float, float, list[str]]:
    """(complaint, negative, cues) estimated from words alone, with the project's own patterns."""
    lexicon = lexicon or _build_lexicon()
    folded = fold(text)
    negative_hits = len(lexicon.negative.findall(folded))
    positive_hits = len(lexicon.positive.findall(folded))
    cues = [name for name, pattern in lexicon.cues if pattern.search(folded)]
    first_person = bool(lexicon.first_person.search(folded))
    return _signals(negative_hits, positive_hits, first_person, cues, settings)


def _signals(
    negative_hits: int,
    positive_hits: int,
    first_person: bool,
    cues: list[str],
    settings: HarmSettings,
) -> tuple[float, float, list[str]]:
    score = (
        settings.lexicon_hit_weight * negative_hits
        - settings.lexicon_positive_weight * positive_hits
    )
    negative = 1.0 - math.exp(-max(score, 0.0))
    complaint = negative * (
        (1.0 - settings.lexicon_first_person) + settings.lexicon_first_person * first_person
    )
    # A cue counts when the post also reads negative or personal ("my bag", "I called").
    if cues and negative_hits >= positive_hits and (negative_hits or first_person):
        complaint = 1.0 - (1.0 - complaint) * (1.0 - settings.lexicon_cue_complaint)
        negative = max(negative, complaint)
    return _unit(complaint), _unit(negative), cues


class LexiconHarm:
    """Lexicon-only harm (no model): fast, deterministic, clearly weaker. ``method = "lexicon"``."""

    method = "lexicon"

    def __init__(self, settings: HarmSettings) -> None:
        self.settings = settings
        self._lexicon = _build_lexicon()
        self._shared = _shared_cue_finder()

    def assess(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[HarmEstimate]:
        out = []
        for text, lang in zip(texts, langs, strict=True):
            complaint, negative, cues = lexicon_signals(text, self.settings, self._lexicon)
            if self._shared is not None:
                cues = list(dict.fromkeys([*cues, *self._shared(text, lang)]))
            out.append(
                combine_harm(
                    complaint, negative, cues, self.settings, lang=lang, method=self.method
                )
            )
        return out


class ModelHarm:
    """Harm from the sentiment/complaint model (``monitor.nlp``). ``method = "model"``."""

    method = "model"

    def __init__(self, classifier: Any, settings: HarmSettings) -> None:
        self.classifier = classifier
        self.settings = settings
        self.model_id = str(getattr(classifier, "model_id", "model"))

    def assess(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[HarmEstimate]:
        try:
            results = self.classifier.classify(list(texts), list(langs))
        except TypeError:
            results = self.classifier.classify(list(texts))
        out = []
        for result, lang in zip(results, langs, strict=True):
            scores = getattr(result, "scores", {}) or {}
            negative = scores.get(
                "negative", 1.0 if getattr(result, "sentiment", "") == "negative" else 0.0
            )
            cues = [
                c if isinstance(c, str) else str(getattr(c, "name", c))
                for c in getattr(result, "cues", ())
            ]
            out.append(
                combine_harm(
                    getattr(result, "complaint", 0.0),
                    negative,
                    cues,
                    self.settings,
                    lang=getattr(result, "lang", None) or lang,
                    method=self.method,
                )
            )
        return out


def load_estimator(
    settings: HarmSettings,
    *,
    model: str | None = None,
    lexicon_only: bool = False,
    model_settings: Any = None,
) -> HarmEstimator:
    """The model-based estimator when ``monitor.nlp`` can load one, else :class:`LexiconHarm`.

    ``model`` is a model id or local folder passed to ``monitor.nlp.load_classifier`` (with the
    config's ``[model]`` settings when given as ``model_settings``). A model
    that was asked for explicitly and fails to load raises; the default silently falls back to
    the lexicon (the returned estimator's ``method`` says which one is in use).
    """
    if lexicon_only:
        return LexiconHarm(settings)
    try:
        nlp = importlib.import_module("monitor.nlp")
        loader = nlp.load_classifier
    except (ImportError, AttributeError):
        if model is not None:
            raise
        return LexiconHarm(settings)
    try:
        if model_settings is not None and not isinstance(model_settings, Mapping):
            classifier = loader(model, model_settings)
        else:
            classifier = loader(model) if model is not None else loader()
    except Exception:
        # The default model may not be built on this machine; scoring still works on words.
        if model is not None:
            raise
        return LexiconHarm(settings)
    return ModelHarm(classifier, settings)
