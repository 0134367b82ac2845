"""The automation operations API: runs, retry, cancel, pause/resume, workers; roles and tenancy."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from rentguy_crm.audit.models import AuditEntry
from tests.automation_support import get_run, install_workflow, queued_run, workflow_doc


async def _setup(db, factory):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc())
    return tenant, wf


async def test_runs_are_listed_with_filters_and_shown_with_their_step_log(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant, wf = await _setup(db, factory)
    lead = await factory.lead(tenant)
    run = await queued_run(db, wf, lead_id=lead.id)
    headers = await factory.headers(tenant, "support")
    page = (await client.get("/api/v1/automation/runs?status=queued&workflow=lead_intake&since=1h",
                             headers=headers)).json()
    assert (page["total"], page["items"][0]["id"], page["items"][0]["lead_id"]) == (1, run.id, lead.id)
    assert (await client.get("/api/v1/automation/runs?status=dead", headers=headers)).json()["total"] == 0
    detail = await client.get(f"/api/v1/automation/runs/{run.id}", headers=headers)
    assert detail.status_code == 200 and detail.json()["step_log"] == []


async def test_unknown_status_filter_is_a_422_naming_the_field(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant, _ = await _setup(db, factory)
    response = await client.get("/api/v1/automation/runs?status=exploded", headers=await factory.headers(tenant))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"


async def test_another_tenants_run_answers_404(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    _tenant, wf = await _setup(db, factory)
    other = await factory.tenant("other")
    run = await queued_run(db, wf)
    response = await client.get(f"/api/v1/automation/runs/{run.id}", headers=await factory.headers(other))
    assert response.status_code == 404
    cancel = await client.post(f"/api/v1/automation/runs/{run.id}/cancel", headers=await factory.headers(other))
    assert cancel.status_code == 404
    assert (await get_run(db, run.id)).status == "queued"


async def test_sales_may_not_pause_a_workflow_but_operations_may_and_it_is_audited(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant, _ = await _setup(db, factory)
    denied = await client.post("/api/v1/automation/workflows/lead_intake/pause",
                               headers=await factory.headers(tenant, "sales"))
    assert denied.status_code == 403
    ops = await factory.headers(tenant, "operations")
    paused = await client.post("/api/v1/automation/workflows/lead_intake/pause", json={"reason": "smtp storing"},
                               headers=ops)
    assert paused.status_code == 200 and paused.json()["paused"] is True
    status = (await client.get("/api/v1/automation/workers", headers=ops)).json()
    assert status["queue"]["paused"][0]["workflow"] == "lead_intake"
    resumed = await client.post("/api/v1/automation/workflows/lead_intake/resume",
                                headers=await factory.headers(tenant, "engineering"))
    assert resumed.json()["paused"] is False
    async with db.session() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert [a for a in actions if a.startswith("automation.")] == ["automation.workflow.pause",
                                                                   "automation.workflow.resume"]


async def test_pausing_an_unknown_workflow_is_a_404_and_changes_nothing(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant, _ = await _setup(db, factory)
    response = await client.post("/api/v1/automation/workflows/nope/pause", headers=await factory.headers(tenant))
    assert response.status_code == 404
    status = (await client.get("/api/v1/automation/workers", headers=await factory.headers(tenant))).json()
    assert status["queue"]["paused"] == []


async def test_cancel_then_retry_a_run(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant, wf = await _setup(db, factory)
    run = await queued_run(db, wf)
    headers = await factory.headers(tenant, "operations")
    assert (await client.post(f"/api/v1/automation/runs/{run.id}/retry", headers=headers)).status_code == 409
    cancelled = await client.post(f"/api/v1/automation/runs/{run.id}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled"
    retried = await client.post(f"/api/v1/automation/runs/{run.id}/retry", headers=headers)
    assert (retried.json()["status"], retried.json()["attempt"]) == ("queued", 0)


async def test_start_a_run_by_hand_needs_exactly_one_subject(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant, _ = await _setup(db, factory)
    lead = await factory.lead(tenant)
    headers = await factory.headers(tenant, "operations")
    bad = await client.post("/api/v1/automation/runs", json={"workflow": "lead_intake"}, headers=headers)
    assert bad.status_code == 422
    started = await client.post("/api/v1/automation/runs", json={"workflow": "lead_intake", "lead_id": lead.id},
                                headers=headers)
    assert started.status_code == 201
    body = started.json()
    assert (body["status"], body["trigger"], body["lead_id"]) == ("queued", "manual", lead.id)
    assert dt.datetime.fromisoformat(body["sla_due_at"]) > dt.datetime.fromisoformat(body["created_at"])
