"""Seeded cascade simulator: brand mentions with engagement histories in the replay format.

What it generates (``--weeks`` of simulated time, ``--posts`` mentions in total):

* **chatter** — neutral posts, praise and news about the brands (most of the stream);
* **complaints** — harmful texts that stay small (subcritical cascades; a heavy tail of them
  gets a few hundred engagements: the false alarms a scorer must resist);
* **harmless viral** — jokes and praise that explode within hours;
* **harmful viral** (the United Breaks Guitars case) — a specific, angry complaint whose cascade
  is near-critical with long generation times, so it slow-burns: it peaks hours to days after it is
  first seen, and news sites pick the story up on the way (same ``story_id``);
* **an outage burst** — for one brand, a few hours of many short, small complaints.

Engagement is a self-exciting branching process: each engagement triggers a Poisson number of
further ones with a heavy-tailed (Pareto) fertility, log-normal delays, and saturation of the
reachable audience; counts are split into likes/shares/comments (views on YouTube). Collectors
poll irregularly (10 min for 2 h, hourly to a day, 6-hourly to 3 days, then 12-hourly while still
growing, with jitter and missed polls) and only changed counts become snapshots. A few posts carry
the bad input replay must survive: decreasing counts, missing counts, a snapshot before publication.

Ground truth goes into extra keys that replay ignores: ``label``, ``harmful``, ``viral``,
``peak_at`` (hour of the highest engagement rate), ``final`` (final engagement events),
``competitor_of``.

``--texts labeled`` draws texts from the project's labeled multilingual set (held-out test split
only) instead of the built-in templates, and then sets ``brand`` explicitly.

Example::

    python benchmarks/simulate.py --seed 7 --posts 20000 --weeks 4 --out sim.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

BRANDS: tuple[tuple[str, str | None], ...] = (
    ("Skyline Air", None),
    ("Nordwave", None),
    ("Brightcart", None),
    ("Bluejet", "Skyline Air"),
    ("Telvia", "Nordwave"),
)
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
SOURCES = ("reddit", "mastodon", "bluesky", "youtube", "hackernews", "lemmy")
SOURCE_P = (0.35, 0.2, 0.25, 0.08, 0.07, 0.05)
LANGS = ("en", "de", "es", "pl", "fr", "ru", "it", "pt")
LANG_P = (0.4, 0.14, 0.12, 0.1, 0.08, 0.08, 0.04, 0.04)

# {b} = brand, {n} = a number. Complaints carry the escalation cues the model looks for.
COMPLAINTS = {
    "en": [
        "{b} smashed my guitar in the cargo hold and refuses to pay. I'm writing a song about this.",
        "Day {n} without internet from {b}. Nobody can tell me when it'll be fixed. Switching to another provider.",
        "{b} cancelled my order and now refuses to refund me. Talking to a lawyer tomorrow.",
        "Third time I call {b} support this week and the agent just hung up on me. Unbelievable.",
        "{b} charged me twice and refuses a refund. Taking this to the press.",
    ],
    "de": [
        "{b} hat meinen Koffer zerstört und weigert sich zu zahlen. Ich schalte jetzt meinen Anwalt ein.",
        "Seit {n} Tagen kein Internet von {b}. Niemand hilft. Ich kündige!",
        "Zum dritten Mal bei {b} angerufen, wieder abgewimmelt. Unverschämt.",
    ],
    "es": [
        "{b} perdió mi maleta y se niega a devolverme el dinero. Voy a poner una demanda.",
        "Llevo {n} días sin internet con {b}. Nadie responde. Me cambio de compañía.",
        "{b} me trató fatal, el empleado fue muy grosero. Lo voy a contar en la prensa.",
    ],
    "pl": [
        "{b} zniszczył mój bagaż i odmawia zwrotu pieniędzy. Idę do sądu.",
        "Od {n} dni bez internetu od {b}. Skandal, rezygnuję z usług.",
        "Dzwonię do {b} po raz trzeci i nikt nie pomaga. Porażka.",
    ],
    "fr": [
        "{b} a cassé ma valise et refuse de me rembourser. J'appelle mon avocat.",
        "{n} jours sans internet avec {b}. Inadmissible, je passe chez un concurrent.",
    ],
    "ru": [
        "{b} разбили мой чемодан и отказываются вернуть деньги. Подаю в суд.",
        "Уже {n} дня без интернета от {b}. Ужасно, ухожу к другому оператору.",
    ],
    "it": ["{b} ha rotto la mia valigia e rifiuta il rimborso. Chiamo l'avvocato."],
    "pt": ["{b} quebrou minha mala e recusa o reembolso. Vou processar a empresa."],
}
CHATTER = {
    "en": [
        "Flying {b} to Lisbon next week, any tips for the lounge?",
        "{b} announces new routes for the summer season.",
        "Does anyone know if {b} has a student discount?",
        "Just switched my plan with {b}, the app is quite clear.",
    ],
    "de": [
        "{b} startet neue Verbindungen im Sommer.",
        "Hat jemand Erfahrung mit dem Tarif von {b}?",
    ],
    "es": [
        "{b} anuncia nuevas rutas para el verano.",
        "¿Alguien sabe si {b} tiene descuento para estudiantes?",
    ],
    "pl": [
        "{b} ogłasza nowe połączenia na lato.",
        "Czy ktoś wie, czy {b} ma zniżki dla studentów?",
    ],
    "fr": ["{b} annonce de nouvelles lignes pour l'été.", "Quelqu'un connaît l'offre de {b} ?"],
    "ru": ["{b} объявила новые направления на лето.", "Кто-нибудь пользовался тарифом {b}?"],
    "it": ["{b} annuncia nuove rotte per l'estate."],
    "pt": ["{b} anuncia novas rotas para o verão."],
}
PRAISE = {
    "en": [
        "Huge thanks to the {b} crew, they found my lost bag in an hour. Amazing service!",
        "This {b} ad with the dancing grandma is the best thing on the internet today 😂",
    ],
    "de": ["Danke {b}, super schneller Service heute!"],
    "es": ["¡Gracias {b}, servicio excelente hoy!"],
    "pl": ["Dziękuję {b}, świetna obsługa!"],
    "fr": ["Merci {b}, service parfait aujourd'hui !"],
    "ru": ["Спасибо {b}, отличный сервис!"],
    "it": ["Grazie {b}, servizio ottimo!"],
    "pt": ["Obrigado {b}, ótimo atendimento!"],
}
OUTAGE = {
    "en": ["Is {b} down? No internet for {n} hours now.", "{b} outage again, nothing works."],
    "de": ["{b} Störung? Seit {n} Stunden kein Internet."],
    "pl": ["Awaria {b}? Od {n} godzin bez internetu."],
    "es": ["¿{b} caído? {n} horas sin internet."],
}
NEWS = {
    "en": "Passenger's complaint about {b} goes viral as the company stays silent",
    "de": "Kundenbeschwerde über {b} verbreitet sich im Netz",
    "es": "La queja de un cliente contra {b} se hace viral",
    "pl": "Skarga klienta na {b} podbija internet",
    "fr": "La plainte d'un client contre {b} devient virale",
    "ru": "Жалоба клиента на {b} стала вирусной",
    "it": "Il reclamo di un cliente contro {b} diventa virale",
    "pt": "Reclamação de cliente contra {b} viraliza",
}
NEWS_SITES = ("news.example", "dailywire.example", "tagesblatt.example", "gazeta.example")


@dataclass(frozen=True)
class Kind:
    """Cascade parameters per kind of post."""

    root_mean: float  # expected direct engagements of the post itself (× author factor)
    r0: float  # mean fertility of an engagement (× Pareto heavy tail)
    delay_median: float  # seconds, log-normal generation delay
    cap: float  # reachable audience (saturation), median


KINDS = {
    "chatter": Kind(1.5, 0.35, 1800, 400),
    "complaint": Kind(2.0, 0.45, 1800, 600),
    "outage": Kind(0.8, 0.2, 1200, 100),
    "harmless_viral": Kind(30, 1.9, 1500, 30000),
    "harmful_viral": Kind(6, 1.45, 3 * 3600, 15000),
    "news": Kind(0.0, 0.0, 3600, 1),
}
PARETO_ALPHA = 2.2  # heavy-tailed fertility (mean normalised to 1)
DELAY_SIGMA = 1.0


def cascade(kind: Kind, followers: int, rng: np.random.Generator, horizon: float) -> np.ndarray:
    """Engagement event times (seconds after publication), sorted."""
    author = max(0.3, math.log10(max(followers, 10)) / 3.0)
    cap = float(rng.lognormal(math.log(max(kind.cap, 1.0)), 0.6))
    first = rng.poisson(kind.root_mean * author)
    times = list(rng.lognormal(math.log(kind.delay_median), DELAY_SIGMA, first))
    frontier = np.array(times)
    total = len(times)
    while frontier.size and total < cap:
        fertility = (
            kind.r0
            * (rng.pareto(PARETO_ALPHA, frontier.size) + 1)
            * (PARETO_ALPHA - 1)
            / PARETO_ALPHA
        )
        fertility *= max(0.0, 1.0 - total / cap)
        children = rng.poisson(fertility)
        n = int(children.sum())
        if n == 0:
            break
        parents = np.repeat(frontier, children)
        delays = rng.lognormal(math.log(kind.delay_median), DELAY_SIGMA, n)
        frontier = parents + delays
        frontier = frontier[frontier < horizon]
        times.extend(frontier.tolist())
        total += n
    return np.sort(np.array(times))


def poll_times(seen: float, rng: np.random.Generator, last_event: float) -> list[float]:
    """When a collector re-polls the post (seconds after publication)."""
    out, t = [seen], seen
    schedule = ((2 * 3600, 600), (86400, 3600), (3 * 86400, 6 * 3600), (10 * 86400, 12 * 3600))
    for until, step in schedule:
        while t < seen + until:
            t += step * rng.uniform(0.8, 1.25)
            if until > 3 * 86400 and t > last_event + 86400:
                return out
            if rng.random() > 0.1:  # one poll in ten fails or is skipped
                out.append(t)
    return out


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Texts:
    """Post texts from the built-in templates or the project's labeled set."""

    def __init__(self, mode: str, rng: np.random.Generator) -> None:
        self.rng = rng
        self.mode = mode
        self.labeled: dict[str, list[tuple[str, str]]] = {}
        if mode == "labeled":
            from monitor.nlp.dataset import load_posts, split_posts

            for post in split_posts(load_posts(), "test"):
                if post.complaint and post.sentiment == "negative":
                    key = "complaint_cue" if post.cues else "complaint"
                elif post.sentiment == "positive":
                    key = "praise"
                else:
                    key = "chatter"
                self.labeled.setdefault(key, []).append((post.text, post.lang))

    def pick(self, table: dict[str, list[str]], brand: str) -> tuple[str, str]:
        langs = [lang for lang in LANGS if lang in table]
        weights = np.array([LANG_P[LANGS.index(lang)] for lang in langs])
        lang = langs[int(self.rng.choice(len(langs), p=weights / weights.sum()))]
        options = table[lang]
        template = options[int(self.rng.integers(len(options)))]
        return template.format(b=brand, n=int(self.rng.integers(2, 9))), lang

    def text(self, label: str, brand: str) -> tuple[str, str]:
        if self.mode == "labeled" and label != "news":
            key = {
                "harmful_viral": "complaint_cue",
                "complaint": "complaint",
                "outage": "complaint",
                "harmless_viral": "praise",
            }.get(label, "chatter")
            pool = self.labeled.get(key) or self.labeled.get("chatter") or [("…", "en")]
            if label == "chatter" and self.rng.random() < 0.15:
                pool = self.labeled.get("praise", pool)
            return pool[int(self.rng.integers(len(pool)))]
        table = {
            "harmful_viral": COMPLAINTS,
            "complaint": COMPLAINTS,
            "outage": OUTAGE,
            "harmless_viral": PRAISE,
        }.get(label)
        if table is None:
            table = PRAISE if self.rng.random() < 0.15 else CHATTER
        return self.pick(table, brand)


