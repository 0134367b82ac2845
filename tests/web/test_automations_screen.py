"""Screen 6, Automations, through HTTP as a signed-in person: workflows with failure rate and pause state, pause
with a reason and resume, runs with filters, a run's step log, retry, cancel and retry all failed since a time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from rentguy_crm.automation.runs.models import WorkflowPause
from tests.table_counts import audit_entries, row_counts
from tests.web.operations_world import FRAGMENT, PAGE, build, run_status


async def test_workflow_table_shows_failure_rate_against_the_line_and_offers_pause(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    response = await client.get("/ui/automations/workflows", headers=headers)
    assert response.status_code == 200, response.text
    assert 'id="workflow-lead_intake"' in response.text
    assert "lead_intake pauzeren" in response.text
    assert 'name="reason" required' in response.text


async def test_pause_needs_a_reason_and_then_stops_the_workflow_audited(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    before = await row_counts(db)
    refused = await client.post("/ui/automations/workflows/lead_intake/pause", data={"reason": "  "},
                                headers=headers)
    assert refused.status_code == 422
    assert "reason" in refused.text
    assert await row_counts(db) == before
    paused = await client.post("/ui/automations/workflows/lead_intake/pause",
                               data={"reason": "SMTP-storing bij de provider"}, headers=headers)
    assert paused.status_code == 200, paused.text
    assert "SMTP-storing bij de provider" in paused.text and "lead_intake hervatten" in paused.text
    async with db.session() as session:
        pause = await session.scalar(select(WorkflowPause).where(WorkflowPause.tenant_id == world.tenant.id))
    assert pause is not None and (pause.workflow_key, pause.reason) == ("lead_intake", "SMTP-storing bij de provider")
    resumed = await client.post("/ui/automations/workflows/lead_intake/resume", headers=headers)
    assert resumed.status_code == 200 and "lead_intake pauzeren" in resumed.text
    actions = [e.action for e in await audit_entries(db)]
    assert actions[-2:] == ["automation.workflow.pause", "automation.workflow.resume"]


async def test_pausing_an_unknown_workflow_is_not_found_and_changes_nothing(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    before = await row_counts(db)
    response = await client.post("/ui/automations/workflows/nope/pause", data={"reason": "x"}, headers=headers)
    assert response.status_code == 404 and "nope" in response.text
    assert await row_counts(db) == before


async def test_runs_filter_by_status_and_workflow(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "support"), **FRAGMENT}
    dead = await client.get("/ui/automations/runs?status=dead&workflow=lead_intake", headers=headers)
    assert dead.status_code == 200
    assert f'id="run-{world.dead}"' in dead.text and f'id="run-{world.queued}"' not in dead.text
    every = await client.get("/ui/automations/runs", headers=headers)
    assert all(f'id="run-{run}"' in every.text for run in (world.dead, world.failed, world.queued))
    none = await client.get("/ui/automations/runs?workflow=other_flow", headers=headers)
    assert "Geen runs bij deze filters." in none.text


async def test_an_unknown_status_filter_is_a_422_naming_the_field(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "support"), **FRAGMENT}
    response = await client.get("/ui/automations/runs?status=exploded", headers=headers)
    assert response.status_code == 422 and "status" in response.text


async def test_run_detail_shows_the_step_log_in_the_tenants_zone(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "engineering"), **FRAGMENT}
    page = await client.get(f"/automations/runs/{world.dead}", headers={**headers, "HX-Request": ""})
    assert page.status_code == 200 and f"/ui/automations/runs/{world.dead}" in page.text
    detail = await client.get(f"/ui/automations/runs/{world.dead}", headers=headers)
    assert "SMTPServerDisconnected: gone" in detail.text and "Bel de lead" in detail.text
    assert "10:15 CET" in detail.text  # 09:15 UTC in Amsterdam, zone named
    assert "Run opnieuw proberen" in detail.text


async def test_retry_a_dead_run_and_cancel_a_queued_one(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    retried = await client.post(f"/ui/automations/runs/{world.dead}/retry", headers=headers)
    assert retried.status_code == 200 and "weer in de wachtrij" in retried.text
    assert await run_status(db, world.dead) == "queued"
    cancelled = await client.post(f"/ui/automations/runs/{world.queued}/cancel", headers=headers)
    assert cancelled.status_code == 200 and await run_status(db, world.queued) == "cancelled"
    again = await client.post(f"/ui/automations/runs/{world.queued}/cancel", headers=headers)
    assert again.status_code == 409 and await run_status(db, world.queued) == "cancelled"


async def test_retry_all_failed_since_a_local_time_takes_only_the_later_ones(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).astimezone(ZoneInfo("Europe/Amsterdam"))
    response = await client.post("/ui/automations/workflows/lead_intake/retry-failed",
                                 data={"since": since.strftime("%Y-%m-%dT%H:%M")}, headers=headers)
    assert response.status_code == 200, response.text
    assert "Runs opnieuw in de wachtrij: 1" in response.text
    assert (await run_status(db, world.dead), await run_status(db, world.failed)) == ("queued", "failed")
    assert [e.action for e in await audit_entries(db)][-1] == "automation.run.retry"


async def test_retry_all_failed_with_a_garbled_time_is_a_422_and_retries_nothing(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    for value in ("gisteren", "", "2999-01-01T00:00"):
        response = await client.post("/ui/automations/workflows/lead_intake/retry-failed", data={"since": value},
                                     headers=headers)
        assert response.status_code == 422, value
        assert "since" in response.text
    assert (await run_status(db, world.dead), await run_status(db, world.failed)) == ("dead", "failed")


async def test_sales_sees_runs_without_actions_and_may_not_retry(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "sales"), **FRAGMENT}
    table = await client.get("/ui/automations/workflows", headers=headers)
    assert table.status_code == 200 and "pauzeren" not in table.text
    refused = await client.post(f"/ui/automations/runs/{world.dead}/retry", headers=headers)
    assert refused.status_code == 403 and "automation:operate" in refused.text
    assert await run_status(db, world.dead) == "dead"


async def test_a_change_without_the_csrf_token_changes_nothing(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    headers.pop("X-CSRF-Token")
    response = await client.post(f"/ui/automations/runs/{world.dead}/retry", headers=headers)
    assert response.status_code in (401, 403)
    assert await run_status(db, world.dead) == "dead"


async def test_the_page_lists_the_tenants_workflows_in_the_filter(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **PAGE}
    page = await client.get("/automations?status=dead", headers=headers)
    assert page.status_code == 200
    assert '<option value="lead_intake"' in page.text and 'hx-get="/ui/automations/runs?status=dead"' in page.text


async def test_a_garbled_look_back_is_a_422_naming_since(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "support"), **FRAGMENT}
    response = await client.get("/ui/automations/runs?since=eergisteren", headers=headers)
    assert response.status_code == 422 and "since" in response.text
