"""What the tests of the Tickets, Reports and Admin screens share: a ticket opened through the API, an archived
report with a chart, and page requests as a browser sends them (session cookie, CSRF token, htmx header)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from sqlalchemy import select

from rentguy_crm.auth.models import ApiKey
from rentguy_crm.reporting.models import Report

# The smallest valid PNG (1×1 pixel): the archive keeps whatever the chart drawer made.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
FRAGMENT = {"HX-Request": "true"}
PAGE = {"Accept": "text/html"}


async def open_ticket(client: Any, headers: dict[str, str], **values: Any) -> int:
    body = {"subject": "Formulier geeft foutmelding", "activity": "lead_capture_issue", "priority": "P3",
            "runbook_key": "2.2", **values}
    response = await client.post("/api/v1/support/tickets", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["number"])


async def archived_report(db: Any, tenant_id: int, period: str = "2026-W47") -> int:
    async with db.session() as session:
        report = Report(tenant_id=tenant_id, kind="automation_sla", period=period,
                        generated_at=dt.datetime(2026, 11, 23, 7, tzinfo=dt.UTC), generated_by="test",
                        figures={}, charts={"sla": base64.b64encode(PIXEL_PNG).decode()}, html="<p>report</p>")
        session.add(report)
        await session.flush()
        return int(report.id)


async def key_ids(db: Any, tenant_id: int) -> dict[int, dt.datetime | None]:
    """Each key of the tenant with when it was revoked."""
    async with db.session() as session:
        rows = (await session.execute(select(ApiKey.id, ApiKey.revoked_at).where(ApiKey.tenant_id == tenant_id)))
        return {int(key_id): revoked for key_id, revoked in rows}
