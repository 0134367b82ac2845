"""The desk's figures in the weekly and monthly reports: per priority and the incidents of the period."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rentguy_crm.reporting import incidents as report_incidents
from rentguy_crm.support import report_figures
from rentguy_crm.support.models import SlaMark, Ticket

MONDAY = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


async def _ticket(db: Any, tenant: Any, number: int, **values: Any) -> Ticket:
    async with db.session() as session:
        ticket = Ticket(tenant_id=tenant.id, number=number, activity="automation_failure", **values)
        session.add(ticket)
        await session.flush()
        await session.refresh(ticket)
        return ticket


async def test_figures_count_per_priority_and_list_the_incidents_of_the_period(db: Any, factory: Any) -> None:
    tenant = await factory.tenant("mrdj")
    opened = MONDAY + dt.timedelta(hours=10)
    await _ticket(db, tenant, 1, kind="incident", subject="AutomationFailureRateHigh lead_intake", priority="P1",
                  created_at=opened, resolved_at=opened + dt.timedelta(minutes=45), status="resolved")
    breached = await _ticket(db, tenant, 2, subject="Vraag over offerte", priority="P3", created_at=opened)
    await _ticket(db, tenant, 3, subject="Van vorige week", priority="P3", created_at=MONDAY - dt.timedelta(days=1))
    async with db.session() as session:
        session.add(SlaMark(tenant_id=tenant.id, ticket_id=breached.id, target="first_response", level="breach",
                            team="support", priority="P3"))
    async with db.read_session() as session:
        figures = await report_figures.support_figures(session, tenant.id, MONDAY, MONDAY + dt.timedelta(days=7))
    assert figures["by_priority"] == [
        {"priority": "P1", "opened": 1, "resolved": 1, "sla_breaches": 0, "median_minutes_to_resolve": 45.0},
        {"priority": "P2", "opened": 0, "resolved": 0, "sla_breaches": 0, "median_minutes_to_resolve": None},
        {"priority": "P3", "opened": 1, "resolved": 0, "sla_breaches": 1, "median_minutes_to_resolve": None}]
    assert [(i["id"], i["title"], i["minutes_to_resolve"]) for i in figures["incidents"]] == [
        (1, "AutomationFailureRateHigh lead_intake", 45.0)]


async def test_once_installed_the_reports_carry_the_desk_figures(db: Any, factory: Any) -> None:
    tenant = await factory.tenant("mrdj")
    report_figures.install()
    try:
        async with db.read_session() as session:
            figures = await report_incidents.incident_figures(session, tenant.id, MONDAY,
                                                              MONDAY + dt.timedelta(days=7))
    finally:
        report_incidents.register_incident_source(None)
    assert figures["available"] is True
    assert [row["opened"] for row in figures["by_priority"]] == [0, 0, 0]
