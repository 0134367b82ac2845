"""Waits, due dates and date conditions count in the tenant's time zone, across summer-time switches, and a
parked `wait until` moves when the record it waits on changes (through the CRM API or a workflow step)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rentguy_crm.automation.engine.schedules import emit_event_completed
from rentguy_crm.automation.runs import queue
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows import service as workflows_service
from rentguy_crm.crm.models import Activity, Deal
from rentguy_crm.db import Database
from rentguy_crm.tenants.models import Tenant
from tests.automation_support import Clock, get_run, install_workflow, queued_run, run_due, workflow_doc
from tests.factories import Factory
from tests.table_counts import events_of

CRM = "/api/v1/crm"


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


@pytest.fixture
async def qdb(db: Database) -> AsyncIterator[queue.QueueDatabase]:
    database = queue.QueueDatabase(db.url)
    yield database
    await database.dispose()


async def _library(db: Database, slug: str) -> None:
    async with db.session() as session:
        await workflows_service.sync(session, slug)


async def _completed_deal(client: httpx.AsyncClient, factory: Factory, tenant: Tenant, event_date: dt.date,
                          ) -> tuple[Deal, dict[str, str]]:
    """A booked deal moved to `completed` through the CRM API, with the tenant's workflow library."""
    await _library(factory.db, tenant.slug)
    headers = await factory.headers(tenant, "sales")
    deal = await factory.deal(tenant, stage_key="booked", event_date=event_date)
    response = await client.post(f"{CRM}/deals/{deal.id}/stage", headers=headers, json={"stage": "completed"})
    assert response.status_code == 200, response.text
    return deal, headers


async def _post_event_runs(db: Database, deal_id: int) -> list[AutomationRun]:
    async with db.session() as session:
        return list((await session.scalars(select(AutomationRun).where(
            AutomationRun.workflow_key == "post_event_care", AutomationRun.deal_id == deal_id)
            .order_by(AutomationRun.id))).all())


async def _parked_run(db: Database, qdb: queue.QueueDatabase, clock: Clock, deal_id: int) -> AutomationRun:
    assert await run_due(qdb, clock) == ["waiting"]
    [run] = await _post_event_runs(db, deal_id)
    assert run.status == "waiting"
    return run


# --- post-event care: wait until the day after the event, 10:00 local time -----------------------------------

