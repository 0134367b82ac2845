"""One run per workflow per triggering change, however many routes lead there: trigger lists, a stage's
`automation_flow`, both stage events, the daily `event.completed` job, retried webhooks, concurrent processes.
Manual starts are deliberate and may repeat."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rentguy_crm.automation.engine.schedules import emit_event_completed
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.runs.service import start_manual_run
from rentguy_crm.automation.workflows import service as workflows_service
from rentguy_crm.crm.models import Deal
from rentguy_crm.db import Database
from rentguy_crm.events.service import emit, emit_with_runs
from rentguy_crm.tenants.models import Tenant
from tests.automation_support import install_workflow, workflow_doc
from tests.factories import Factory
from tests.table_counts import events_of

CRM = "/api/v1/crm"


async def _runs(db: Database, workflow_key: str | None = None) -> list[AutomationRun]:
    async with db.session() as session:
        query = select(AutomationRun).order_by(AutomationRun.id)
        if workflow_key is not None:
            query = query.where(AutomationRun.workflow_key == workflow_key)
        return list((await session.scalars(query)).all())


async def _with_library(db: Database, factory: Factory, tenant: Tenant) -> dict[str, str]:
    async with db.session() as session:
        await workflows_service.sync(session, tenant.slug)
    return await factory.headers(tenant, "sales")


async def _move(client: httpx.AsyncClient, headers: dict[str, str], deal: Deal, stage: str) -> None:
    response = await client.post(f"{CRM}/deals/{deal.id}/stage", headers=headers, json={"stage": stage})
    assert response.status_code == 200, response.text


# --- stage moves --------------------------------------------------------------------------------------------

async def test_moving_a_deal_to_proposal_sent_starts_one_proposal_followup(
        client: httpx.AsyncClient, db: Database, factory: Factory, mrdj: Tenant) -> None:
    headers = await _with_library(db, factory, mrdj)
    deal = await factory.deal(mrdj, stage_key="qualified")
    await _move(client, headers, deal, "proposal_sent")
    # Three routes lead here: the trigger deal.stage.proposal_sent, the stage's automation_flow, and both events.
    assert len(await events_of(db, "deal.stage.")) == 2
    runs = await _runs(db)
    assert [(r.workflow_key, r.deal_id, r.status) for r in runs] == [("proposal_followup", deal.id, "queued")]


async def test_moving_on_to_negotiation_starts_what_that_stage_names_once(
        client: httpx.AsyncClient, db: Database, factory: Factory, mrdj: Tenant) -> None:
    headers = await _with_library(db, factory, mrdj)
    deal = await factory.deal(mrdj, stage_key="qualified")
    await _move(client, headers, deal, "proposal_sent")
    await _move(client, headers, deal, "negotiation")
    await _move(client, headers, deal, "negotiation")  # a retried call changes nothing
    runs = await _runs(db, "proposal_followup")
    assert len(runs) == 2  # one per move
    assert len({r.trigger_event_id for r in runs}) == 2


async def test_a_stage_flow_that_is_also_a_trigger_of_another_stage_event_starts_once(
        client: httpx.AsyncClient, db: Database, factory: Factory, mrdj: Tenant) -> None:
    await install_workflow(db, mrdj, workflow_doc("proposal_followup", triggers=[
        {"event": "deal.stage.changed"}, {"event": "deal.stage.proposal_sent"}]))
    headers = await factory.headers(mrdj, "sales")
    deal = await factory.deal(mrdj, stage_key="qualified")
    await _move(client, headers, deal, "proposal_sent")
    assert [r.workflow_key for r in await _runs(db)] == ["proposal_followup"]


# --- post-event care: one run per deal ---------------------------------------------------------------------

async def test_completed_deal_and_the_daily_event_completed_job_make_one_post_event_care_run(
        client: httpx.AsyncClient, db: Database, factory: Factory, mrdj: Tenant) -> None:
    headers = await _with_library(db, factory, mrdj)
    deal = await factory.deal(mrdj, stage_key="booked", event_date=dt.date(2027, 3, 27))
    await _move(client, headers, deal, "completed")
    async with db.session() as session:
        assert await emit_event_completed(session, dt.datetime(2027, 3, 28, 6, 0, tzinfo=dt.UTC)) == {"emitted": 1}
    assert len(await events_of(db, "event.completed")) == 1  # the job did fire
    runs = await _runs(db, "post_event_care")
    assert [(r.deal_id, r.trigger_type) for r in runs] == [(deal.id, "deal.stage.changed")]


async def test_daily_job_first_then_moving_to_completed_still_makes_one_post_event_care_run(
        client: httpx.AsyncClient, db: Database, factory: Factory, mrdj: Tenant) -> None:
    headers = await _with_library(db, factory, mrdj)
    deal = await factory.deal(mrdj, stage_key="booked", event_date=dt.date(2027, 3, 27))
    async with db.session() as session:
        await emit_event_completed(session, dt.datetime(2027, 3, 28, 6, 0, tzinfo=dt.UTC))
    await _move(client, headers, deal, "completed")
    await _move(client, headers, deal, "booked")
    await _move(client, headers, deal, "completed")  # moved back and forth: the deal had its run
    runs = await _runs(db, "post_event_care")
    assert [(r.deal_id, r.trigger_type) for r in runs] == [(deal.id, "event.completed")]


async def test_a_finished_post_event_care_run_is_not_started_again(
        client: httpx.AsyncClient, db: Database, factory: Factory, mrdj: Tenant) -> None:
    headers = await _with_library(db, factory, mrdj)
    deal = await factory.deal(mrdj, stage_key="booked", event_date=dt.date(2027, 3, 27))
    await _move(client, headers, deal, "completed")
    async with db.session() as session:
        run = (await session.scalars(select(AutomationRun))).one()
        run.status = "succeeded"
    async with db.session() as session:
        await emit_event_completed(session, dt.datetime(2027, 3, 28, 6, 0, tzinfo=dt.UTC))
    assert [r.status for r in await _runs(db, "post_event_care")] == ["succeeded"]


async def test_each_deal_gets_its_own_post_event_care_run(
        client: httpx.AsyncClient, db: Database, factory: Factory, mrdj: Tenant) -> None:
    headers = await _with_library(db, factory, mrdj)
    deals = [await factory.deal(mrdj, stage_key="booked", event_date=dt.date(2027, 3, 27)) for _ in range(2)]
    for deal in deals:
        await _move(client, headers, deal, "completed")
    assert sorted(r.deal_id for r in await _runs(db, "post_event_care")) == sorted(d.id for d in deals)


async def test_the_daily_job_still_starts_other_workflows_for_a_deal_that_had_its_post_event_care(
        db: Database, factory: Factory, mrdj: Tenant) -> None:
    await install_workflow(db, mrdj, workflow_doc("post_event_care", once_per="subject", triggers=[
        {"event": "deal.stage.completed"}, {"event": "event.completed"}]))
    await install_workflow(db, mrdj, workflow_doc("review_request", triggers=[{"event": "event.completed"}]))
    deal = await factory.deal(mrdj, stage_key="completed", event_date=dt.date(2027, 3, 27))
    async with db.session() as session:
        await emit(session, mrdj.id, "deal.stage.completed", subject_type="deal", subject_id=deal.id,
                   payload={"deal_id": deal.id})
    async with db.session() as session:  # one statement: post_event_care is skipped, review_request inserted
        _event, started = await emit_with_runs(session, mrdj.id, "event.completed", subject_type="deal",
                                               subject_id=deal.id, payload={"deal_id": deal.id})
        assert [(r.workflow_key, r.trigger_type) for r in started] == [("review_request", "event.completed")]
    assert sorted((r.workflow_key, r.trigger_type) for r in await _runs(db)) == [
        ("post_event_care", "deal.stage.completed"), ("review_request", "event.completed")]


# --- other doors -------------------------------------------------------------------------------------------

async def test_a_payment_reported_twice_starts_its_workflow_once(db: Database, factory: Factory,
                                                                 mrdj: Tenant) -> None:
    await install_workflow(db, mrdj, workflow_doc("payment_thanks", triggers=[{"event": "payment.received"}]))
    deal = await factory.deal(mrdj, stage_key="booked")

    async def received(payment_id: str) -> None:
        async with db.session() as session:
            await emit(session, mrdj.id, "payment.received", subject_type="deal", subject_id=deal.id,
                       payload={"deal_id": deal.id, "payment_id": payment_id}, change=f"payment:{payment_id}:paid")

    await received("tr_WDqYK6vllg")
    await received("tr_WDqYK6vllg")  # the webhook retried
    await received("tr_7UhSN1zuXS")  # another payment
    runs = await _runs(db, "payment_thanks")
    assert [r.dedupe_key for r in runs] == ["payment_thanks:payment:tr_WDqYK6vllg:paid",
                                            "payment_thanks:payment:tr_7UhSN1zuXS:paid"]


async def test_manual_starts_are_deliberate_and_may_repeat(db: Database, factory: Factory, mrdj: Tenant) -> None:
    await install_workflow(db, mrdj, workflow_doc("post_event_care", triggers=[{"event": "event.completed"}],
                                                  once_per="subject"))
    deal = await factory.deal(mrdj, stage_key="completed")
    for _ in range(2):
        async with db.session() as session:
            await start_manual_run(session, mrdj, "post_event_care", deal_id=deal.id)
    async with db.session() as session:
        await emit(session, mrdj.id, "event.completed", subject_type="deal", subject_id=deal.id,
                   payload={"deal_id": deal.id})
    runs = await _runs(db)
    assert [(r.trigger_type, r.dedupe_key) for r in runs] == [
        ("manual", None), ("manual", None), ("event.completed", f"post_event_care:deal:{deal.id}")]


@pytest.mark.parametrize("once_per, key", [("change", "lead_intake:event:{event}"),
                                           ("subject", "lead_intake:lead:{lead}")])
async def test_a_captured_lead_stores_the_same_dedupe_key_on_either_database(
        client: httpx.AsyncClient, db: Database, factory: Factory, mrdj: Tenant, once_per: str, key: str) -> None:
    """Postgres writes a new person's runs in the lead's own statement, SQLite step by step: same keys."""
    await install_workflow(db, mrdj, workflow_doc("lead_intake", once_per=once_per))
    headers = await factory.headers(mrdj, "sales")
    body: dict[str, Any] = {"first_name": "Anna", "email": "anna@example.nl", "event_type": "bruiloft"}
    response = await client.post("/api/v1/leads", json=body, headers=headers)
    assert response.status_code == 201, response.text
    [run] = await _runs(db)
    assert run.dedupe_key == key.format(event=run.trigger_event_id, lead=response.json()["lead_id"])


async def test_two_processes_dispatching_the_same_deal_at_once_make_one_run(
        db: Database, factory: Factory, mrdj: Tenant) -> None:
    if db.dialect != "postgresql":
        pytest.skip("concurrent writers are a Postgres matter; SQLite serialises them")
    await install_workflow(db, mrdj, workflow_doc("post_event_care", once_per="subject", triggers=[
        {"event": "event.completed"}, {"event": "deal.stage.completed"}]))
    deal = await factory.deal(mrdj, stage_key="completed")
    first_wrote = asyncio.Event()
    second_started = asyncio.Event()

    async def first() -> None:
        async with db.session() as session:
            await emit(session, mrdj.id, "event.completed", subject_type="deal", subject_id=deal.id,
                       payload={"deal_id": deal.id})
            first_wrote.set()
            await second_started.wait()
            await asyncio.sleep(0.05)  # let the second reach the index; either order must give one run

    async def second() -> None:
        await first_wrote.wait()
        async with db.session() as session:
            second_started.set()
            await emit(session, mrdj.id, "deal.stage.completed", subject_type="deal", subject_id=deal.id,
                       payload={"deal_id": deal.id})

    await asyncio.gather(first(), second())
    assert len(await events_of(db, "")) == 2
    assert [r.trigger_type for r in await _runs(db)] == ["event.completed"]


async def test_two_identical_moves_at_once_are_one_change(
        client: httpx.AsyncClient, db: Database, factory: Factory, mrdj: Tenant) -> None:
    if db.dialect != "postgresql":
        pytest.skip("concurrent writers are a Postgres matter; SQLite serialises them")
    headers = await _with_library(db, factory, mrdj)
    deal = await factory.deal(mrdj, stage_key="qualified")
    await asyncio.gather(_move(client, headers, deal, "proposal_sent"), _move(client, headers, deal, "proposal_sent"))
    assert len(await events_of(db, "deal.stage.changed")) == 1
    assert [r.workflow_key for r in await _runs(db)] == ["proposal_followup"]
