"""Escalation cues: per-language lexicons and patterns, each match reported with its span.

A cue says *why* a post deserves a human's attention (a legal threat, a refused refund, days
without service, ...). Patterns are written per language for en, de, es, pl, ru, fr, it and
pt; a post in another or unknown language is matched against all of them. Matching is
case-insensitive on the raw text; spans index into the text as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["CUE_NAMES", "CUE_WEIGHTS", "MAX_CUE_CHARS", "Cue", "CueMatcher", "find_cues"]

CUE_NAMES: tuple[str, ...] = (
    "legal_threat",
    "refund_refused",
    "outage_duration",
    "damaged_property",
    "rude_staff",
    "switching",
    "going_public",
    "repeat_contact",
)

# How much each cue raises text-only risk (see engine.text_risk): going public and legal
# threats are what turn a complaint into a story; the rest make it specific and credible.
CUE_WEIGHTS: Mapping[str, float] = {
    "legal_threat": 0.35,
    "going_public": 0.40,
    "damaged_property": 0.20,
    "outage_duration": 0.20,
    "refund_refused": 0.20,
    "rude_staff": 0.15,
    "switching": 0.15,
    "repeat_contact": 0.15,
}


@dataclass(frozen=True)
class Cue:
    """One escalation cue found in a post: its name and the span that triggered it."""

    name: str
    span: str
    start: int
    end: int


_W = r"(?:\W+\w+){0,%d}?\W+"  # a short window of words between two anchors
# Cues are looked for in the first characters only: long articles would otherwise cost
# seconds of regex time, and a complaint's cues come early.
MAX_CUE_CHARS = 10_000


def _alt(words: Iterable[str]) -> str:
    return "(?:" + "|".join(sorted(words, key=len, reverse=True)) + ")"


@dataclass(frozen=True)
class _Lang:
    legal: tuple[str, ...]
    refuse: tuple[str, ...]
    refund: tuple[str, ...]
    refund_fixed: tuple[str, ...]
    numbers: tuple[str, ...]
    units: tuple[str, ...]
    without: tuple[str, ...]
    since: tuple[str, ...]
    damage: tuple[str, ...]
    rude: tuple[str, ...]
    switch: tuple[str, ...]
    public: tuple[str, ...]
    ordinals: tuple[str, ...]
    contact: tuple[str, ...]
    times: tuple[str, ...]
    contact_fixed: tuple[str, ...]
    verbs: tuple[str, ...] = ()
    outage_fixed: tuple[str, ...] = ()
    dismiss: tuple[str, ...] = ()


_DIGITS = (r"\d+",)

_LANGS: dict[str, _Lang] = {
    "en": _Lang(
        legal=(
            r"su(?:e|ing)\b",
            r"lawsuit",
            r"lawyers?",
            r"solicitors?",
            r"attorneys?",
            r"legal (?:action|department|steps)",
            r"small claims",
            r"court\b",
            r"ombudsman",
            r"trading standards",
            r"consumer protection",
            r"chargeback",
            r"class action",
            r"report(?:ed)? (?:you|this) to",
            r"see you in court",
        ),
        refuse=(
            r"refus\w*",
            r"won'?t",
            r"will not",
            r"wouldn'?t",
            r"den(?:y|ied|ies)",
            r"reject\w*",
            r"no\b",
            r"still not",
            r"never got",
        ),
        refund=(r"refund\w*", r"compensation", r"reimburs\w*", r"(?:my )?money back"),
        refund_fixed=(r"non[- ]refundable", r"only (?:a |offer(?:ing)? a )?voucher"),
        numbers=(
            *_DIGITS,
            r"one",
            r"two",
            r"three",
            r"four",
            r"five",
            r"six",
            r"seven",
            r"eight",
            r"nine",
            r"ten",
            r"\w+teen",
            r"twenty",
            r"several",
            r"a few",
            r"a",
        ),
        units=(r"hours?", r"hrs?", r"days?", r"weeks?", r"months?"),
        without=(
            r"without",
            r"with no",
            r"no\b",
            r"down",
            r"been out",
            r"offline",
            r"outage",
            r"cut\b",
            r"grounded",
            r"stuck",
        ),
        since=(
            r"since (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday"
            r"|last \w+|\d+ ?(?:am|pm))",
        ),
        damage=(
            r"broke\b",
            r"broken",
            r"smashed",
            r"damaged",
            r"cracked",
            r"scratched",
            r"dented",
            r"ruined",
            r"soaked",
            r"flooded",
            r"torn\b",
            r"huge tear",
            r"shattered",
            r"destroyed",
            r"drilled through",
        ),
        rude=(
            r"rude\w*",
            r"shouted at",
            r"yelled at",
            r"screamed at",
            r"hung up on",
            r"rolled (?:her|his|their) eyes",
            r"condescending",
            r"disrespectful",
            r"like a thief",
            r"insult\w*",
            r"sighed",
        ),
        switch=(
            r"switch(?:ing)? to",
            r"switching",
            r"porting my number",
            r"closing my account",
            r"cancel+(?:ed|ing)? (?:my )?(?:\w+ )?(?:subscription|account|contract|membership)",
            r"moving (?:everything )?to another",
            r"won'?t be renewing",
            r"never again with",
            r"i'?m done with",
            r"competitors?",
            r"rival (?:airline|provider|bank)",
        ),
        public=(
            r"(?:going|went|go) to the (?:press|media|news)",
            r"local news",
            r"journalists?",
            r"reporters?",
            r"my blog",
            r"youtube",
            r"tiktok",
            r"writing a song",
            r"petition",
            r"my mp\b",
            r"viral",
            r"people need to know",
            r"posting every",
        ),
        ordinals=(
            r"second",
            r"third",
            r"fourth",
            r"fifth",
            r"sixth",
            r"seventh",
            r"eighth",
            r"ninth",
            r"tenth",
            r"\d+(?:st|nd|rd|th)",
        ),
        contact=(r"time", r"call", r"email", r"e-mail", r"message", r"attempt", r"complaint"),
        times=(r"times",),
        verbs=(r"called", r"phoned", r"rang", r"emailed", r"written", r"sent", r"contacted"),
        dismiss=(r"go somewhere else", r"go elsewhere"),
        contact_fixed=(
            r"you again",
            r"\d+ different agents",
            r"(?:for|on) the phone .{0,20}in a row",
            r"explained my problem to",
        ),
    ),
    "de": _Lang(
        legal=(
            r"anw[aä]lt\w*",
            r"verklag\w*",
            r"klage\b",
            r"rechtliche schritte",
            r"gericht\w*",
            r"verbraucherzentrale",
            r"schlichtungsstelle",
            r"mahnbescheid",
            r"rückbuchung",
            r"strafanzeige",
            r"rechtsabteilung",
            r"bei der \w+ gemeldet",
        ),
        refuse=(r"verweiger\w*", r"abgelehnt", r"lehn\w+ ab", r"kein\w*", r"nicht"),
        refund=(
            r"erstattung",
            r"rückerstattung",
            r"entschädigung",
            r"geld zurück",
            r"geld",
            r"erstattet",
            r"zurückgezahlt",
        ),
        refund_fixed=(r"nicht erstattungsfähig", r"nur ein(?:en)? gutschein"),
        numbers=(
            *_DIGITS,
            r"ein\w*",
            r"zwei",
            r"drei",
            r"vier",
            r"fünf",
            r"sechs",
            r"sieben",
            r"acht",
            r"neun",
            r"zehn",
            r"\w+zehn",
            r"mehrere",
            r"paar",
        ),
        units=(r"stunden?", r"tagen?", r"wochen?", r"monaten?"),
        without=(r"ohne", r"kein\w*", r"ausfall", r"störung", r"weg\b", r"tot\b"),
        since=(
            r"seit (?:montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|gestern"
            r"|letzte\w* \w+|\d+ uhr)",
        ),
        damage=(
            r"kaputt\w*",
            r"zerbrochen",
            r"beschädigt",
            r"zerkratzt\w*",
            r"riss\b",
            r"zerdrückt",
            r"durchnässt",
            r"unter wasser gesetzt",
            r"zerstört",
            r"wasserleitung getroffen",
            r"großen riss",
        ),
        rude=(
            r"unfreundlich",
            r"angeschrien",
            r"aufgelegt",
            r"herablassend",
            r"unverschämt",
            r"beleidig\w*",
            r"wie einen dieb",
            r"seufzt",
            r"augen verdreht",
        ),
        switch=(
            r"wechsle\w*",
            r"kündige\w*",
            r"gekündigt",
            r"konto auf",
            r"löse mein konto",
            r"zur konkurrenz",
            r"nie wieder",
            r"verlängere nicht",
            r"konkurrenz",
            r"(?:zu )?einer anderen (?:bank|airline)",
            r"anbieter wechseln",
        ),
        public=(
            r"presse",
            r"\w*zeitung",
            r"journalist\w*",
            r"blog",
            r"youtube",
            r"tiktok",
            r"ein lied",
            r"petition",
            r"abgeordnet\w*",
            r"öffentlich machen",
        ),
        ordinals=(
            r"zweite[nm]?",
            r"dritte[nm]?",
            r"vierte[nm]?",
            r"fünfte[nm]?",
            r"sechste[nm]?",
            r"\d+\.",
        ),
        contact=(r"mal", r"anruf", r"e-mail", r"mail", r"versuch", r"beschwerde"),
        times=(r"mal",),
        verbs=(r"angerufen", r"geschickt", r"geschrieben", r"gemailt"),
        dismiss=(r"woanders hin",),
        contact_fixed=(
            r"sie schon wieder",
            r"(?:zwei|drei|vier|fünf|sechs|sieben|acht)mal "
            r"(?:angerufen|geschickt|geschrieben)",
            r"\w+ verschiedenen mitarbeitern",
            r"tag in folge",
        ),
    ),
    "es": _Lang(
        legal=(
            r"demand\w*",
            r"abogad\w*",
            r"juicio",
            r"juzgado",
            r"tribunal\w*",
            r"denunci\w*",
            r"\bocu\b",
            r"hoja de reclamaciones",
            r"monitorio",
            r"contracargo",
            r"acciones legales",
            r"consumo\b",
            r"oficina del consumidor",
        ),
        refuse=(r"niega\w*", r"neg\w+", r"se niegan", r"rechaz\w*", r"no me", r"no"),
        refund=(
            r"reembols\w*",
            r"devol\w* (?:el|mi) dinero",
            r"devolv\w*",
            r"indemnizaci\w+",
            r"importe",
            r"la señal",
            r"devuelven",
        ),
        refund_fixed=(r"no es reembolsable", r"solo (?:ofrecen )?un bono"),
        numbers=(
            *_DIGITS,
            r"un[oa]?",
            r"dos",
            r"tres",
            r"cuatro",
            r"cinco",
            r"seis",
            r"siete",
            r"ocho",
            r"nueve",
            r"diez",
            r"trece",
            r"varios",
            r"varias",
        ),
        units=(r"horas?", r"días?", r"semanas?", r"meses", r"mes"),
        without=(r"sin", r"no hay", r"caíd\w+", r"avería", r"metidos"),
        since=(
            r"desde (?:el )?(?:lunes|martes|miércoles|jueves|viernes|sábado|domingo|ayer"
            r"|las \d+)",
        ),
        damage=(
            r"rot[oa]s?\b",
            r"romp\w*",
            r"rayad\w*",
            r"rayó",
            r"dañad\w*",
            r"estropead\w*",
            r"inundad\w*",
            r"empapad\w*",
            r"destroz\w*",
            r"arrancad\w*",
            r"mancha enorme",
            r"puerta rota",
        ),
        rude=(
            r"borde\b",
            r"grit[óa]\w*",
            r"me colg[óa]",
            r"maleducad\w*",
            r"falta de respeto",
            r"me habló fatal",
            r"como a un ladrón",
            r"groser\w*",
            r"muy feo",
        ),
        switch=(
            r"me doy de baja",
            r"darme de baja",
            r"me cambio",
            r"portabilidad",
            r"cancelo",
            r"competencia",
            r"otra compañía",
            r"no vuelvo a",
            r"otra aerolínea",
            r"me voy a la competencia",
        ),
        public=(
            r"prensa",
            r"periódico",
            r"tele local",
            r"televisión",
            r"periodista\w*",
            r"blog",
            r"youtube",
            r"tiktok",
            r"canción",
            r"firmas",
            r"change\.org",
            r"redes sociales",
        ),
        ordinals=(r"segund[ao]", r"tercer[ao]?", r"cuart[ao]", r"quint[ao]", r"sext[ao]"),
        contact=(r"vez", r"llamada", r"correo", r"email", r"intento", r"reclamación"),
        times=(r"veces",),
        verbs=(r"llamado", r"llamo", r"enviado", r"escrito", r"reclamado"),
        dismiss=(r"no vuelva",),
        contact_fixed=(r"usted otra vez", r"\w+ personas distintas", r"llamando todos los días"),
    ),
    "pl": _Lang(
        legal=(
            r"prawni\w+",
            r"adwokat\w*",
            r"pozew",
            r"pozw\w+",
            r"sąd(?:u|zie|em|owi)?\b",
            r"uokik",
            r"rzecznik\w*",
            r"inspekcj\w+ handlow\w+",
            r"chargeback",
            r"kroki prawne",
        ),
        refuse=(r"odmaw\w*", r"odmówi\w*", r"nie chcą", r"nie", r"brak\w*"),
        refund=(r"zwrot\w*", r"odszkodowan\w*", r"oddać", r"oddadzą", r"pieniędzy", r"zaliczki"),
        refund_fixed=(r"bezzwrotn\w*", r"tylko voucher"),
        numbers=(
            *_DIGITS,
            r"jed\w+",
            r"dwa",
            r"dwie",
            r"trzy",
            r"cztery",
            r"pięć",
            r"sześć",
            r"siedem",
            r"osiem",
            r"dziewięć",
            r"dziesięć",
            r"trzynaście",
            r"kilka",
        ),
        units=(r"godzin\w*", r"dni", r"dzień", r"tygodni\w*", r"tydzień", r"miesiąc\w*"),
        without=(r"bez", r"nie ma", r"nie działa", r"awari\w+"),
        since=(
            r"od (?:poniedziałku|wtorku|środy|czwartku|piątku|soboty|niedzieli|wczoraj"
            r"|\d+ rano)",
        ),
        damage=(
            r"zniszcz\w*",
            r"uszkodz\w*",
            r"pęknięt\w*",
            r"porysowan\w*",
            r"stłuczon\w*",
            r"zalał\w*",
            r"rozdarci\w*",
            r"przewierci\w*",
            r"zbit\w*",
            r"mokre",
        ),
        rude=(
            r"nakrzycza\w*",
            r"rozłączy\w*",
            r"niegrzeczn\w*",
            r"protekcjonaln\w*",
            r"chamstw\w*",
            r"chamsk\w*",
            r"opryskliw\w*",
            r"jak złodzieja",
            r"przewróciła oczami",
            r"wzdycha",
            r"nie histeryzować",
        ),
        switch=(
            r"rezygnuj\w*",
            r"zmieniam operatora",
            r"przenoszę",
            r"konkurencj\w*",
            r"zamykam konto",
            r"nigdy więcej",
            r"nie przedłużam",
            r"wypowiedzia\w*",
            r"anulowa\w* (?:\w+ )?subskrypcj\w*",
            r"innych? (?:bank|lini)\w*",
        ),
        public=(
            r"medi\w+",
            r"gazet\w*",
            r"dziennikar\w*",
            r"blog\w*",
            r"youtube",
            r"tiktok",
            r"piosenk\w*",
            r"petycj\w*",
            r"posła",
        ),
        ordinals=(r"drug\w+", r"trzeci\w*", r"czwart\w+", r"piąt\w+", r"szóst\w+"),
        contact=(r"raz", r"mail", r"telefon", r"zgłoszeni\w*", r"reklamacj\w*"),
        times=(r"razy",),
        verbs=(r"dzwoni\w*", r"wysła\w*", r"pisa\w*"),
        dismiss=(r"iść gdzie indziej",),
        outage_fixed=(r"od (?:tygodnia|miesiąca|\w+ dni) (?:nie ma|nie mamy|bez)",),
        contact_fixed=(
            r"znowu pan",
            r"znowu pani",
            r"\w+ różnym konsultantom",
            r"dzień z rzędu",
            r"dzwoniłe\w* \w+ razy",
        ),
    ),
    "ru": _Lang(
        legal=(
            r"суд\w*",
            r"юрист\w*",
            r"адвокат\w*",
            r"\bиск\w*",
            r"роспотребнадзор\w*",
            r"прокуратур\w*",
            r"омбудсмен\w*",
            r"исковое",
        ),
        refuse=(r"отказ\w*", r"не возвраща\w*", r"не", r"нет"),
        refund=(r"возврат\w*", r"вернуть", r"компенсаци\w*", r"деньги", r"предоплату"),
        refund_fixed=(r"не возвращается", r"только ваучер"),
        numbers=(
            *_DIGITS,
            r"од\w+",
            r"два",
            r"две",
            r"три",
            r"четыре",
            r"пять",
            r"шесть",
            r"семь",
            r"восемь",
            r"девять",
            r"десять",
            r"тринадцать",
            r"несколько",
        ),
        units=(r"час\w*", r"дн\w+", r"день", r"недел\w+", r"месяц\w*", r"сутки", r"суток"),
        without=(r"без", r"нет\b", r"не работает", r"авари\w+"),
        since=(
            r"с (?:понедельника|вторника|среды|четверга|пятницы|субботы|воскресенья"
            r"|вчерашнего дня|\d+ утра|прошлой \w+)",
        ),
        damage=(
            r"разби\w*",
            r"сломал\w*",
            r"поцарапан\w*",
            r"треснул\w*",
            r"поврежд\w*",
            r"затопил\w*",
            r"промокл\w*",
            r"испорчен\w*",
            r"дыр\w+",
            r"просверлил\w*",
        ),
        rude=(
            r"наорал\w*",
            r"нахамил\w*",
            r"трубку",
            r"хамств\w*",
            r"груб\w*",
            r"снисходительн\w*",
            r"как с вором",
            r"закатил\w* глаза",
            r"вздыхает",
        ),
        switch=(
            r"ухожу",
            r"перехожу",
            r"расторг\w*",
            r"отменил\w* подписку",
            r"к другому (?:оператору|провайдеру)",
            r"конкурент\w*",
            r"закрываю сч[её]т",
            r"больше никогда",
            r"продлевать не буду",
            r"в другой банк",
        ),
        public=(
            r"журналист\w*",
            r"сми\b",
            r"газет\w*",
            r"блог\w*",
            r"youtube",
            r"tiktok",
            r"ролик\w*",
            r"клип\w*",
            r"петици\w*",
            r"депутат\w*",
        ),
        ordinals=(r"втор\w+", r"трет\w+", r"четв[её]рт\w+", r"пят\w+", r"шест\w+"),
        contact=(r"раз\b", r"письмо", r"звон\w+", r"обращени\w*"),
        times=(r"раз", r"раза"),
        verbs=(r"звони\w*", r"отправил\w*", r"писал\w*"),
        dismiss=(r"идите в другое место",),
        outage_fixed=(r"(?:неделю|месяц|сутки) (?:нет|без)",),
        contact_fixed=(r"опять вы", r"\w+ разным операторам", r"день подряд", r"звонил\w* \w+ раз"),
    ),
    "fr": _Lang(
        legal=(
            r"avocat\w*",
            r"tribunal",
            r"poursui\w+",
            r"en justice",
            r"plainte",
            r"médiateur",
            r"dgccrf",
            r"répression des fraudes",
            r"injonction de payer",
            r"opposition bancaire",
            r"procès",
            r"service juridique",
            r"saisis le",
        ),
        refuse=(r"refus\w*", r"pas de", r"ne \w+ pas", r"aucun"),
        refund=(r"rembours\w*", r"indemnisation", r"l'acompte", r"mon argent"),
        refund_fixed=(r"non remboursables?", r"juste un avoir"),
        numbers=(
            *_DIGITS,
            r"un\w*",
            r"deux",
            r"trois",
            r"quatre",
            r"cinq",
            r"six",
            r"sept",
            r"huit",
            r"neuf",
            r"dix",
            r"treize",
            r"plusieurs",
        ),
        units=(r"heures?", r"h\b", r"jours?", r"semaines?", r"mois"),
        without=(
            r"sans",
            r"pas d'\w+",
            r"plus d'\w+",
            r"plus de",
            r"coupé\w*",
            r"panne",
            r"bloqués",
        ),
        since=(
            r"depuis (?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|hier"
            r"|\d+ ?h)",
        ),
        damage=(
            r"cassé\w*",
            r"fissuré\w*",
            r"rayé\w*",
            r"abîmé\w*",
            r"endommagé\w*",
            r"inondé\w*",
            r"trempé\w*",
            r"déchirure",
            r"fichu\w*",
            r"percé\w*",
        ),
        rude=(
            r"impoli\w*",
            r"a crié",
            r"raccroché",
            r"condescendant\w*",
            r"insultant\w*",
            r"méprisant\w*",
            r"levé les yeux au ciel",
            r"comme un voleur",
            r"soupire",
            r"malpoli\w*",
        ),
        switch=(
            r"je quitte",
            r"résili\w*",
            r"portabilité",
            r"la concurrence",
            r"un concurrent",
            r"je change d'opérateur",
            r"je passe à",
            r"plus jamais",
            r"clôture mon compte",
            r"ne le renouvelle pas",
            r"une autre banque",
        ),
        public=(
            r"presse",
            r"journal\b",
            r"journaliste\w*",
            r"blog",
            r"youtube",
            r"tiktok",
            r"chanson",
            r"pétition",
            r"député",
            r"médias?\b",
            r"publicité gratuite",
        ),
        ordinals=(r"deuxième", r"troisième", r"quatrième", r"cinquième", r"sixième"),
        contact=(r"fois", r"appel", r"mail", r"e-mail", r"relance", r"réclamation"),
        times=(r"fois",),
        verbs=(r"appelé", r"envoyé", r"écrit", r"relancé"),
        dismiss=(r"allez ailleurs",),
        contact_fixed=(r"encore vous", r"\w+ conseillers différents", r"jours? d'affilée"),
    ),
    "it": _Lang(
        legal=(
            r"avvocat\w*",
            r"(?:faccio|fare|fargli) causa",
            r"causa legale",
            r"tribunale",
            r"denunci\w*",
            r"reclamo all'agcom",
            r"segnalat\w* all'\w+",
            r"decreto ingiuntivo",
            r"associazione dei consumatori",
            r"chargeback",
            r"ufficio legale",
        ),
        refuse=(r"rifiut\w*", r"neg\w+", r"niente", r"non mi", r"non"),
        refund=(r"rimbors\w*", r"risarciment\w*", r"restituiscono", r"l'acconto", r"soldi"),
        refund_fixed=(r"non (?:sono )?rimborsabil\w*", r"solo un voucher"),
        numbers=(
            *_DIGITS,
            r"un\w*",
            r"due",
            r"tre",
            r"quattro",
            r"cinque",
            r"sei",
            r"sette",
            r"otto",
            r"nove",
            r"dieci",
            r"tredici",
            r"diversi",
            r"alcuni",
        ),
        units=(r"ore", r"ora", r"giorni", r"giorno", r"settiman\w", r"mesi", r"mese"),
        without=(r"senza", r"senz'\w+", r"assente", r"guasto", r"chiusi"),
        since=(
            r"da (?:lunedì|martedì|mercoledì|giovedì|venerdì|sabato|domenica|ieri"
            r"|stamattina)",
            r"dalle \d+",
        ),
        damage=(
            r"rott\w*",
            r"distrutt\w*",
            r"graffiat\w*",
            r"crepat\w*",
            r"danneggiat\w*",
            r"allagat\w*",
            r"fradic\w*",
            r"rovinat\w*",
            r"strappo",
            r"forato",
        ),
        rude=(
            r"maleducat\w*",
            r"urlato",
            r"riattaccato",
            r"sprezzante",
            r"scortes\w*",
            r"come un ladro",
            r"alzato gli occhi",
            r"sbuffa",
        ),
        switch=(
            r"lascio",
            r"disdic\w*",
            r"disdett\w*",
            r"cambio operatore",
            r"passo a",
            r"portabilità",
            r"concorrenza",
            r"mai più",
            r"chiudo il conto",
            r"non lo rinnovo",
            r"un'altra banca",
        ),
        public=(
            r"giornal[ei]\b",
            r"giornalist\w*",
            r"stampa",
            r"blog",
            r"youtube",
            r"tiktok",
            r"canzone",
            r"petizione",
            r"parlamentare",
        ),
        ordinals=(r"second[ao]", r"terz[ao]", r"quart[ao]", r"quint[ao]", r"sest[ao]"),
        contact=(r"volta", r"chiamata", r"mail", r"e-mail", r"sollecito", r"reclamo"),
        times=(r"volte",),
        verbs=(r"chiamato", r"mandato", r"scritto", r"inviato"),
        dismiss=(r"vada altrove",),
        contact_fixed=(r"ancora lei", r"\w+ operatori diversi", r"giorno di fila"),
    ),
    "pt": _Lang(
        legal=(
            r"justiça",
            r"advogad\w*",
            r"processar",
            r"processo",
            r"procon",
            r"tribunal",
            r"juizado",
            r"reclame aqui",
            r"ouvidoria",
            r"chargeback",
            r"jurídico",
        ),
        refuse=(r"recus\w*", r"neg\w+", r"não"),
        refund=(
            r"reembols\w*",
            r"indeniza\w*",
            r"devolv\w*",
            r"estorno",
            r"o sinal",
            r"meu dinheiro",
        ),
        refund_fixed=(r"não é reembolsável", r"só um voucher"),
        numbers=(
            *_DIGITS,
            r"uma?",
            r"dois",
            r"duas",
            r"três",
            r"quatro",
            r"cinco",
            r"seis",
            r"sete",
            r"oito",
            r"nove",
            r"dez",
            r"treze",
            r"vários",
            r"várias",
        ),
        units=(r"horas?", r"h\b", r"dias?", r"semanas?", r"meses", r"mês"),
        without=(r"sem", r"caiu", r"fora do ar", r"presos"),
        since=(
            r"desde (?:segunda|terça|quarta|quinta|sexta|sábado|domingo|ontem"
            r"|as \d+ ?h|cedo)",
        ),
        damage=(
            r"quebr\w*",
            r"rachad\w*",
            r"rachou",
            r"riscad\w*",
            r"danificad\w*",
            r"alagou",
            r"encharcad\w*",
            r"estragad\w*",
            r"rasgo",
            r"furou",
        ),
        rude=(
            r"grosseir\w*",
            r"grosseria",
            r"gritou",
            r"desligou na (?:minha )?cara",
            r"mal[- ]educad\w*",
            r"revirou os olhos",
            r"como ladrão",
            r"suspira",
        ),
        switch=(
            r"cancel(?:ei|ar|o) (?:a |o |minha |meu )?(?:assinatura|conta|contrato|plano|academia)",
            r"portabilidade",
            r"trocar de operadora",
            r"para outra operadora",
            r"concorrência",
            r"nunca mais",
            r"encerrar minha conta",
            r"não vou renovar",
            r"saindo da",
            r"outra companhia",
            r"outro banco",
        ),
        public=(
            r"imprensa",
            r"jornal",
            r"blog",
            r"youtube",
            r"tiktok",
            r"música",
            r"abaixo-assinado",
            r"deputado",
        ),
        ordinals=(r"segund[ao]", r"terceir[ao]", r"quart[ao]", r"quint[ao]", r"sext[ao]"),
        contact=(r"vez", r"ligação", r"e-mail", r"mensagem", r"reclamação"),
        times=(r"vezes",),
        verbs=(r"liguei", r"mandei", r"enviei", r"escrevi"),
        dismiss=(r"vá para outro lugar",),
        contact_fixed=(r"você de novo", r"\w+ atendentes diferentes", r"dia seguido"),
    ),
}


# "arrived in two days, no questions asked" praises speed; it is not an outage.
_SPEED_PREFIX = re.compile(
    r"\b(?:in|within|nach|innerhalb|en|w|we|за|через|sous|entro|em)\s+$", re.IGNORECASE
)


def _compile(spec: _Lang) -> dict[str, re.Pattern[str]]:
    num, unit, without = _alt(spec.numbers), _alt(spec.units), _alt(spec.without)
    ordinal = _alt(spec.ordinals)
    many = _alt(spec.numbers[:1] + spec.numbers[2:])  # two or more
    outage = (
        rf"(?:\b{without}{_W % 6}{num}\s*{unit}\b"
        rf"|\b{num}\s*{unit}\b{_W % 4}{without}"
        rf"|\b{ordinal}\s+{unit}{_W % 3}{without}"
        rf"|\b{without}{_W % 5}{_alt(spec.since)}"
        rf"|\b{_alt(spec.since)}{_W % 5}{without}"
        rf"|\b{unit}\s+\d+{_W % 2}{without}"
        + (rf"|\b{_alt(spec.outage_fixed)}" if spec.outage_fixed else "")
        + ")"
    )
    refund = (
        rf"\b{_alt(spec.refuse)}{_W % 5}{_alt(spec.refund)}"
        rf"|\b{_alt(spec.refund)}{_W % 3}{_alt(spec.refuse)}\b"
        rf"|\b{_alt(spec.refund_fixed)}"
    )
    repeat = (
        rf"\b{ordinal}\s+{_alt(spec.contact)}"
        rf"|\b{_alt(spec.verbs)}{_W % 4}{many}\s*{_alt(spec.times)}\b"
        rf"|\b{many}\s*{_alt(spec.times)}{_W % 2}{_alt(spec.verbs)}"
        rf"|\b{_alt(spec.contact_fixed)}"
    )
    patterns = {
        "legal_threat": rf"\b{_alt(spec.legal)}",
        "refund_refused": refund,
        "outage_duration": outage,
        "damaged_property": rf"\b{_alt(spec.damage)}",
        "rude_staff": rf"\b{_alt(spec.rude + spec.dismiss)}",
        "switching": rf"\b{_alt(spec.switch)}",
        "going_public": rf"\b{_alt(spec.public)}",
        "repeat_contact": repeat,
    }
    return {k: re.compile(v, re.IGNORECASE) for k, v in patterns.items()}


class CueMatcher:
    """Compiled cue patterns for all supported languages (build once, reuse)."""

    def __init__(self) -> None:
        self._patterns = {lang: _compile(spec) for lang, spec in _LANGS.items()}

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages with their own lexicon."""
        return tuple(self._patterns)

    def find(self, text: str, lang: str | None = None) -> tuple[Cue, ...]:
        """Cues in ``text``: one per cue name (first match), ordered by position.

        Known languages are matched with their own lexicon plus English (posts mix in
        English often); unknown or missing languages are matched with every lexicon. Only
        the first :data:`MAX_CUE_CHARS` characters are searched.
        """
        if lang in self._patterns:
            langs = [lang] if lang == "en" else [lang, "en"]
        else:
            langs = list(self._patterns)
        found: dict[str, Cue] = {}
        text = text[:MAX_CUE_CHARS]
        for code in langs:
            for name, pattern in self._patterns[code].items():
                m = pattern.search(text)
                if m and name == "outage_duration" and _SPEED_PREFIX.search(text[: m.start()]):
                    m = None
                if m and (name not in found or m.start() < found[name].start):
                    found[name] = Cue(name, m.group(0), m.start(), m.end())
        return tuple(sorted(found.values(), key=lambda c: (c.start, c.name)))


def find_cues(text: str, lang: str | None = None) -> tuple[Cue, ...]:
    """Convenience wrapper: build a :class:`CueMatcher` and match one text."""
    return CueMatcher().find(text, lang)
