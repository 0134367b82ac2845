"""The reports' charts, drawn once on the server as PNG (matplotlib, Agg backend: no display, thread-safe per
figure) and stored with the report, so the mail (inline `cid:` images), the PDF and the web app show the same
pictures. PNG rather than SVG because mail clients (Gmail, Outlook) do not show SVG images.

Every function takes the figures of `reporting.figures` and returns `{name: png_bytes}`. matplotlib is imported
when the first chart is drawn (it takes seconds to import on a busy machine), so every other command and the API
start without it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TARGET_COLOUR = "#E94560"
OK_COLOUR = "#2E7D32"
MISS_COLOUR = "#C62828"
PALETTE = ["#1A1A2E", "#E94560", "#0F4C75", "#F5A623", "#3282B8", "#6A994E", "#8E7DBE"]


def _new_figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # No software/date metadata: the same figures give the same bytes.
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def sla_chart(figures: dict[str, Any]) -> bytes:
    """Bars: % within 2 minutes per workflow, green at or above the target, red below; the target as a line."""
    rows = [w for w in figures["workflows"] if w["runs"]]
    fig = _new_figure(7, 0.5 + 0.55 * max(len(rows), 1))
    ax = fig.subplots()
    names = [w["workflow"] for w in rows]
    values = [w["pct_within_2_minutes"] or 0.0 for w in rows]
    ax.barh(names, values, color=[OK_COLOUR if w["meets_target"] else MISS_COLOUR for w in rows])
    ax.axvline(figures["target_pct"], color=TARGET_COLOUR, linestyle="--", linewidth=1.5,
               label=f"target {figures['target_pct']:g}%")
    for y, value in enumerate(values):
        ax.text(min(value, 100) + 1, y, f"{value:.1f}%", va="center", fontsize=8)
    ax.set_xlim(0, 110)
    ax.invert_yaxis()
    ax.set_xlabel("% of finished runs completed within 2 minutes")
    ax.set_title(f"Automation SLA {figures['period']}")
    ax.legend(loc="lower right", fontsize=8)
    if not rows:
        ax.text(55, 0, "no finished runs this week", ha="center", va="center")
    return _png(fig)


def outcomes_chart(figures: dict[str, Any]) -> bytes:
    """Stacked bars per workflow: succeeded, failed, dead runs."""
    rows = [w for w in figures["workflows"] if w["runs"]]
    fig = _new_figure(7, 0.5 + 0.55 * max(len(rows), 1))
    ax = fig.subplots()
    names = [w["workflow"] for w in rows]
    left = [0] * len(rows)
    for key, colour in (("succeeded", OK_COLOUR), ("failed", "#F5A623"), ("dead", MISS_COLOUR)):
        values = [w[key] for w in rows]
        ax.barh(names, values, left=left, color=colour, label=key)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("runs")
    ax.set_title(f"Runs by outcome {figures['period']}")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _trend(figures: dict[str, Any], key: str, title: str, ylabel: str, target: float | None = None) -> bytes:
    fig = _new_figure(7, 3.2)
    ax = fig.subplots()
    weeks = figures["weeks"]
    for n, trend in enumerate(figures["trends"]):
        points = {w["week"]: w[key] for w in trend["weeks"]}
        xs = [i for i, week in enumerate(weeks) if points.get(week) is not None]
        ax.plot(xs, [points[weeks[i]] for i in xs], marker="o", color=PALETTE[n % len(PALETTE)],
                label=trend["workflow"])
    if target is not None:
        ax.axhline(target, color=TARGET_COLOUR, linestyle="--", linewidth=1.2, label=f"target {target:g}%")
    ax.set_xticks(range(len(weeks)), weeks, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if figures["trends"] or target is not None:
        ax.legend(fontsize=8)
    return _png(fig)


def weekly_charts(figures: dict[str, Any]) -> dict[str, bytes]:
    return {"sla": sla_chart(figures), "outcomes": outcomes_chart(figures)}


def retro_charts(figures: dict[str, Any]) -> dict[str, bytes]:
    return {
        "volume": _trend(figures, "runs", f"Runs per week {figures['period']}", "finished runs"),
        "failure_rate": _trend(figures, "failure_rate_pct", "Failure rate per week", "% failed or dead"),
        "sla": _trend(figures, "pct_within_2_minutes", "Within 2 minutes per week", "%", figures["target_pct"]),
    }