def simulate(
    seed: int,
    posts: int,
    weeks: float,
    texts: str = "templates",
    harmful_per_brand: int = 3,
    harmless_per_brand: int = 3,
) -> list[dict]:
    """Generate the posts (dicts in the replay format plus ground-truth keys), time-ordered."""
    rng = np.random.default_rng(seed)
    span = weeks * 7 * 86400
    text_source = Texts(texts, rng)
    plan: list[tuple[str, str, float]] = []  # (label, brand, published offset)
    main_brands = [b for b, rival in BRANDS if rival is None]
    for brand, _ in BRANDS:
        for _ in range(harmful_per_brand if brand in main_brands else 1):
            plan.append(("harmful_viral", brand, rng.uniform(0.05, 0.8) * span))
        for _ in range(harmless_per_brand):
            plan.append(("harmless_viral", brand, rng.uniform(0.05, 0.9) * span))
    outage_brand = "Nordwave"
    outage_start = math.floor(rng.uniform(0.4, 0.6) * span / 3600) * 3600
    n_outage = min(posts // 20, 400)
    for _ in range(n_outage):
        plan.append(("outage", outage_brand, outage_start + rng.gamma(2.0, 3600 * 1.5)))
    n_rest = max(posts - len(plan), 0)
    weights = np.array([1.0, 1.0, 0.8, 0.6, 0.5])
    for _ in range(n_rest):
        brand = BRANDS[int(rng.choice(len(BRANDS), p=weights / weights.sum()))][0]
        # Daily rhythm: more posts in the (UTC) daytime.
        day = rng.uniform(0, span / 86400)
        hour = (rng.normal(14, 4.5)) % 24
        offset = math.floor(day) * 86400 + hour * 3600
        label = "complaint" if rng.random() < 0.22 else "chatter"
        plan.append((label, brand, min(offset, span)))
    plan.sort(key=lambda item: item[2])

    out: list[dict] = []
    rivals = dict(BRANDS)
    for index, (label, brand, offset) in enumerate(plan):
        published = START + timedelta(seconds=float(offset))
        source = SOURCES[int(rng.choice(len(SOURCES), p=np.array(SOURCE_P)))]
        followers = int(rng.lognormal(math.log(300), 1.6))
        if label == "harmful_viral":
            followers = int(rng.lognormal(math.log(2000), 1.0))
        text, lang = text_source.text(label, brand)
        kind = KINDS[label]
        times = cascade(kind, followers, rng, horizon=14 * 86400)
        seen = float(rng.uniform(120, 1800))
        record: dict = {
            "id": f"{source}:{seed}-{index}",
            "source": source,
            "text": text,
            "published_at": _iso(published),
            "seen_at": _iso(published + timedelta(seconds=seen)),
            "author": f"user{int(rng.integers(1, 10**6))}",
            "author_followers": followers,
            "lang": lang,
            "label": label,
            "harmful": label == "harmful_viral",
            "viral": label in ("harmful_viral", "harmless_viral"),
            "final": int(times.size),
            "competitor_of": rivals[brand],
        }
        if texts == "labeled":
            record["brand"] = brand
        if times.size:
            hours = np.floor(times / 3600).astype(int)
            peak_hour = int(np.bincount(hours).argmax())
            record["peak_at"] = _iso(published + timedelta(hours=peak_hour, minutes=30))
        record["snapshots"] = _snapshots(times, source, published, seen, rng)
        out.append(record)
        if label == "harmful_viral" and times.size:
            # News picks the story up on the way to its peak.
            peak = float(np.median(times)) if times.size else 86400.0
            for j in range(int(rng.integers(1, 4))):
                at = published + timedelta(seconds=peak * rng.uniform(0.4, 1.1) + seen)
                news_lang = lang if rng.random() < 0.6 else LANGS[int(rng.integers(len(LANGS)))]
                out.append(
                    {
                        "id": f"news:{seed}-{index}-{j}",
                        "source": "news",
                        "title": NEWS[news_lang].format(b=brand),
                        "text": NEWS[news_lang].format(b=brand) + ".",
                        "published_at": _iso(at),
                        "site": NEWS_SITES[int(rng.integers(len(NEWS_SITES)))],
                        "lang": news_lang,
                        "story_id": record["id"],
                        "label": "news_pickup",
                        "harmful": False,
                        "viral": False,
                        "competitor_of": rivals[brand],
                        **({"brand": brand} if texts == "labeled" else {}),
                    }
                )
            record["story_id"] = record["id"]
    out.sort(key=lambda r: (r.get("seen_at") or r["published_at"], r["id"]))
    return out


def _snapshots(
    times: np.ndarray, source: str, published: datetime, seen: float, rng: np.random.Generator
) -> list[dict]:
    last_event = float(times[-1]) if times.size else 0.0
    polls = poll_times(seen, rng, last_event)
    kinds = rng.choice(3, size=times.size, p=(0.7, 0.15, 0.15))  # like, share, comment
    likes = np.cumsum(kinds == 0)
    shares = np.cumsum(kinds == 1)
    comments = np.cumsum(kinds == 2)
    snaps: list[dict] = []
    previous: tuple | None = None
    quirky = rng.random() < 0.01  # bad input: decreasing / missing counts, clock skew
    for index, at in enumerate(polls):
        n = int(np.searchsorted(times, at, side="right"))
        counts = (
            int(likes[n - 1]) if n else 0,
            int(shares[n - 1]) if n else 0,
            int(comments[n - 1]) if n else 0,
        )
        if counts == previous and index:
            continue
        previous = counts
        snap: dict = {
            "at": _iso(published + timedelta(seconds=float(at))),
            "likes": counts[0],
            "shares": counts[1],
            "comments": counts[2],
            "views": counts[0] * 40 + counts[1] * 200 if source == "youtube" else None,
        }
        if quirky and index % 3 == 2:
            snap["likes"] = max(0, counts[0] - 3)  # deleted votes
            snap["comments"] = None  # not reported this time
        snaps.append(snap)
    if quirky and snaps:
        snaps[0]["at"] = _iso(published - timedelta(minutes=2))  # clock skew
        snaps.reverse()  # out of order
    return snaps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--weeks", type=float, default=4.0)
    parser.add_argument("--texts", choices=("templates", "labeled"), default="templates")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    records = simulate(args.seed, args.posts, args.weeks, args.texts)
    handle = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    try:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if args.out:
            handle.close()
    labels: dict[str, int] = {}
    for record in records:
        labels[record["label"]] = labels.get(record["label"], 0) + 1
    print(
        f"{len(records)} posts, {sum(len(r.get('snapshots', [])) for r in records)} snapshots; "
        + ", ".join(f"{k} {v}" for k, v in sorted(labels.items())),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
