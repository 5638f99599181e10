"""Small inline SVG charts, drawn on the server: no chart library, no script, no style attribute
(the Content-Security-Policy allows neither inline scripts nor inline styles). Colours come from
classes in static/portal/portal.css. Each chart is an image with a text alternative that says
what it shows, and the page prints the figures beside it."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 140, 32
GAP = 2


def bars_svg(values: Sequence[float | None], *, label: str) -> SafeString:
    """A bar per value (None: no bar), scaled to the largest; `label` is its text alternative."""
    count = max(len(values), 1)
    top = max((value for value in values if value), default=0) or 1
    width = (WIDTH - GAP * (count - 1)) / count
    bars = []
    for index, value in enumerate(values):
        if not value:
            continue
        height = max(1.0, value / top * (HEIGHT - 1))
        bars.append(
            f'<rect class="portal-chart__bar" x="{index * (width + GAP):.1f}" y="{HEIGHT - height:.1f}"'
            f' width="{width:.1f}" height="{height:.1f}"/>'
        )
    baseline = (
        f'<line class="portal-chart__axis" x1="0" y1="{HEIGHT - 0.5}" x2="{WIDTH}" y2="{HEIGHT - 0.5}"/>'
    )
    return _svg(label, baseline + "".join(bars))


def line_svg(values: Sequence[float | None], *, label: str) -> SafeString:
    """A line through the values (None: a gap), scaled to the largest, with a dot on each point."""
    count = max(len(values), 1)
    top = max((value for value in values if value is not None), default=0) or 1
    step = WIDTH / max(count - 1, 1)
    segments: list[list[str]] = [[]]
    dots = []
    for index, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        x, y = index * step, (HEIGHT - 3) - value / top * (HEIGHT - 6)
        segments[-1].append(f"{x:.1f},{y:.1f}")
        dots.append(f'<circle class="portal-chart__dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>')
    lines = "".join(
        f'<polyline class="portal-chart__line" points="{" ".join(points)}"/>'
        for points in segments
        if len(points) > 1
    )
    return _svg(label, lines + "".join(dots))


def _svg(label: str, body: str) -> SafeString:
    return format_html(
        '<svg class="portal-chart" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">'
        "<title>{}</title>{}</svg>",
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        label,
        escape(label),
        mark_safe(body),  # noqa: S308 - built above from numbers and fixed markup only
    )
