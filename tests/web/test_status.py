"""`GET /status`: components, JSON or HTML, escaping, queue lag, lead-capture error rate, profiles."""

from __future__ import annotations

import datetime as dt

import httpx

from rentguy_crm.automation.runs.models import AutomationRun, WorkerRecord
from rentguy_crm.db import Database, utcnow
from rentguy_crm.intake.tally import tally
from rentguy_crm.ratelimit import service
from rentguy_crm.web import status
from rentguy_crm.web.status import ComponentStatus, register_component
from tests.intake.test_pipeline import PUBLIC, form


async def test_status_lists_every_component_as_json(client: httpx.AsyncClient, mrdj) -> None:
    response = await client.get("/status")
    assert response.headers["content-type"].startswith("application/json")
    components = response.json()["components"]
    assert set(components) >= {"api", "database", "workers", "queue", "lead_capture", "rate_limits"}
    assert components["database"]["status"] == "ok"


async def test_workers_down_when_no_worker_runs(client: httpx.AsyncClient) -> None:
    workers = (await client.get("/status")).json()["components"]["workers"]
    assert (workers["status"], workers["summary"]) == ("down", "no workers are running")


async def test_workers_report_heartbeat_age(client: httpx.AsyncClient, db: Database) -> None:
    beat = utcnow() - dt.timedelta(seconds=5)
    async with db.session() as session:
        session.add(WorkerRecord(name="w1", hostname="h", pid=1, started_at=beat, heartbeat_at=beat, concurrency=1))
    workers = (await client.get("/status")).json()["components"]["workers"]
    assert workers["status"] == "ok"
    assert 4 <= workers["details"]["heartbeat_age_seconds"]["w1"] < 60


async def test_workers_with_a_stale_heartbeat_are_down(client: httpx.AsyncClient, db: Database) -> None:
    beat = utcnow() - dt.timedelta(minutes=10)
    async with db.session() as session:
        session.add(WorkerRecord(name="w1", hostname="h", pid=1, started_at=beat, heartbeat_at=beat, concurrency=1))
    workers = (await client.get("/status")).json()["components"]["workers"]
    assert workers["status"] == "down"


async def test_queue_shows_depth_and_oldest_due_age_per_workflow(client: httpx.AsyncClient, db: Database,
                                                                 mrdj) -> None:
    now = utcnow()
    async with db.session() as session:
        for minutes, state in ((3, "queued"), (1, "queued"), (10, "succeeded"), (-5, "queued")):
            session.add(AutomationRun(tenant_id=mrdj.id, workflow_key="lead_intake", trigger_type="lead.created",
                                      subject_type="lead", status=state,
                                      run_after=now - dt.timedelta(minutes=minutes)))
    queue = (await client.get("/status")).json()["components"]["queue"]
    lead_intake = queue["details"]["workflows"]["lead_intake"]
    assert lead_intake["depth"] == 2
    assert 179 <= lead_intake["oldest_due_age_seconds"] < 200
    assert queue["status"] == "degraded"


async def test_lead_capture_error_rate_counts_recent_outcomes(client: httpx.AsyncClient, mrdj) -> None:
    await client.post(PUBLIC, json=form())
    await client.post(PUBLIC, json=form(email="bad"))
    tally.record(None, "mrdj", "public", "error")
    lead_capture = (await client.get("/status")).json()["components"]["lead_capture"]
    mrdj_counts = lead_capture["details"]["tenants"]["mrdj"]
    assert mrdj_counts["outcomes"] == {"created": 1, "rejected": 1, "error": 1}
    assert mrdj_counts["error_rate"] == round(1 / 3, 4)
    assert lead_capture["status"] == "down"


async def test_rate_limit_profile_per_tenant_is_shown(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    async with db.session() as session:
        await service.set_profile(session, mrdj, "relaxed", actor="bart", duration=dt.timedelta(hours=2))
    details = (await client.get("/status")).json()["components"]["rate_limits"]["details"]
    assert details["tenants"]["mrdj"]["profile"] == "relaxed" and details["tenants"]["mrdj"]["until"]


async def test_html_when_asked_and_everything_escaped(client: httpx.AsyncClient) -> None:
    async def hostile(_db: Database) -> ComponentStatus:
        return ComponentStatus("ok", "<script>alert('x')</script>")

    register_component("hostile", hostile)
    try:
        response = await client.get("/status", headers={"Accept": "text/html,application/xhtml+xml"})
    finally:
        status._components.pop("hostile")
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in response.text


async def test_a_failing_check_marks_its_component_down(client: httpx.AsyncClient) -> None:
    async def broken(_db: Database) -> ComponentStatus:
        raise RuntimeError("boom")

    register_component("broken", broken)
    try:
        response = await client.get("/status")
    finally:
        status._components.pop("broken")
    assert response.status_code == 503
    assert response.json()["components"]["broken"]["status"] == "down"
