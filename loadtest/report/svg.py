"""Static SVG line charts for the HTML report: no JavaScript, so the file opens offline
and renders the same in every browser and in a screenshot. Pure: data in, text out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Colour-blind-safe palette (Okabe-Ito), one colour per target.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000")
DASHES = {"p50": "2,3", "p95": "", "p99": "7,3"}
# Past the palette, a target's line keeps a colour and gets a dash of its own, so the
# ninth target is not drawn as the first.
TARGET_DASHES = ("", "6,3", "2,2", "8,2,2,2")


def target_style(i: int) -> tuple[str, str]:
    """(colour, dash) of the I-th target's lines: distinct for 32 targets."""
    return PALETTE[i % len(PALETTE)], TARGET_DASHES[(i // len(PALETTE)) % len(TARGET_DASHES)]


W, H = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 150, 16, 40


@dataclass(frozen=True)
class Series:
    """One line: its legend label, points (x, y), colour and dash pattern."""

    label: str
    points: Sequence[tuple[float, float]]
    color: str
    dash: str = ""
    marks: bool = False  # a dot at each point (few points that each mean something)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - step * 1e-9:  # the last tick covers hi: no line leaves the plot
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.2f}".rstrip("0").rstrip(".")


def line_chart(
    title: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    x_ticks: Sequence[tuple[float, str]] | None = None,
) -> str:
    """An SVG line chart. X_TICKS gives fixed (position, label) ticks, else round ones."""
    pts = [p for s in series for p in s.points]
    if not pts:
        return (
            f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">'
            f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="empty">'
            f"{escape(title)}: no data</text></svg>"
        )
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    if x_ticks:  # fixed ticks: keep those the data reaches, and one more
        reach = [t for t in x_ticks if t[0] < max(xs)]
        x_ticks = x_ticks[: len(reach) + 1] if len(reach) < len(x_ticks) else x_ticks
    x_lo, x_hi = (x_ticks[0][0], x_ticks[-1][0]) if x_ticks else (min(xs), max(xs))
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    y_ticks = _nice_ticks(0.0, max(ys) * 1.05 if max(ys) > 0 else 1.0)
    y_hi = y_ticks[-1]
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * pw

    def sy(y: float) -> float:
        return TOP + ph - (y / y_hi) * ph

    out = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="11" class="title">{escape(title)}</text>',
    ]
    for t in y_ticks:
        y = sy(t)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    ticks = x_ticks or [(t, _fmt(t)) for t in _nice_ticks(x_lo, x_hi) if x_lo <= t <= x_hi]
    for pos, label in ticks:
        x = sx(pos)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + ph}" class="grid"/>')
        out.append(
            f'<text x="{x:.1f}" y="{TOP + ph + 16}" text-anchor="middle">{escape(label)}</text>'
        )
    out.append(
        f'<text x="{LEFT + pw / 2}" y="{H - 4}" text-anchor="middle" class="axis">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text x="14" y="{TOP + ph / 2}" text-anchor="middle" class="axis" '
        f'transform="rotate(-90 14 {TOP + ph / 2})">{escape(y_label)}</text>'
    )
    for i, s in enumerate(series):
        if not s.points:
            continue
        path = " ".join(
            f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(s.points)
        )
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        out.append(f'<path d="{path}" stroke="{s.color}" class="series"{dash}/>')
        if s.marks:
            out += [
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{s.color}"/>'
                for x, y in s.points
            ]
        ly = TOP + 12 + i * 16
        lx = LEFT + pw + 10
        out.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{ly - 4}" y2="{ly - 4}" stroke="{s.color}" '
            f'class="series"{dash}/>'
            f'<text x="{lx + 22}" y="{ly}">{escape(s.label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


# Percentile axis as HdrHistogram plots it: x = log10(1 / (1 - p)).
PERCENTILE_TICKS = [
    (0.0, "0%"),
    (1.0, "90%"),
    (2.0, "99%"),
    (3.0, "99.9%"),
    (4.0, "99.99%"),
    (5.0, "99.999%"),
]


def percentile_x(p: float) -> float:
    """Position of percentile P (0..100) on the 1/(1-p) log axis."""
    p = min(p, 99.9999)
    return math.log10(1.0 / (1.0 - p / 100.0))
