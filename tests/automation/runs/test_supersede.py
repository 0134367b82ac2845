"""`on_new_run: supersede`: a deal moved proposal_sent → negotiation gets one WhatsApp reminder and one task, not
one per stage it passed; the replaced run is cancelled naming its successor; a run in the middle of a step
finishes that step; the default (`keep`) leaves earlier runs alone."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rentguy_crm.automation.engine import step_registry
from rentguy_crm.automation.engine.executor import RunExecutor
from rentguy_crm.automation.engine.step_registry import StepContext, StepResult
from rentguy_crm.automation.runs import queue
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows.definitions import WorkflowDefinition
from rentguy_crm.crm.models import Activity, Deal
from rentguy_crm.db import Database
from rentguy_crm.tenants.models import Tenant
from tests.automation_support import Clock, install_workflow, run_due, workflow_doc
from tests.factories import Factory
from tests.templates_support import DeliveryFakes, run_worker, working_tenant
from tests.worker_support import HANG

PHONE = "+31612345678"
STAGE_TRIGGERS = [{"event": "deal.stage.proposal_sent"}, {"event": "deal.stage.negotiation"}]


@pytest.fixture
async def fakes() -> Any:
    async with DeliveryFakes() as running:
        yield running


async def _deal(factory: Factory, tenant: Tenant) -> Deal:
    contact = await factory.contact(tenant, first_name="Anna", phone=PHONE, email="anna@example.nl")
    return await factory.deal(tenant, contact, stage_key="qualified", owner="sanne@mr-dj.nl")


async def _move(client: httpx.AsyncClient, headers: dict[str, str], deal: Deal, stage: str) -> None:
    response = await client.post(f"/api/v1/crm/deals/{deal.id}/stage", headers=headers, json={"stage": stage})
    assert response.status_code == 200, response.text


async def _runs(db: Database, deal: Deal) -> list[AutomationRun]:
    async with db.session() as session:
        return list((await session.scalars(select(AutomationRun).where(AutomationRun.deal_id == deal.id)
                                           .order_by(AutomationRun.id))).all())


async def _tasks(db: Database, deal: Deal) -> list[Activity]:
    async with db.session() as session:
        return list((await session.scalars(select(Activity).where(Activity.deal_id == deal.id,
                                                                  Activity.kind == "task"))).all())


async def test_deal_moved_on_to_negotiation_gets_one_whatsapp_and_one_task_after_the_wait(
        client: httpx.AsyncClient, db: Database, factory: Factory, fakes: DeliveryFakes,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv))  # the library's proposal_followup
    headers = await factory.headers(tenant, "sales")
    deal = await _deal(factory, tenant)
    now = dt.datetime.now(dt.UTC)
    await _move(client, headers, deal, "proposal_sent")
    assert await run_worker(db, Clock(now + dt.timedelta(minutes=1))) == ["waiting"]
    await _move(client, headers, deal, "negotiation")
    first, second = await _runs(db, deal)
    assert (first.status, first.last_error_type) == ("cancelled", "Superseded")
    assert f"superseded by run {second.id}" in (first.last_error_message or "")
    assert first.step_log[-1]["status"] == "cancelled"
    assert first.step_log[-1]["superseded_by"] == second.id
    assert first.completed_at is not None

    assert await run_worker(db, Clock(now + dt.timedelta(minutes=2))) == ["waiting"]
    assert await run_worker(db, Clock(now + dt.timedelta(days=2, hours=1))) == ["succeeded"]
    assert len(fakes.whatsapp.requests) == 1
    [task] = await _tasks(db, deal)
    assert (task.title, task.owner) == ("Bel over de offerte", "sanne@mr-dj.nl")
    assert [r.status for r in await _runs(db, deal)] == ["cancelled", "succeeded"]


async def _held_followup(db: Database, factory: Factory) -> Tenant:
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc("proposal_followup", triggers=STAGE_TRIGGERS,
                                                    on_new_run="supersede", steps=[
        {"type": "notify", "template": "held"},
        {"type": "create_task", "title": "Bel over de offerte", "team": "sales"}]))
    return tenant


async def test_a_claimed_run_is_not_cancelled_underneath_its_worker_and_stops_before_its_next_step(
        client: httpx.AsyncClient, db: Database, factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    executed: list[int] = []

    async def notify(ctx: StepContext, step: Any) -> StepResult:
        executed.append(ctx.run_id)
        return StepResult.done()

    monkeypatch.setitem(step_registry._HANDLERS, "notify", notify)
    tenant = await _held_followup(db, factory)
    headers = await factory.headers(tenant, "sales")
    deal = await _deal(factory, tenant)
    await _move(client, headers, deal, "proposal_sent")
    clock = Clock(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    executor = RunExecutor(db, "worker-a", clock=clock)
    async with db.session() as session:
        [claim] = await queue.claim_due_runs(session, owner="worker-a", now=clock(), lease=executor.lease, limit=5)
    await _move(client, headers, deal, "negotiation")
    first, second = await _runs(db, deal)
    assert (first.status, first.lease_owner) == ("running", "worker-a")  # its worker still holds it

    assert await executor.execute(claim) == "cancelled"
    first, second = await _runs(db, deal)
    assert (first.status, first.last_error_type, first.lease_owner) == ("cancelled", "Superseded", None)
    assert f"superseded by run {second.id}" in (first.last_error_message or "")
    assert [(e["step"], e["status"], e.get("superseded_by")) for e in first.step_log] == [(0, "cancelled", second.id)]
    assert executed == []
    assert await run_due(db, clock) == ["succeeded"]  # the successor does the follow-up, once
    assert executed == [second.id]
    assert len(await _tasks(db, deal)) == 1


async def test_a_run_in_the_middle_of_a_step_finishes_it_and_stops_before_its_next(
        client: httpx.AsyncClient, db: Database, factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite holds its write lock through a step: no stage move lands in the middle of one")
    entered, release = asyncio.Event(), asyncio.Event()

    async def held_notify(ctx: StepContext, step: Any) -> StepResult:
        entered.set()
        await release.wait()
        return StepResult.done(sent=True)

    monkeypatch.setitem(step_registry._HANDLERS, "notify", held_notify)
    tenant = await _held_followup(db, factory)
    headers = await factory.headers(tenant, "sales")
    deal = await _deal(factory, tenant)
    await _move(client, headers, deal, "proposal_sent")
    worker = asyncio.create_task(run_due(db, Clock(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))))
    try:
        await asyncio.wait_for(entered.wait(), timeout=HANG)
        await asyncio.wait_for(_move(client, headers, deal, "negotiation"), timeout=HANG)  # while the step runs
        first, second = await _runs(db, deal)
        assert first.status == "running" and first.step_log[-1]["status"] == "started"
    finally:
        release.set()
    assert await asyncio.wait_for(worker, timeout=HANG) == ["cancelled"]

    first, second = await _runs(db, deal)
    assert [(e["step"], e["status"]) for e in first.step_log] == [(0, "started"), (0, "done"), (1, "cancelled")]
    assert first.step_log[1]["output"] == {"sent": True}  # the step in flight landed
    assert first.step_log[-1]["superseded_by"] == second.id
    assert first.status == "cancelled" and f"superseded by run {second.id}" in (first.last_error_message or "")
    assert second.status == "queued"
    assert await _tasks(db, deal) == []  # the replaced run's next step never ran


async def test_by_default_a_new_run_keeps_the_earlier_ones(
        client: httpx.AsyncClient, db: Database, factory: Factory) -> None:
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc("proposal_followup", triggers=STAGE_TRIGGERS, steps=[
        {"type": "wait", "duration": "2 days"},
        {"type": "create_task", "title": "Bel over de offerte", "team": "sales"}]))
    headers = await factory.headers(tenant, "sales")
    deal = await _deal(factory, tenant)
    now = dt.datetime.now(dt.UTC)
    await _move(client, headers, deal, "proposal_sent")
    assert await run_worker(db, Clock(now + dt.timedelta(minutes=1))) == ["waiting"]
    await _move(client, headers, deal, "negotiation")
    assert await run_worker(db, Clock(now + dt.timedelta(minutes=2))) == ["waiting"]
    assert sorted(await run_worker(db, Clock(now + dt.timedelta(days=2, hours=1)))) == ["succeeded", "succeeded"]
    assert len(await _tasks(db, deal)) == 2
    assert WorkflowDefinition.model_validate(workflow_doc()).on_new_run == "keep"


async def test_a_manual_start_is_neither_superseded_nor_supersedes(
        client: httpx.AsyncClient, db: Database, factory: Factory) -> None:
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc("proposal_followup", triggers=STAGE_TRIGGERS,
                                                    on_new_run="supersede", steps=[
        {"type": "wait", "duration": "2 days"},
        {"type": "create_task", "title": "Bel over de offerte", "team": "sales"}]))
    headers = await factory.headers(tenant, "sales")
    deal = await _deal(factory, tenant)
    await _move(client, headers, deal, "proposal_sent")
    started = await client.post("/api/v1/automation/runs", json={"workflow": "proposal_followup", "deal_id": deal.id},
                                headers=await factory.headers(tenant, "operations"))
    assert started.status_code == 201, started.text
    await _move(client, headers, deal, "negotiation")
    assert [(r.trigger_type, r.status) for r in await _runs(db, deal)] == [
        ("deal.stage.changed", "cancelled"), ("manual", "queued"), ("deal.stage.changed", "queued")]


def test_an_unknown_on_new_run_value_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="on_new_run"):
        WorkflowDefinition.model_validate(workflow_doc(on_new_run="replace"))
