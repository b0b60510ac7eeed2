"""Server-side SVG charts: well-formed, labelled, escaped, and honest about empty data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from monitor.web.charts import Band, Series, bar_chart, line_chart

T0 = datetime(2024, 5, 1, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def test_line_chart_is_valid_svg_with_series_points_and_bands() -> None:
    series = [
        Series("Aurora <Air>", [(T0 + timedelta(days=d), float(d * 3)) for d in range(5)]),
        Series("Nimbus", [(T0 + timedelta(days=d), 2.0) for d in range(5)]),
    ]
    svg = line_chart(
        "Mentions", series, bands=[Band(T0 + timedelta(days=1), T0 + timedelta(days=2), "spike")]
    )
    root = ET.fromstring(str(svg))
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Mentions"
    assert len(root.findall(f"{SVG}path")) == 2
    assert len(root.findall(f"{SVG}circle")) == 10
    assert len(root.findall(f"{SVG}rect[@class='band']")) == 1
    assert "Aurora &lt;Air&gt;" in str(svg)  # labels are escaped text
    # The highest point sits at the top of the plot, the lowest at the bottom.
    ys = sorted(float(c.get("cy")) for c in root.findall(f"{SVG}circle"))
    assert ys[0] < ys[-1]


def test_empty_chart_says_so() -> None:
    svg = line_chart("Nothing", [Series("a", [])])
    assert "No data" in svg
    ET.fromstring(str(svg))


def test_bar_chart_shares() -> None:
    svg = bar_chart("Share of voice", [("Aurora", 0.75), ("Nimbus", 0.25)])
    root = ET.fromstring(str(svg))
    widths = [float(r.get("width")) for r in root.findall(f"{SVG}rect")]
    assert abs(widths[0] - 3 * widths[1]) < 0.5
    assert "75.0%" in str(svg)
