"""Server-side SVG charts: no JavaScript, no build step, readable without colour.

Every chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>``; series are told apart
by colour *and* by marker shape and dash pattern, and every label is escaped text. Pages show the
same numbers in a table next to the chart for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from markupsafe import Markup

__all__ = ["Band", "Series", "bar_chart", "line_chart"]

# Colours with at least 4.5:1 contrast against white.
PALETTE = ("#1f5fbf", "#b3261e", "#2e6b30", "#6a3d9a", "#8a4b00", "#00695c", "#5c5c5c")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 4", "1 2", "10 4")
WIDTH, HEIGHT = 720, 260
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 28, 44


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: Sequence[tuple[datetime, float]]


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded time span on a chart, e.g. a burst of mentions."""

    start: datetime
    end: datetime
    label: str = ""


@dataclass(frozen=True, slots=True)
class _Scale:
    lo: float
    hi: float
    out_lo: float
    out_hi: float
    extra: dict[str, float] = field(default_factory=dict)

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return (self.out_lo + self.out_hi) / 2
        return self.out_lo + (value - self.lo) / (self.hi - self.lo) * (self.out_hi - self.out_lo)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _time_label(moment: datetime, span_seconds: float) -> str:
    if span_seconds <= 2 * 86400:
        return moment.strftime("%d %b %H:%M")
    return moment.strftime("%d %b")


def _empty(title: str, message: str) -> Markup:
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} 80" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(message)}</desc>"
        f'<text x="12" y="44" class="chart-empty">{escape(message)}</text></svg>'
    )


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    y_label: str = "",
    bands: Sequence[Band] = (),
    y_max: float | None = None,
    percent: bool = False,
) -> Markup:
    """A time-series line chart with optional shaded bands (bursts) as SVG markup."""
    points = [p for s in series for p in s.points]
    if not points:
        return _empty(title, "No data for this period yet.")
    times = (
        [p[0].timestamp() for p in points]
        + [b.start.timestamp() for b in bands]
        + [b.end.timestamp() for b in bands]
    )
    t0, t1 = min(times), max(times)
    top = y_max if y_max is not None else _nice_max(max(p[1] for p in points))
    x = _Scale(t0, t1, PAD_L, WIDTH - PAD_R)
    y = _Scale(0, top, HEIGHT - PAD_B, PAD_T)
    legend = ", ".join(s.name for s in series)
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(f'{title}: {legend}; {len(points)} points')}"
        f"{escape(f'; {len(bands)} bursts marked' if bands else '')}</desc>",
    ]
    for band in bands:
        x0, x1 = x(band.start.timestamp()), x(band.end.timestamp())
        out.append(
            f'<rect class="band" x="{x0:.1f}" y="{PAD_T}" width="{max(x1 - x0, 3):.1f}" '
            f'height="{HEIGHT - PAD_T - PAD_B}" fill="#f2c94c" fill-opacity="0.35" stroke="#8a6d00">'
            f"<title>{escape(band.label or 'burst')}</title></rect>"
        )
    for i in range(5):
        value = top * i / 4
        yy = y(value)
        text = f"{value * 100:.0f}%" if percent else _fmt(value)
        out.append(
            f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#d0d0d0"/>'
            f'<text x="{PAD_L - 6}" y="{yy + 4:.1f}" text-anchor="end" class="axis">{escape(text)}</text>'
        )
    span = t1 - t0
    for i in range(5):
        tt = t0 + span * i / 4 if span else t0
        moment = datetime.fromtimestamp(tt, tz=points[0][0].tzinfo)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        out.append(
            f'<text x="{x(tt):.1f}" y="{HEIGHT - PAD_B + 18}" text-anchor="{anchor}" class="axis">'
            f"{escape(_time_label(moment, span))}</text>"
        )
    if y_label:
        out.append(f'<text x="14" y="{PAD_T - 10}" class="axis">{escape(y_label)}</text>')
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        dash = DASHES[index % len(DASHES)]
        ordered = sorted(item.points)
        path = " ".join(
            f"{'M' if n == 0 else 'L'}{x(t.timestamp()):.1f},{y(v):.1f}"
            for n, (t, v) in enumerate(ordered)
        )
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr}>'
            f"<title>{escape(item.name)}</title></path>"
        )
        for t, v in ordered[-60:]:
            label = (
                f"{item.name} {t.strftime('%Y-%m-%d %H:%M')}: {v * 100:.0f}%"
                if percent
                else (f"{item.name} {t.strftime('%Y-%m-%d %H:%M')}: {_fmt(v)}")
            )
            out.append(
                f'<circle cx="{x(t.timestamp()):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(label)}</title></circle>"
            )
    lx = PAD_L
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        dash = DASHES[index % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{lx}" x2="{lx + 22}" y1="{HEIGHT - 10}" y2="{HEIGHT - 10}" '
            f'stroke="{colour}" stroke-width="3"{dash_attr}/>'
            f'<text x="{lx + 26}" y="{HEIGHT - 6}" class="legend">{escape(item.name)}</text>'
        )
        lx += 40 + 7 * len(item.name)
    if bands:
        out.append(
            f'<rect x="{lx}" y="{HEIGHT - 16}" width="14" height="12" fill="#f2c94c" '
            f'fill-opacity="0.35" stroke="#8a6d00"/>'
            f'<text x="{lx + 18}" y="{HEIGHT - 6}" class="legend">burst</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def bar_chart(title: str, items: Sequence[tuple[str, float]], *, percent: bool = True) -> Markup:
    """Horizontal bars, e.g. share of voice per brand."""
    if not items:
        return _empty(title, "No data for this period yet.")
    row = 30
    height = PAD_T + row * len(items) + 12
    label_w = 170
    total = max(v for _, v in items) or 1.0
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        "<desc>"
        + escape(
            "; ".join(
                f"{name}: {v * 100:.1f}%" if percent else f"{name}: {_fmt(v)}" for name, v in items
            )
        )
        + "</desc>",
    ]
    for index, (name, value) in enumerate(items):
        yy = PAD_T + index * row
        width = (WIDTH - label_w - 80) * value / total
        colour = PALETTE[index % len(PALETTE)]
        text = f"{value * 100:.1f}%" if percent else _fmt(value)
        out.append(
            f'<text x="{label_w - 8}" y="{yy + 19}" text-anchor="end" class="legend">'
            f"{escape(name[:28])}</text>"
            f'<rect x="{label_w}" y="{yy + 4}" width="{max(width, 1):.1f}" height="20" fill="{colour}">'
            f"<title>{escape(name)}: {escape(text)}</title></rect>"
            f'<text x="{label_w + width + 6:.1f}" y="{yy + 19}" class="axis">{escape(text)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))
