"""HTML of the reports from their figures and charts (Jinja2, autoescaped: workflow names, error messages and
feedback text are data). One template serves the mail (images as `cid:` references to inline parts) and the
archive, the PDF and the web app (images as `data:` URIs, a self-contained page)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_env = Environment(loader=PackageLoader("rentguy_crm.reporting", "templates"), undefined=StrictUndefined,
                   autoescape=select_autoescape(default=True, default_for_string=True))

LABELS: dict[str, dict[str, str]] = {
    "nl": {
        "automation_sla": "Automation SLA", "retro": "Maandretro automatisering", "generated": "Gemaakt",
        "period": "periode", "target_line": "Doel: 95% van de automatiseringen binnen 2 minuten klaar.",
        "workflow": "Workflow", "runs": "Runs", "succeeded": "Gelukt", "failed": "Mislukt", "dead": "Dood",
        "within_sla": "Binnen SLA", "within_2m": "Binnen 2 min", "p95": "p95 (s)", "change": "t.o.v. vorige week",
        "failure_rate": "foutpercentage", "total": "Totaal", "top_failures": "Belangrijkste foutoorzaken",
        "no_failures": "Geen mislukte runs.", "error": "Fout", "message": "Melding",
        "incidents": "Incidenten en tickets",
        "no_desk": "De supportdesk is nog niet gekoppeld: incidenten en tickets staan nog niet in dit rapport.",
        "priority": "Prioriteit", "opened": "Geopend", "resolved": "Opgelost", "breaches": "SLA-overschrijdingen",
        "median_resolve": "Mediaan oplostijd (min)", "trends": "Trends per week", "week": "Week",
        "no_runs": "Geen runs in deze maand.", "top_errors": "Meest voorkomende fouten",
        "slowest_steps": "Traagste stappen", "no_steps": "Geen stappen met een duur in deze maand.",
        "step": "Stap", "type": "Type", "executions": "Uitvoeringen", "feedback": "Feedback uit UAT",
        "no_feedback": "Geen feedback in deze maand.", "when": "Datum", "author": "Door",
        "feedback_text": "Feedback", "tags": "Labels", "about": "Over", "chart_sla": "Binnen 2 minuten per workflow",
        "chart_outcomes": "Runs per uitkomst", "chart_volume": "Runs per week",
        "chart_failure_rate": "Foutpercentage per week", "pdf_missing": "Het PDF-bestand kon niet worden gemaakt",
    },
    "en": {
        "automation_sla": "Automation SLA", "retro": "Monthly automation retro", "generated": "Generated",
        "period": "period", "target_line": "Target: 95% of automations complete within 2 minutes.",
        "workflow": "Workflow", "runs": "Runs", "succeeded": "Succeeded", "failed": "Failed", "dead": "Dead",
        "within_sla": "Within SLA", "within_2m": "Within 2 min", "p95": "p95 (s)", "change": "vs. week before",
        "failure_rate": "failure rate", "total": "Total", "top_failures": "Top failure causes",
        "no_failures": "No failed runs.", "error": "Error", "message": "Message", "incidents": "Incidents and tickets",
        "no_desk": "The support desk is not connected yet: incidents and tickets are not part of this report.",
        "priority": "Priority", "opened": "Opened", "resolved": "Resolved", "breaches": "SLA breaches",
        "median_resolve": "Median time to resolve (min)", "trends": "Weekly trends", "week": "Week",
        "no_runs": "No runs this month.", "top_errors": "Top errors", "slowest_steps": "Slowest steps",
        "no_steps": "No timed steps this month.", "step": "Step", "type": "Type", "executions": "Executions",
        "feedback": "UAT feedback", "no_feedback": "No feedback this month.", "when": "Date", "author": "By",
        "feedback_text": "Feedback", "tags": "Tags", "about": "About", "chart_sla": "Within 2 minutes per workflow",
        "chart_outcomes": "Runs by outcome", "chart_volume": "Runs per week",
        "chart_failure_rate": "Failure rate per week", "pdf_missing": "The PDF could not be made",
    },
}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}%"


def _signed(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:+g}{(' ' + unit) if unit else ''}"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def title(kind: str, figures: dict[str, Any], language: str) -> str:
    return f"{LABELS[language][kind]} {figures['tenant']} {figures['period']}"


def render(kind: str, figures: dict[str, Any], *, language: str, generated_at: str,
           image: Callable[[str], str]) -> str:
    """The report as HTML; `image(name)` gives the `src` of chart `name` (a `cid:` or `data:` URI)."""
    return _env.get_template(f"{kind}.html.j2").render(
        figures=figures, t=LABELS[language], lang=language, title=title(kind, figures, language),
        generated_at=generated_at, image=image, pct=_pct, signed=_signed)


def text_summary(kind: str, figures: dict[str, Any], language: str) -> str:
    """The plain-text part of the mail: one line per workflow."""
    t = LABELS[language]
    lines = [title(kind, figures, language), ""]
    for w in figures["workflows"]:
        lines.append(f"- {w['workflow']}: {w['runs']} {t['runs'].lower()}, {t['within_2m'].lower()} "
                     f"{_pct(w['pct_within_2_minutes'])}, {t['within_sla'].lower()} {_pct(w['pct_within_sla'])}, "
                     f"{t['failed'].lower()} {w['failed']}, {t['dead'].lower()} {w['dead']}")
    if not figures["workflows"]:
        lines.append(t["no_runs"])
    lines += ["", t["target_line"]]
    return "\n".join(lines) + "\n"
