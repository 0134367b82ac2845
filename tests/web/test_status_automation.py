"""`GET /status` tells whether automations work: failure rate per workflow against the 2% line, dead and
retrying runs, paused workflows, the watchdog's firing alerts; its times are the tenant's, named."""

from __future__ import annotations

import datetime as dt

import httpx

from rentguy_crm.automation.runs import service as automation
from rentguy_crm.db import Database, utcnow
from rentguy_crm.observability import watchdog
from rentguy_crm.observability.slack_notify import ops_notifier_for
from tests.automation_support import install_workflow, workflow_doc
from tests.obs_support import add_runs


async def automation_component(client: httpx.AsyncClient) -> tuple[int, str, dict]:  # type: ignore[type-arg]
    answer = await client.get("/status")
    body = answer.json()
    return answer.status_code, body["status"], body["components"]["automation"]


async def test_dead_runs_a_paused_workflow_and_the_watchdog_firing_are_not_ok(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, db: Database, factory) -> None:
    tenant = await factory.tenant("mrdj")
    await install_workflow(db, tenant, workflow_doc("lead_intake"))
    await install_workflow(db, tenant, workflow_doc("post_event_care"))
    now = utcnow()
    await add_runs(db, tenant, "lead_intake", "dead", 25, created_at=now - dt.timedelta(minutes=3),
                   error="template lead-welcome is not published")
    await add_runs(db, tenant, "lead_intake", "succeeded", 75, created_at=now - dt.timedelta(minutes=3))
    async with db.session() as session:
        await automation.pause_workflow(session, tenant, "post_event_care", actor="bart", reason="SMTP storing",
                                        now=now)
        await watchdog.check_failure_rates(session, now, ops_notifier_for)
    _code, overall, component = await automation_component(client)
    assert component["status"] == "degraded" and overall in ("degraded", "down")
    details = component["details"]
    assert details["dead_runs_24h"] == 25
    assert details["paused_workflows"] == ["mrdj/post_event_care"]
    assert details["watchdog_firing"] == ["mrdj/lead_intake"]
    flow = details["workflows"]["mrdj/lead_intake"]
    assert (flow["finished"], flow["failed"], flow["failure_rate"], flow["over_2_percent"]) == (100, 25, 0.25, True)
    assert "failure rate above 2%" in component["summary"] and "25 dead run(s)" in component["summary"]
    assert "paused: mrdj/post_event_care" in component["summary"]
    paused = details["workflows"]["mrdj/post_event_care"]
    assert paused["paused_at_local"].endswith(("CET", "CEST")) and paused["pause_reason"] == "SMTP storing"


async def test_a_workflow_that_mostly_fails_is_down(client: httpx.AsyncClient, db: Database, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    now = utcnow()
    await add_runs(db, tenant, "lead_intake", "failed", 30, created_at=now - dt.timedelta(minutes=2), error="x")
    await add_runs(db, tenant, "lead_intake", "succeeded", 10, created_at=now - dt.timedelta(minutes=2))
    code, overall, component = await automation_component(client)
    assert (code, overall, component["status"]) == (503, "down", "down")


async def test_few_failures_below_the_volume_guard_stay_ok(client: httpx.AsyncClient, db: Database, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    now = utcnow()
    await add_runs(db, tenant, "lead_intake", "succeeded", 60, created_at=now - dt.timedelta(minutes=2))
    await add_runs(db, tenant, "lead_intake", "failed", 1, created_at=now - dt.timedelta(minutes=2), error="x")
    _code, _overall, component = await automation_component(client)
    assert component["status"] == "ok", component
    assert component["details"]["workflows"]["mrdj/lead_intake"]["failure_rate"] == round(1 / 61, 4)


async def test_runs_waiting_for_a_retry_are_counted(client: httpx.AsyncClient, db: Database, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    [run] = await add_runs(db, tenant, "lead_intake", "queued", 1, created_at=utcnow(),
                           run_after=utcnow() + dt.timedelta(minutes=1))
    async with db.session() as session:
        (await session.get(type(run), run.id)).attempt = 2  # type: ignore[union-attr]
    _code, _overall, component = await automation_component(client)
    assert component["status"] == "degraded" and component["details"]["retrying_runs"] == 1


async def test_the_page_says_who_alerts_and_shows_local_times(client: httpx.AsyncClient, factory) -> None:  # type: ignore[no-untyped-def]
    await factory.tenant("mrdj")
    body = (await client.get("/status")).json()
    assert body["components"]["automation"]["details"]["alerting"] == {"mrdj": "watchdog"}
    assert body["timezone"] == "Europe/Amsterdam" and body["checked_at_local"].endswith(("CET", "CEST"))
    page = (await client.get("/status", headers={"Accept": "text/html"})).text
    assert "(times in Europe/Amsterdam)" in page and body["checked_at_local"][:10] in page
