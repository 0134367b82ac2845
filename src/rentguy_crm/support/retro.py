"""The retro issue's description in Atlassian Document Format (ADF), built when an incident closes.

ADF: https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/ (doc > heading, paragraph,
bulletList > listItem > paragraph > text). It carries no personal data: the timeline as kinds of change with
times (never reply or note text, never who), the runbook log as steps and times, linked runs and leads as counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.support import repository
from rentguy_crm.support.models import Ticket
from rentguy_crm.tenants.scope import TenantScope


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def _paragraph(value: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [_text(value)]}


def _heading(value: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [_text(value)]}


def _bullets(items: list[str]) -> dict[str, Any]:
    if not items:
        items = ["(none)"]
    return {"type": "bulletList", "content": [{"type": "listItem", "content": [_paragraph(i)]} for i in items]}


def _change_line(data: dict[str, Any], at: str) -> str:
    field = data.get("field", "change")
    if field in ("status", "priority"):
        return f"{at} {field}: {data.get('from_', '-')} -> {data.get('to')}"
    if field == "links":
        return f"{at} linked a {data.get('type')}"
    if field == "runbook":
        return f"{at} runbook {data.get('runbook')} step {data.get('step')}"
    return f"{at} {field} changed"


async def retro_document(session: AsyncSession, scope: TenantScope, ticket: Ticket) -> dict[str, Any]:
    entries = await repository.timeline(session, scope, ticket)
    ticks = await repository.ticks(session, scope, ticket)
    links = await repository.links(session, scope, ticket)
    counts: dict[str, int] = {}
    for row in links:
        counts[row.target_type] = counts.get(row.target_type, 0) + 1
    timeline = []
    for entry in entries:
        at = entry.created_at.isoformat(timespec="minutes")
        if entry.kind == "change":
            timeline.append(_change_line(entry.data or {}, at))
        else:
            timeline.append(f"{at} {entry.kind}")
    return {"version": 1, "type": "doc", "content": [
        _paragraph(f"Incident SUP-{ticket.number} ({ticket.priority}, {ticket.activity}), opened "
                   f"{ticket.created_at.isoformat(timespec='minutes')}, closed "
                   f"{ticket.closed_at.isoformat(timespec='minutes') if ticket.closed_at else '-'}."),
        _heading("Timeline"), _bullets(timeline),
        _heading("Runbook log"),
        _bullets([f"{t.runbook_key} step {t.step_number} at {t.ticked_at.isoformat(timespec='minutes')}"
                  for t in ticks]),
        _heading("Affected"),
        _bullets([f"runs: {counts.get('run', 0)}", f"leads: {counts.get('lead', 0)}",
                  f"deals: {counts.get('deal', 0)}", f"alerts: {counts.get('alert', 0)}"]),
    ]}
