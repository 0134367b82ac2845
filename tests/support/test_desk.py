"""The desk through its service: RACI routing of all six activities, SLA clock, status rules, runbook ticks,
alerts as incidents, the escalation outbox with a vendor down, inbound vendor updates and the retro."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from rentguy_crm.errors import Conflict, ValidationFailed
from rentguy_crm.events import service as events
from rentguy_crm.support import dispatch, inbound, incidents, repository, schemas, service, sla_check
from rentguy_crm.support.models import Dispatch, SlaMark
from rentguy_crm.tenants.scope import TenantScope
from tests.factories import tenant_document
from tests.support.desk_support import FlakyVendor, RecordingChat, channels_factory, local, manual_clock

# The playbook's section 1 as given: activity -> (R, A, C, I).
PLAYBOOK_RACI = {
    "first_line_triage": (["sales", "support"], "operations", ["engineering"], []),
    "lead_capture_issue": (["operations"], "sales", ["engineering"], ["support"]),
    "automation_failure": (["operations"], "engineering", ["support"], ["sales"]),
    "dashboard_metrics_incident": (["support"], "operations", ["engineering"], ["sales"]),
    "data_correction": (["operations"], "engineering", ["sales"], ["support"]),
    "security_compliance_question": (["support"], "engineering", ["operations"], ["sales"]),
}


@pytest.fixture
def clock() -> Iterator[Any]:
    yield from manual_clock(local(2026, 3, 16, 10, 0))  # a Monday morning


@pytest.fixture
async def tenant(factory, clock):  # type: ignore[no-untyped-def]
    return await factory.tenant("mrdj")


def _body(**values: Any) -> schemas.TicketCreate:
    values.setdefault("subject", "Formulier geeft foutmelding")
    values.setdefault("activity", "first_line_triage")
    values.setdefault("requester_email", "support@example.nl")
    return schemas.TicketCreate(**values)


async def _create(db, tenant, **values: Any):  # type: ignore[no-untyped-def]
    async with db.session() as session:
        ticket = await service.create_ticket(session, TenantScope(tenant.id), _body(**values), actor="test")
        return ticket.number


async def _detail(db, tenant, number: int) -> schemas.TicketDetail:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await service.detail(session, TenantScope(tenant.id), number)


async def _notify_keys(db, tenant, number: int) -> set[str]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        ticket = await repository.get_ticket(session, TenantScope(tenant.id), number)
        assert ticket is not None
        rows = await repository.dispatches(session, TenantScope(tenant.id), ticket)
        return {r.dedupe_key.split(":", 1)[1] for r in rows if r.action == "notify"}


@pytest.mark.parametrize("activity", list(PLAYBOOK_RACI))
async def test_each_activity_is_routed_by_the_playbook_raci(db, tenant, activity: str) -> None:
    responsible, accountable, consulted, informed = PLAYBOOK_RACI[activity]
    number = await _create(db, tenant, activity=activity)
    detail = await _detail(db, tenant, number)
    assert detail.queue == responsible
    assert detail.accountable_team == accountable
    mention = next(e for e in detail.timeline if e.kind == "note" and "Consulted" in e.body)
    assert all(f"@{team}" in mention.body for team in consulted)
    assert await _notify_keys(db, tenant, number) == (
        {f"notify:responsible:{t}" for t in responsible} | {f"notify:consulted:{t}" for t in consulted}
        | {f"notify:informed:open:{t}" for t in informed})


async def test_changing_the_raci_in_config_routes_new_tickets_without_code(db, factory, tenant) -> None:
    doc = tenant_document("mrdj")
    doc["support"]["raci"]["first_line_triage"] = {"responsible": ["operations"], "accountable": "engineering",
                                                   "consulted": [], "informed": ["sales"]}
    changed = await factory.tenant("mrdj", support=doc["support"])
    number = await _create(db, changed)
    detail = await _detail(db, changed, number)
    assert (detail.queue, detail.accountable_team) == (["operations"], "engineering")
    assert await _notify_keys(db, changed, number) == {"notify:responsible:operations", "notify:informed:open:sales"}


async def test_informed_teams_are_told_when_the_ticket_closes(db, tenant) -> None:
    number = await _create(db, tenant, activity="automation_failure")
    async with db.session() as session:
        await service.change_status(session, TenantScope(tenant.id), number,
                                    schemas.StatusChange(status="closed"), actor="test")
    assert "notify:informed:close:sales" in await _notify_keys(db, tenant, number)


async def test_numbers_count_per_tenant(db, factory, tenant) -> None:
    other = await factory.tenant("other")
    assert [await _create(db, tenant), await _create(db, tenant), await _create(db, other)] == [1, 2, 1]


async def test_p3_first_response_is_due_in_8_working_hours_and_pending_pauses_it(db, tenant, clock) -> None:
    clock.advance(dt.timedelta(hours=6, minutes=30))  # Monday 16:30
    number = await _create(db, tenant, priority="P3")
    assert (await _detail(db, tenant, number)).first_response_due_at == local(2026, 3, 17, 16, 30)
    scope = TenantScope(tenant.id)
    async with db.session() as session:
        await service.change_status(session, scope, number, schemas.StatusChange(status="pending"), actor="t")
    clock.advance(dt.timedelta(hours=17, minutes=30))  # Tuesday 10:00: 30 min Monday + 1 h Tuesday pending
    async with db.session() as session:
        await service.change_status(session, scope, number, schemas.StatusChange(status="open"), actor="t")
    detail = await _detail(db, tenant, number)
    assert detail.paused_seconds == 5400
    # Tuesday 16:30 + 1.5 working hours: 30 minutes to 17:00, one hour on Wednesday.
    assert detail.first_response_due_at == local(2026, 3, 18, 10, 0)


async def test_status_changes_follow_the_allowed_transitions(db, tenant) -> None:
    number = await _create(db, tenant)
    scope = TenantScope(tenant.id)
    async with db.session() as session:
        await service.change_status(session, scope, number, schemas.StatusChange(status="closed"), actor="t")
    with pytest.raises(Conflict, match="cannot go from closed to open"):
        async with db.session() as session:
            await service.change_status(session, scope, number, schemas.StatusChange(status="open"), actor="t")


async def test_a_contact_of_another_tenant_cannot_be_the_requester(db, factory, tenant) -> None:
    other = await factory.tenant("other")
    stranger = await factory.contact(other)
    with pytest.raises(ValidationFailed, match="requester_contact_id"):
        await _create(db, tenant, requester_email=None, requester_contact_id=stranger.id)


async def test_runbook_steps_are_ticked_once_with_who_and_output(db, tenant) -> None:
    number = await _create(db, tenant, runbook_key="2.2")
    scope = TenantScope(tenant.id)
    async with db.session() as session:
        await service.tick_step(session, scope, number, schemas.RunbookTickCreate(runbook_key="2.2", step=3,
                                                                                  output="12 failed runs"),
                                actor="bart")
    with pytest.raises(Conflict):
        async with db.session() as session:
            await service.tick_step(session, scope, number, schemas.RunbookTickCreate(runbook_key="2.2", step=3),
                                    actor="bart")
    detail = await _detail(db, tenant, number)
    assert [(t.runbook_key, t.step_number, t.ticked_by, t.output) for t in detail.runbook_ticks] == [
        ("2.2", 3, "bart", "12 failed runs")]
    assert "12 failed runs" in detail.timeline[-1].body


# ---- alerts -> incidents ---------------------------------------------------------------------------------------


def _alert(status: str = "firing", *, fingerprint: str = "fp1", name: str = "CrmAutomationFailureRateHigh",
           severity: str = "critical") -> dict[str, Any]:
    return {"alertname": name, "status": status, "fingerprint": fingerprint,
            "labels": {"alertname": name, "severity": severity, "workflow": "lead_intake"},
            "annotations": {"summary": "failure rate above 2%"}}


async def _emit_and_handle(db, tenant, clock, payload: dict[str, Any]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        await events.emit(session, tenant.id, f"alert.{payload['status']}", subject_type="alert", payload=payload)
    async with db.session() as session:
        return await incidents.handle_new_alert_events(session, clock())


async def test_a_firing_alert_opens_one_incident_and_a_resent_one_adds_to_it(db, tenant, clock) -> None:
    assert (await _emit_and_handle(db, tenant, clock, _alert()))["opened"] == 1
    assert (await _emit_and_handle(db, tenant, clock, _alert()))["updated"] == 1
    async with db.session() as session:
        assert (await incidents.handle_new_alert_events(session, clock()))["events"] == 0  # each event once
    page = await _list(db, tenant)
    assert page.total == 1
    detail = await _detail(db, tenant, page.items[0].number)
    assert (detail.kind, detail.priority, detail.activity, detail.runbook_key) == (
        "incident", "P1", "automation_failure", "2.2")
    assert [x.target_ref for x in detail.links] == ["fp1"]
    assert any("fired again" in e.body for e in detail.timeline)


async def _list(db, tenant):  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await service.list_tickets(session, TenantScope(tenant.id))


@pytest.mark.parametrize(("name", "severity", "priority", "activity", "runbook"), [
    ("CrmLeadCaptureApiDown", "critical", "P1", "lead_capture_issue", "2.1"),
    ("CrmWorkersAbsent", "warning", "P2", "automation_failure", "2.2"),
    ("GrafanaDashboardStale", "info", "P3", "dashboard_metrics_incident", None),
])
async def test_alert_name_and_severity_choose_activity_priority_and_runbook(
        db, tenant, clock, name: str, severity: str, priority: str, activity: str, runbook: str | None) -> None:
    payload = _alert(name=name, severity=severity)
    payload["labels"].pop("workflow")
    await _emit_and_handle(db, tenant, clock, payload)
    ticket = (await _list(db, tenant)).items[0]
    assert (ticket.priority, ticket.activity, ticket.runbook_key) == (priority, activity, runbook)


async def test_a_resolved_alert_adds_a_note_proposing_to_resolve(db, tenant, clock) -> None:
    await _emit_and_handle(db, tenant, clock, _alert())
    await _emit_and_handle(db, tenant, clock, _alert("resolved"))
    detail = await _detail(db, tenant, 1)
    assert detail.status == "new"
    assert detail.timeline[-1].data.get("proposal") == "resolved"


# ---- escalation outbox ------------------------------------------------------------------------------------------


async def _deliver(db, clock, vendor: FlakyVendor, chat: RecordingChat | None = None) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await dispatch.deliver_due(session, clock(), escalation_factory=vendor.escalation,
                                          channels_factory=channels_factory(chat or RecordingChat()))


async def test_p1_pages_on_call_and_a_vendor_down_loses_nothing(db, tenant, clock) -> None:
    number = await _create(db, tenant, priority="P1", kind="incident", activity="automation_failure")
    vendor = FlakyVendor(down=True)
    assert (await _deliver(db, clock, vendor))["retry"] == 1
    detail = await _detail(db, tenant, number)
    assert detail.status == "new"  # the ticket is saved whatever the vendor does
    page = next(d for d in detail.dispatches if d.action == "pager.create")
    assert (page.status, page.attempts) == ("queued", 1)
    assert any("retrying, nothing is lost" in e.body for e in detail.timeline)
    vendor.down = False
    assert (await _deliver(db, clock, vendor))["done"] == 0  # not due before its backoff
    clock.advance(dispatch.backoff(1))
    await _deliver(db, clock, vendor)
    [alert] = vendor.named("create_alert")
    assert alert["alias"] == "mrdj-SUP-1" and alert["priority"] == "P1"
    assert alert["responders"] == [{"name": "crm-engineering-oncall", "type": "schedule"}]
    detail = await _detail(db, tenant, number)
    assert detail.vendor_refs["pager_request_id"] == "req-1"
    assert any("on call now" in e.body for e in detail.timeline)


async def test_a_vendor_down_for_every_attempt_ends_dead_and_visible(db, tenant, clock) -> None:
    number = await _create(db, tenant, priority="P2", kind="incident")
    vendor = FlakyVendor(down=True)
    for _ in range(dispatch.MAX_ATTEMPTS):
        await _deliver(db, clock, vendor)
        clock.advance(dispatch.LONGEST_RETRY)
    detail = await _detail(db, tenant, number)
    bridge = next(d for d in detail.dispatches if d.action == "bridge.open")
    assert (bridge.status, bridge.attempts) == ("dead", dispatch.MAX_ATTEMPTS)
    assert any("given up" in e.body for e in detail.timeline)


async def test_a_vendor_not_configured_is_noted_and_never_blocks(db, tenant, clock) -> None:
    number = await _create(db, tenant, priority="P2")
    async with db.session() as session:
        await dispatch.deliver_due(session, clock(), channels_factory=channels_factory(RecordingChat()))
    detail = await _detail(db, tenant, number)
    bridge = next(d for d in detail.dispatches if d.action == "bridge.open")
    assert bridge.status == "skipped"
    assert any("not configured for tenant mrdj" in e.body for e in detail.timeline)


async def test_p2_bridge_invites_operations_and_engineering_and_is_archived_on_close(db, tenant, clock) -> None:
    number = await _create(db, tenant, priority="P2", kind="incident", activity="automation_failure")
    vendor = FlakyVendor()
    chat = RecordingChat()
    await _deliver(db, clock, vendor, chat)
    [opened] = vendor.named("open_channel")
    assert opened["name"] == "inc-mrdj-1"
    assert opened["member_emails"] == ["bart@mr-dj.nl", "crm-lead@rentguy.nl"]
    assert {target for _text, target in chat.posts} == {"#mrdj-ops", "#mrdj-support", "#mrdj-sales"}  # R, C, I
    async with db.session() as session:
        await service.change_status(session, TenantScope(tenant.id), number,
                                    schemas.StatusChange(status="closed", structural_problem=True), actor="t")
    await _deliver(db, clock, vendor, chat)
    assert vendor.named("archive_channel") == [{"channel_id": "C123"}]
    issues = vendor.named("create_issue")
    assert [(i["project_key"], i["issue_type"]) for i in issues] == [("CRM", "Task"), ("CRM", "Bug")]
    adf = issues[0]["description_adf"]
    assert adf["type"] == "doc" and adf["version"] == 1
    text = str(adf)
    assert "support@example.nl" not in text and "bart@mr-dj.nl" not in text  # no personal data
    detail = await _detail(db, tenant, number)
    assert detail.vendor_refs["jira_retro_key"] and detail.vendor_refs["jira_bug_key"]


async def test_p3_goes_to_freshdesk_and_freshdesk_status_comes_back(db, tenant, clock) -> None:
    number = await _create(db, tenant, priority="P3")
    vendor = FlakyVendor()
    await _deliver(db, clock, vendor)
    [created] = vendor.named("create_ticket")
    assert (created["email"], created["priority"], created["status"]) == ("support@example.nl", 2, 2)
    async with db.session() as session:
        await inbound.apply_helpdesk_update(session, TenantScope(tenant.id), freshdesk_id=4711, status=4)
    detail = await _detail(db, tenant, number)
    assert detail.status == "resolved"
    assert not [d for d in detail.dispatches if d.action == "helpdesk.update"]  # not echoed back
    async with db.session() as session:
        await service.change_status(session, TenantScope(tenant.id), number,
                                    schemas.StatusChange(status="closed"), actor="t")
    await _deliver(db, clock, vendor)
    assert vendor.named("update_ticket") == [{"ticket_id": 4711, "status": 5}]


async def test_opsgenie_acknowledge_and_close_come_back_to_the_ticket(db, tenant, clock) -> None:
    number = await _create(db, tenant, priority="P1", kind="incident")
    await _deliver(db, clock, FlakyVendor())
    scope = TenantScope(tenant.id)
    async with db.session() as session:
        await inbound.apply_pager_update(session, scope, alias="mrdj-SUP-1", action="acknowledged")
    assert (await _detail(db, tenant, number)).status == "open"
    async with db.session() as session:
        await inbound.apply_pager_update(session, scope, alias="mrdj-SUP-1", action="closed")
    assert (await _detail(db, tenant, number)).status == "resolved"


# ---- SLA check ---------------------------------------------------------------------------------------------------


async def test_sla_warns_the_responsible_team_at_75_percent_and_breach_escalates(db, tenant, clock) -> None:
    number = await _create(db, tenant, priority="P3", activity="dashboard_metrics_incident")  # Monday 10:00
    async with db.session() as session:
        assert await sla_check.check_all(session, clock()) == {"tickets": 1, "marks": 0}
    clock.advance(dt.timedelta(hours=6))  # 16:00: 6 of 8 working hours = 75%
    async with db.session() as session:
        await sla_check.check_all(session, clock())
    clock.advance(dt.timedelta(hours=18, minutes=1))  # Tuesday 10:01: past the 8 hours
    async with db.session() as session:
        await sla_check.check_all(session, clock())
    detail = await _detail(db, tenant, number)
    assert [(m.target, m.level, m.team) for m in detail.sla_marks] == [
        ("first_response", "warning", "support"), ("first_response", "breach", "support")]
    assert detail.escalated_to == "operations"
    keys = await _notify_keys(db, tenant, number)
    assert {"notify:warning:first_response:support", "notify:breach:first_response"} <= keys
    async with db.session() as session:
        counts = await repository.breach_counts(session, TenantScope(tenant.id))
    assert counts == [{"team": "support", "priority": "P3", "target": "first_response", "breaches": 1}]


async def test_a_pending_ticket_is_not_breached(db, tenant, clock) -> None:
    number = await _create(db, tenant, priority="P3")
    async with db.session() as session:
        await service.change_status(session, TenantScope(tenant.id), number,
                                    schemas.StatusChange(status="pending"), actor="t")
    clock.advance(dt.timedelta(days=5))
    async with db.session() as session:
        await sla_check.check_all(session, clock())
        marks = (await session.scalars(select(SlaMark))).all()
        assert marks == []
        assert (await session.scalars(select(Dispatch).where(Dispatch.action == "notify",
                                                             Dispatch.dedupe_key.like("%breach%")))).all() == []


async def test_resolved_alerts_without_an_incident_do_not_hold_up_new_ones(db, tenant, clock) -> None:
    async with db.session() as session:
        for fingerprint in ("old1", "old2", "old3"):
            await events.emit(session, tenant.id, "alert.resolved", subject_type="alert",
                              payload=_alert("resolved", fingerprint=fingerprint))
        await events.emit(session, tenant.id, "alert.firing", subject_type="alert", payload=_alert(fingerprint="new"))
    async with db.session() as session:
        counts = await incidents.handle_new_alert_events(session, clock(), batch=2)
    assert counts == {"events": 1, "opened": 1, "updated": 0}