async def test_post_event_care_waits_until_10_amsterdam_the_day_after_an_event_before_spring_forward(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    deal, _ = await _completed_deal(client, factory, mrdj, dt.date(2027, 3, 27))
    run = await _parked_run(db, qdb, Clock(utc(2027, 3, 27, 22, 0)), deal.id)
    # 28 March 2027 is the day the clocks go to summer time: 10:00 CEST is 08:00 UTC.
    assert run.run_after == utc(2027, 3, 28, 8, 0)
    assert [e["status"] for e in run.step_log] == ["waiting"]
    assert run.last_error_type is None


async def test_post_event_care_waits_until_10_amsterdam_the_day_after_an_event_before_fall_back(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    deal, _ = await _completed_deal(client, factory, mrdj, dt.date(2027, 10, 30))
    run = await _parked_run(db, qdb, Clock(utc(2027, 10, 30, 22, 0)), deal.id)
    assert run.run_after == utc(2027, 10, 31, 9, 0)  # 31 October: back to CET, 10:00 is 09:00 UTC


async def test_post_event_care_counts_in_a_southern_hemisphere_tenants_zone(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory) -> None:
    sydney = await factory.tenant("sydney", timezone="Australia/Sydney")
    deal, _ = await _completed_deal(client, factory, sydney, dt.date(2027, 10, 2))
    run = await _parked_run(db, qdb, Clock(utc(2027, 10, 2, 12, 0)), deal.id)
    assert run.run_after == utc(2027, 10, 2, 23, 0)  # 3 October 10:00 AEDT (UTC+11), the first day of summer time


async def test_post_event_care_wakes_at_its_moment_not_before(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    deal, _ = await _completed_deal(client, factory, mrdj, dt.date(2027, 3, 27))
    clock = Clock(utc(2027, 3, 27, 22, 0))
    await _parked_run(db, qdb, clock, deal.id)
    clock.now = utc(2027, 3, 28, 7, 59)  # 09:59 local
    async with qdb.session() as session:
        assert await queue.claim_due_runs(session, owner="w", now=clock(), lease=dt.timedelta(seconds=30),
                                          limit=10) == []
    clock.now = utc(2027, 3, 28, 8, 0)
    async with qdb.session() as session:
        claims = await queue.claim_due_runs(session, owner="w", now=clock(), lease=dt.timedelta(seconds=30),
                                            limit=10)
    assert [c.workflow_key for c in claims] == ["post_event_care"]


# --- editing the event date while the run waits moves the wait ----------------------------------------------

async def test_patching_the_event_date_later_moves_the_parked_run_later(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    deal, headers = await _completed_deal(client, factory, mrdj, dt.date(2027, 3, 27))
    clock = Clock(utc(2027, 3, 27, 22, 0))
    await _parked_run(db, qdb, clock, deal.id)
    response = await client.patch(f"{CRM}/deals/{deal.id}", headers=headers, json={"event_date": "2027-04-10"})
    assert response.status_code == 200, response.text
    [run] = await _post_event_runs(db, deal.id)
    assert (run.status, run.run_after, run.sla_due_at) == ("waiting", utc(2027, 4, 11, 8, 0), utc(2027, 4, 11, 9, 0))
    clock.now = utc(2027, 3, 28, 8, 0)  # the old moment: nothing is due any more
    assert await run_due(qdb, clock) == []


async def test_patching_the_event_date_earlier_makes_the_parked_run_due_sooner(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    deal, headers = await _completed_deal(client, factory, mrdj, dt.date(2027, 10, 30))
    await _parked_run(db, qdb, Clock(utc(2027, 10, 1, 12, 0)), deal.id)
    response = await client.patch(f"{CRM}/deals/{deal.id}", headers=headers, json={"event_date": "2027-10-16"})
    assert response.status_code == 200, response.text
    [run] = await _post_event_runs(db, deal.id)
    assert run.run_after == utc(2027, 10, 17, 8, 0)  # 17 October 10:00 CEST
    async with qdb.session() as session:
        claims = await queue.claim_due_runs(session, owner="w", now=utc(2027, 10, 17, 8, 0),
                                            lease=dt.timedelta(seconds=30), limit=10)
    assert [c.id for c in claims] == [run.id]


async def test_patching_another_field_leaves_the_parked_run_where_it_was(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    deal, headers = await _completed_deal(client, factory, mrdj, dt.date(2027, 3, 27))
    await _parked_run(db, qdb, Clock(utc(2027, 3, 27, 22, 0)), deal.id)
    response = await client.patch(f"{CRM}/deals/{deal.id}", headers=headers, json={"owner": "lisa@mr-dj.nl"})
    assert response.status_code == 200
    [run] = await _post_event_runs(db, deal.id)
    assert run.run_after == utc(2027, 3, 28, 8, 0)


async def test_a_workflow_step_that_changes_the_event_date_moves_the_parked_run(
        db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    await install_workflow(db, mrdj, workflow_doc("post_event_care", triggers=[{"event": "manual"}], steps=[
        {"type": "wait", "until": "deal.event_date + 1 day + 10 hours"},
        {"type": "create_task", "title": "Enquête"}]))
    await install_workflow(db, mrdj, workflow_doc("reschedule", triggers=[{"event": "manual"}], steps=[
        {"type": "update_record", "record": "deal", "field": "event_date", "value": "2027-10-30"}]))
    deal = await factory.deal(mrdj, stage_key="completed", event_date=dt.date(2027, 3, 27))
    from rentguy_crm.automation.runs.service import start_manual_run

    clock = Clock(utc(2027, 3, 1, 9, 0))
    async with db.session() as session:
        await start_manual_run(session, mrdj, "post_event_care", deal_id=deal.id)
    assert await run_due(qdb, clock) == ["waiting"]
    async with db.session() as session:
        await start_manual_run(session, mrdj, "reschedule", deal_id=deal.id)
    assert await run_due(qdb, clock) == ["succeeded"]
    async with db.session() as session:
        stored = await session.get(Deal, deal.id)
        assert stored is not None and stored.event_date == dt.date(2027, 10, 30)  # a date on both databases
    [run] = await _post_event_runs(db, deal.id)
    assert run.run_after == utc(2027, 10, 31, 9, 0)
    assert [e.payload["changed"] for e in await events_of(db, "deal.updated")] == [["event_date"]]


# --- durations, due dates and conditions on the tenant's calendar --------------------------------------------

async def _lead_run(db: Database, factory: Factory, tenant: Tenant, steps: list[dict[str, Any]],
                    clock: Clock, **lead: Any) -> AutomationRun:
    workflow = await install_workflow(db, tenant, workflow_doc("calendar", steps=steps))
    created = await factory.lead(tenant, **lead)
    return await queued_run(db, workflow, lead_id=created.id, now=clock())


async def test_wait_of_one_day_across_spring_forward_ends_at_the_same_local_time(
        db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    clock = Clock(utc(2027, 3, 27, 9, 0))  # Saturday 10:00 CET
    run = await _lead_run(db, factory, mrdj, [{"type": "wait", "duration": "1 day"},
                                               {"type": "create_task", "title": "Bel"}], clock)
    assert await run_due(qdb, clock) == ["waiting"]
    assert (await get_run(db, run.id)).run_after == utc(2027, 3, 28, 8, 0)  # Sunday 10:00 CEST


async def test_wait_of_hours_is_elapsed_time_across_fall_back(
        db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    clock = Clock(utc(2027, 10, 30, 23, 30))  # 01:30 CEST, the night the clocks go back
    run = await _lead_run(db, factory, mrdj, [{"type": "wait", "duration": "2h"},
                                               {"type": "create_task", "title": "Bel"}], clock)
    assert await run_due(qdb, clock) == ["waiting"]
    assert (await get_run(db, run.id)).run_after == utc(2027, 10, 31, 1, 30)


async def test_a_run_that_waits_for_weeks_finishes_and_records_its_duration(
        db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    """Post-event care of a deal completed a month before the gig: the run lasts longer than a 32-bit count of
    milliseconds (24.8 days) holds, on both databases."""
    clock = Clock(utc(2027, 2, 1, 9, 0))
    run = await _lead_run(db, factory, mrdj, [{"type": "wait", "duration": "40 days"},
                                               {"type": "create_task", "title": "Bel"}], clock)
    assert await run_due(qdb, clock) == ["waiting"]
    clock.advance(days=41)
    assert await run_due(qdb, clock) == ["succeeded"]
    finished = await get_run(db, run.id)
    assert finished.status == "succeeded"
    assert finished.duration_ms == 41 * 24 * 3600 * 1000


async def test_task_due_in_a_day_across_spring_forward_is_due_at_the_same_local_time(
        db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    clock = Clock(utc(2027, 3, 27, 11, 0))  # Saturday 12:00 CET
    await _lead_run(db, factory, mrdj, [{"type": "create_task", "title": "Bel", "due_in": "1 day"}], clock)
    assert await run_due(qdb, clock) == ["succeeded"]
    async with db.session() as session:
        [task] = (await session.scalars(select(Activity))).all()
    assert task.due_at == utc(2027, 3, 28, 10, 0)  # Sunday 12:00 CEST


async def test_branch_condition_counts_days_on_the_tenants_calendar_and_the_workers_clock(
        db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    # 23:30 UTC on 27 March is already 28 March in Amsterdam: the event is today, not tomorrow.
    clock = Clock(utc(2027, 3, 27, 23, 30))
    await _lead_run(db, factory, mrdj, [{"type": "branch", "condition": "days_until(lead.event_date) == 0",
                                          "then": [{"type": "create_task", "title": "Vandaag is het feest"}]}],
                    clock, event_date=dt.date(2027, 3, 28))
    assert await run_due(qdb, clock) == ["succeeded"]
    async with db.session() as session:
        titles = (await session.scalars(select(Activity.title))).all()
    assert titles == ["Vandaag is het feest"]


# --- the daily event.completed job -----------------------------------------------------------------------------

async def test_event_completed_job_waits_for_the_end_of_the_event_day_in_the_tenants_zone(
        db: Database, factory: Factory, mrdj: Tenant) -> None:
    los_angeles = await factory.tenant("losangeles", timezone="America/Los_Angeles")
    here = await factory.deal(mrdj, stage_key="booked", event_date=dt.date(2027, 3, 27))
    there = await factory.deal(los_angeles, stage_key="booked", event_date=dt.date(2027, 3, 27))
    async with db.session() as session:  # 06:00 UTC on 28 March: 08:00 in Amsterdam, still 27 March 23:00 in LA
        assert await emit_event_completed(session, utc(2027, 3, 28, 6, 0)) == {"emitted": 1}
    async with db.session() as session:  # a day later both events have passed; neither is reported twice
        assert await emit_event_completed(session, utc(2027, 3, 29, 6, 0)) == {"emitted": 1}
    reported = [(e.tenant_id, e.subject_id, e.payload["event_date"]) for e in await events_of(db, "event.completed")]
    assert reported == [(mrdj.id, here.id, "2027-03-27"), (los_angeles.id, there.id, "2027-03-27")]


# --- the SLA clock stops while a run waits ---------------------------------------------------------------------

@pytest.mark.parametrize("grouped", [False, True], ids=["one by one", "group commit"])
async def test_a_run_parked_until_the_day_after_the_event_is_not_in_breach_of_its_sla(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant,
        grouped: bool) -> None:
    from rentguy_crm.automation.engine.executor import RunExecutor
    from rentguy_crm.automation.engine.schedules import mark_sla_breaches

    deal, _ = await _completed_deal(client, factory, mrdj, dt.date(2027, 3, 27))
    clock = Clock(utc(2027, 3, 27, 20, 0))
    executor = RunExecutor(qdb, "worker-a", clock=clock)
    if grouped:
        async with qdb.session() as session:
            claims = await queue.claim_due_runs(session, owner="worker-a", now=clock(), lease=executor.lease,
                                                limit=10)
        outcomes, rest = await executor.execute_group(claims)
        assert (list(outcomes.values()), rest) == (["waiting"], [])
    else:
        assert await run_due(qdb, clock, executor=executor) == ["waiting"]
    [run] = await _post_event_runs(db, deal.id)
    assert run.sla_due_at == utc(2027, 3, 28, 9, 0)  # an hour (post_event_care's SLA) after it wakes
    async with db.session() as session:  # the next morning, still parked: not late
        await mark_sla_breaches(session, utc(2027, 3, 28, 7, 0))
    [run] = await _post_event_runs(db, deal.id)
    assert run.sla_breached is False
    assert await events_of(db, "automation.sla_breached") == []


# --- every door that changes a lead moves its parked waits -----------------------------------------------------

async def _lead_waiting_for_its_event(client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase,
                                      factory: Factory, tenant: Tenant) -> tuple[AutomationRun, dict[str, str]]:
    await install_workflow(db, tenant, workflow_doc("pre_event_check", steps=[
        {"type": "wait", "until": "lead.event_date - 2 days + 9 hours"},
        {"type": "create_task", "title": "Draaiboek doorlopen"}]))
    headers = await factory.headers(tenant, "sales")
    body = {"first_name": "Anna", "email": "anna@example.nl", "event_type": "bruiloft", "external_id": "web-7",
            "event_date": "2027-06-12"}
    assert (await client.post("/api/v1/leads", json=body, headers=headers)).status_code == 201
    assert await run_due(qdb, Clock(utc(2027, 5, 1, 12, 0))) == ["waiting"]
    async with db.session() as session:
        run = (await session.scalars(select(AutomationRun))).one()
    assert run.run_after == utc(2027, 6, 10, 7, 0)  # 10 June 09:00 CEST
    return run, headers


async def test_a_lead_reposted_with_another_event_date_moves_its_parked_run(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    run, headers = await _lead_waiting_for_its_event(client, db, qdb, factory, mrdj)
    body = {"first_name": "Anna", "email": "anna@example.nl", "event_type": "bruiloft", "external_id": "web-7",
            "event_date": "2027-06-19"}
    assert (await client.post("/api/v1/leads", json=body, headers=headers)).status_code == 200
    assert (await get_run(db, run.id)).run_after == utc(2027, 6, 17, 7, 0)


async def test_patching_a_leads_event_date_moves_its_parked_run(
        client: httpx.AsyncClient, db: Database, qdb: queue.QueueDatabase, factory: Factory, mrdj: Tenant) -> None:
    run, headers = await _lead_waiting_for_its_event(client, db, qdb, factory, mrdj)
    response = await client.patch(f"{CRM}/leads/{run.lead_id}", headers=headers, json={"event_date": "2027-11-06"})
    assert response.status_code == 200, response.text
    assert (await get_run(db, run.id)).run_after == utc(2027, 11, 4, 8, 0)  # 4 November 09:00 CET
