"""The demo's scripted day: who posts what, where, when, and how engagement grows.

A deterministic scenario (seeded) played by the loopback fake sources in accelerated time:
ordinary multilingual chatter about the demo brand, a competitor's check-in outage in the
morning, a viral but harmless post, and a "United Breaks Guitars"-like complaint that starts
small on Reddit, spreads to Mastodon and Bluesky and is picked up by the news in the afternoon.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["DAY_START", "Scenario", "ScriptedPost", "build_scenario"]

DAY_START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
BRAND = "Aurora Air"
RIVAL = "Nimbus Airlines"
OUTAGE_POSTS = 70  # over five hours: a burst, not a trickle


@dataclass(frozen=True, slots=True)
class ScriptedPost:
    """One post of the script. Engagement follows a logistic curve towards ``final``."""

    key: str
    source: str  # reddit | mastodon | bluesky | news | hackernews
    published_at: datetime
    author: str
    text: str
    title: str = ""
    lang: str = "en"
    followers: int = 100
    final_likes: int = 5
    final_shares: int = 1
    final_comments: int = 1
    midpoint_hours: float = 2.0  # hours after publication when growth is fastest
    spread_hours: float = 1.0  # steepness of the curve
    role: str = "chatter"  # chatter | outage | ubg | viral_harmless | complaint
    url: str = ""

    def counts_at(self, now: datetime) -> tuple[int, int, int]:
        """Cumulative (likes, shares, comments) as the source would report them at ``now``."""
        hours = (now - self.published_at).total_seconds() / 3600
        if hours < 0:
            return (0, 0, 0)
        start = 1 / (1 + math.exp(self.midpoint_hours / self.spread_hours))
        share = (1 / (1 + math.exp(-(hours - self.midpoint_hours) / self.spread_hours)) - start) / (
            1 - start
        )
        share = max(0.0, min(1.0, share))
        return (
            round(self.final_likes * share),
            round(self.final_shares * share),
            round(self.final_comments * share),
        )


@dataclass(frozen=True, slots=True)
class Scenario:
    start: datetime
    end: datetime
    posts: tuple[ScriptedPost, ...]

    def visible(self, source: str, now: datetime) -> list[ScriptedPost]:
        return sorted(
            (p for p in self.posts if p.source == source and p.published_at <= now),
            key=lambda p: p.published_at,
            reverse=True,
        )

    def by_role(self, role: str) -> list[ScriptedPost]:
        return [p for p in self.posts if p.role == role]


# Ordinary chatter: each line is used once, so unrelated posts do not look like one story.
_CHATTER = {
    "en": [
        "Smooth flight with {b} today, crew was lovely",
        "Anyone know if {b} lets you bring skis as carry-on?",
        "{b} app finally shows the gate changes in time, nice",
        "Booked {b} to Oslo for the holidays, fingers crossed for snow",
        "Coffee on {b} is still terrible but the seats are comfy",
        "{b} check-in queue was 10 minutes this morning, not bad at all",
        "Window seat on {b} over the fjords, look at this view",
        "Is the {b} lounge in Bergen worth it on a long layover?",
        "{b} miles expire next month, where should I fly?",
        "Thanks {b} for holding the gate for my connecting flight",
        "Landed early with {b}, first time in ages",
        "{b} new uniforms look sharp",
        "Paid for extra legroom on {b}, worth every penny",
        "Does {b} serve vegetarian meals on short flights?",
        "My kid loved the cockpit visit on {b}, thank you to the captain",
        "{b} boarding by zones actually works, who knew",
    ],
    "de": [
        "Pünktlicher Flug mit {b}, danke an die Crew",
        "Hat jemand Erfahrung mit {b} und Sperrgepäck wie Fahrrädern?",
        "{b} fliegt jetzt auch nach Tromsø, schön für den Winterurlaub",
        "Der Kaffee bei {b} ist immer noch schlecht, aber der Service ist ok",
        "Mit {b} nach Kraków, Sitzabstand überraschend gut",
        "Kennt jemand die Gepäckregeln von {b} für Skier?",
        "{b} hat endlich Online-Check-in per App, sehr praktisch",
    ],
    "es": [
        "Vuelo tranquilo con {b}, tripulación muy amable",
        "¿Alguien sabe si {b} cobra por la maleta de mano en vuelos cortos?",
        "{b} por fin tiene wifi a bordo y funciona bien",
        "Primera vez volando con {b} a Noruega, todo perfecto",
        "Los asientos nuevos de {b} son mucho más cómodos",
    ],
    "pl": [
        "Lot z {b} bez problemów, polecam",
        "Czy {b} lata zimą do Gdańska z Oslo?",
        "Obsługa {b} na lotnisku bardzo miła i pomocna",
        "Kupiłem bilety {b} na ferie, ceny w porządku",
        "Aplikacja {b} pokazuje teraz numer wyjścia na czas",
    ],
    "fr": [
        "Vol parfait avec {b}, merci à l'équipage",
        "{b} a changé ma porte trois fois, un peu agaçant mais à l'heure",
        "Premier vol avec {b} vers Reykjavík, superbe vue",
        "Le personnel de {b} à Oslo parle français, très appréciable",
    ],
}
_OUTAGE = {
    "en": [
        "{r} check-in is down again, stuck at the airport for hours",
        "Day two of the {r} outage, no updates at all",
        "{r} cancelled my flight because their systems are down and nobody answers",
        "Still no apology from {r} after the outage. Never again.",
        "{r} hotline unreachable, outage day 2",
    ],
    "de": [
        "{r} Check-in seit Stunden kaputt, keiner sagt etwas",
        "Zweiter Tag Systemausfall bei {r}, unfassbar",
    ],
    "es": ["{r} lleva dos días con el sistema caído y nadie responde"],
    "pl": ["Awaria systemu {r} drugi dzień, zero informacji"],
}


def build_scenario(seed: int = 23, start: datetime = DAY_START, hours: float = 24.0) -> Scenario:
    """The demo day. Same seed, same day."""
    rng = random.Random(seed)
    posts: list[ScriptedPost] = []
    sources = ["reddit", "mastodon", "bluesky", "hackernews"]

    def at(hour: float) -> datetime:
        return start + timedelta(hours=hour)

    # Ordinary chatter all day: low engagement, mostly neutral or positive, every line once.
    lines = [(lang, text) for lang, texts in _CHATTER.items() for text in texts]
    rng.shuffle(lines)
    for n, (lang, line) in enumerate(lines):
        posts.append(
            ScriptedPost(
                f"chat-{n}",
                rng.choice(sources),
                at(rng.uniform(0, hours - 1)),
                f"traveller{n}",
                line.format(b=BRAND),
                lang=lang,
                followers=rng.randint(20, 900),
                final_likes=rng.randint(0, 12),
                final_shares=rng.randint(0, 2),
                final_comments=rng.randint(0, 4),
                midpoint_hours=rng.uniform(0.5, 2),
                spread_hours=0.5,
            )
        )

    # The competitor's outage: a burst of complaints from 07:00 to 12:00, then the news.
    for n in range(OUTAGE_POSTS):
        lang = rng.choice(["en", "en", "en", "de", "es", "pl"])
        text = rng.choice(_OUTAGE[lang]).format(r=RIVAL)
        posts.append(
            ScriptedPost(
                f"outage-{n}",
                rng.choice(sources[:3]),
                at(1 + 5 * (n / OUTAGE_POSTS) ** 2 + rng.uniform(0, 0.05)),  # a spike, then a tail
                f"stranded{n}",
                text,
                lang=lang,
                followers=rng.randint(50, 3000),
                final_likes=rng.randint(2, 40),
                final_shares=rng.randint(0, 8),
                final_comments=rng.randint(0, 10),
                midpoint_hours=1.0,
                spread_hours=0.5,
                role="outage",
            )
        )
    posts.append(
        ScriptedPost(
            "outage-news",
            "news",
            at(4.0),
            "Travel Wire",
            f"{RIVAL} passengers stranded for a second day as check-in outage drags on. The airline has not apologised.",
            title=f"{RIVAL} outage strands thousands for a second day",
            role="outage",
            followers=0,
            final_likes=0,
            final_shares=0,
            final_comments=0,
            url="https://travelwire.example/nimbus-outage-day-two",
        )
    )

    # A viral but harmless post: people love it, nobody is angry.
    posts.append(
        ScriptedPost(
            "viral-pilot",
            "reddit",
            at(3.0),
            "planespotter_jo",
            f"The {BRAND} pilot on my flight sang happy birthday to a 90 year old passenger over the PA. Whole cabin joined in. Best flight ever!",
            title=f"{BRAND} pilot sings happy birthday to a 90 year old passenger",
            followers=4000,
            final_likes=14000,
            final_shares=900,
            final_comments=1300,
            midpoint_hours=3.0,
            spread_hours=0.8,
            role="viral_harmless",
        )
    )

    # A specific complaint that never spreads.
    posts.append(
        ScriptedPost(
            "quiet-complaint",
            "mastodon",
            at(5.5),
            "marek_k",
            f"{BRAND} zgubiło mój bagaż w Łodzi, trzeci dzień bez walizki, a infolinia milczy.",
            lang="pl",
            followers=150,
            final_likes=3,
            final_shares=0,
            final_comments=1,
            midpoint_hours=1.0,
            spread_hours=0.5,
            role="complaint",
        )
    )

    # An English complaint that stays small: "refund NEAR/5 never" finds it.
    posts.append(
        ScriptedPost(
            "refund-never",
            "hackernews",
            at(7.0),
            "jpk",
            f"Asked {BRAND} for a refund twice after the strike, never heard back. Third email today.",
            title=f"{BRAND} refund: never heard back",
            followers=90,
            final_likes=4,
            final_shares=0,
            final_comments=2,
            midpoint_hours=1.0,
            spread_hours=0.5,
            role="complaint",
        )
    )

    # The United-Breaks-Guitars-like story: small at first, then spreading, then the news.
    # Cross-posts copy the original (as people do), and the news quotes it: one story.
    ubg_title = f"{BRAND} smashed my cello and refused a refund, so I wrote a song"
    ubg_text = (
        f"{BRAND} baggage handlers smashed my cello on the tarmac in Oslo and I watched it happen. Nine months of "
        f"calls, they refused any refund and their lawyers sent me a form letter. So I wrote a song about it. "
        f"Never flying {BRAND} again."
    )
    posts.append(
        ScriptedPost(
            "ubg-reddit",
            "reddit",
            at(2.5),
            "cellist_marta",
            ubg_text,
            title=ubg_title,
            followers=2100,
            final_likes=21000,
            final_shares=2600,
            final_comments=3400,
            midpoint_hours=9.0,
            spread_hours=2.2,
            role="ubg",
        )
    )
    posts.append(
        ScriptedPost(
            "ubg-mastodon",
            "mastodon",
            at(5.0),
            "marta@musicians.example",
            f"{ubg_title}. {ubg_text} (cross-posted from Reddit)",
            followers=5200,
            final_likes=6800,
            final_shares=4100,
            final_comments=650,
            midpoint_hours=7.5,
            spread_hours=2.0,
            role="ubg",
        )
    )
    posts.append(
        ScriptedPost(
            "ubg-bluesky",
            "bluesky",
            at(6.5),
            "marta.bsky.social",
            f"{ubg_title}. {ubg_text.rsplit('. So I wrote', 1)[0]}. Song link in bio.",
            followers=8900,
            final_likes=12500,
            final_shares=5200,
            final_comments=900,
            midpoint_hours=6.5,
            spread_hours=1.8,
            role="ubg",
        )
    )
    posts.append(
        ScriptedPost(
            "ubg-news",
            "news",
            at(10.0),
            "Travel Wire",
            f'"{ubg_text}" A cellist\'s post about {BRAND} has been shared tens of thousands of times; the airline '
            f"has not commented.",
            title=f'"{ubg_title}": cellist\'s post goes viral',
            followers=0,
            final_likes=0,
            final_shares=0,
            final_comments=0,
            role="ubg",
            url="https://travelwire.example/aurora-cello-song",
        )
    )
    posts.append(
        ScriptedPost(
            "ubg-echo-de",
            "mastodon",
            at(9.0),
            "klara@social.example",
            f"Das gleiche ist mir mit {BRAND} passiert: Gitarre kaputt, Erstattung abgelehnt. Solidarität mit der Cellistin!",
            lang="de",
            followers=700,
            final_likes=40,
            final_shares=6,
            final_comments=5,
            midpoint_hours=3.0,
            spread_hours=1.0,
            role="complaint",
        )
    )
    return Scenario(
        start, start + timedelta(hours=hours), tuple(sorted(posts, key=lambda p: p.published_at))
    )
