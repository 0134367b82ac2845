"""The gig calendar sync against the Entra ID and Graph fakes, with the real MSAL and httpx clients."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.crm.calendar_sync.jobs import sync_tenant
from rentguy_crm.crm.calendar_sync.models import CalendarDeltaState, CalendarEventLink
from rentguy_crm.crm.calendar_sync.service import SyncReport
from rentguy_crm.crm.models import Deal
from rentguy_crm.db import Database
from rentguy_crm.events.models import Event
from rentguy_crm.integrations.graph.client import GraphError
from rentguy_crm.tenants.models import Tenant
from tests.factories import Factory
from tests.integrations.graph.fake import M365, graph_error

NOW = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
GIG_DAY = dt.date(2026, 6, 12)


async def tenant_with_calendar(factory: Factory, m365: M365, **overrides: Any) -> Tenant:
    return await factory.tenant("mrdj", calendar=m365.calendar_section(**overrides))


async def sync(db: Database, tenant: Tenant, *, sleeps: list[float] | None = None, full: bool = False,
               checkpoint_fails_after: int | None = None) -> SyncReport:
    waits = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with db.sessionmaker() as session:
        row = await session.get(Tenant, tenant.id)
        assert row is not None
        calls = [0]

        async def checkpoint() -> None:
            calls[0] += 1
            if checkpoint_fails_after is not None and calls[0] > checkpoint_fails_after:
                raise ConnectionError("the process was stopped")
            await session.commit()

        report = await sync_tenant(session, row, now=NOW, checkpoint=checkpoint, sleep=sleep, full=full)
        await session.commit()
        return report


async def links(db: Database) -> dict[int, CalendarEventLink]:
    async with db.session(read_only=True) as session:
        return {lk.deal_id: lk for lk in (await session.scalars(select(CalendarEventLink))).all()}


async def deal(db: Database, deal_id: int) -> Deal:
    async with db.session(read_only=True) as session:
        row = await session.get(Deal, deal_id)
        assert row is not None
        return row


async def set_deal(db: Database, deal_id: int, **values: Any) -> None:
    async with db.session() as session:
        row = await session.get(Deal, deal_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


async def audit_count(db: Database, deal_id: int) -> int:
    async with db.session(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity_type == "deal", AuditEntry.entity_id == str(deal_id),
            AuditEntry.actor == "m365:calendar-sync")) or 0)


async def test_booked_deals_with_a_date_become_all_day_events_once(db: Database, factory: Factory,
                                                                     m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    gig = await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY, title="Bruiloft 12 juni")
    await factory.deal(tenant, stage_key="proposal_sent", event_date=GIG_DAY)
    await factory.deal(tenant, stage_key="booked", event_date=None)
    report = await sync(db, tenant)
    assert report.events_created == [gig.id]
    [event] = m365.graph.events.values()
    assert event["subject"] == "Bruiloft 12 juni" and event["isAllDay"] is True
    assert event["start"] == {"dateTime": "2026-06-12T00:00:00", "timeZone": "Europe/Amsterdam"}
    assert event["end"]["dateTime"] == "2026-06-13T00:00:00"
    again = await sync(db, tenant)
    assert not again.changed and len(m365.graph.events) == 1
    assert (await links(db))[gig.id].graph_event_id == event["id"]


async def test_a_moved_date_is_patched_and_a_lost_deal_is_removed(db: Database, factory: Factory,
                                                                   m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    moved = await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY)
    lost = await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY)
    await sync(db, tenant)
    event_of = {d: lk.graph_event_id for d, lk in (await links(db)).items()}
    await set_deal(db, moved.id, event_date=dt.date(2026, 6, 19))
    await set_deal(db, lost.id, status="lost")
    report = await sync(db, tenant)
    assert report.events_updated == [moved.id] and report.events_deleted == [lost.id]
    assert m365.graph.day_of(event_of[moved.id]) == dt.date(2026, 6, 19)
    assert event_of[lost.id] not in m365.graph.events
    assert not (await sync(db, tenant)).changed  # the deletion coming back through the delta changes nothing


async def test_a_start_moved_in_outlook_later_than_the_deal_changed_moves_the_deal(db: Database, factory: Factory,
                                                                                   m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    gig = await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY)
    await sync(db, tenant)
    event_id = (await links(db))[gig.id].graph_event_id
    later = (await deal(db, gig.id)).updated_at + dt.timedelta(hours=1)
    m365.graph.move_in_outlook(event_id, dt.date(2026, 6, 13), modified_at=later)
    report = await sync(db, tenant)
    assert report.deals_moved_from_outlook == [gig.id]
    assert (await deal(db, gig.id)).event_date == dt.date(2026, 6, 13)
    assert await audit_count(db, gig.id) == 1
    async with db.session(read_only=True) as session:
        assert await session.scalar(select(func.count()).select_from(Event).where(
            Event.type == "deal.updated", Event.subject_id == gig.id)) == 1
    assert not (await sync(db, tenant)).changed


async def test_when_the_deal_changed_last_the_deal_wins_and_the_event_moves_back(db: Database, factory: Factory,
                                                                                 m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    gig = await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY)
    await sync(db, tenant)
    event_id = (await links(db))[gig.id].graph_event_id
    earlier = (await deal(db, gig.id)).updated_at - dt.timedelta(hours=1)
    m365.graph.move_in_outlook(event_id, dt.date(2026, 6, 13), modified_at=earlier)
    report = await sync(db, tenant)
    assert report.conflicts_won_by_deal == [gig.id] and report.events_updated == [gig.id]
    assert (await deal(db, gig.id)).event_date == GIG_DAY
    assert m365.graph.day_of(event_id) == GIG_DAY
    assert await audit_count(db, gig.id) == 0


async def test_an_event_deleted_in_outlook_clears_the_deals_date_and_is_not_made_again(
        db: Database, factory: Factory, m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    gig = await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY)
    await sync(db, tenant)
    m365.graph.delete_in_outlook((await links(db))[gig.id].graph_event_id)
    report = await sync(db, tenant)
    assert report.deals_cancelled_from_outlook == [gig.id]
    assert (await deal(db, gig.id)).event_date is None
    assert m365.graph.events == {} and report.events_created == []
    assert await audit_count(db, gig.id) == 1


async def test_changes_arrive_over_several_pages_and_the_delta_link_is_kept(db: Database, factory: Factory,
                                                                            m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    gigs = [await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY) for _ in range(5)]
    await sync(db, tenant)
    ids = await links(db)
    later = max([(await deal(db, g.id)).updated_at for g in gigs]) + dt.timedelta(hours=1)
    for number, gig in enumerate(gigs):
        m365.graph.move_in_outlook(ids[gig.id].graph_event_id, GIG_DAY + dt.timedelta(days=number + 1),
                                   modified_at=later)
    report = await sync(db, tenant)
    assert report.pages == 3  # 5 changes, 2 per page
    assert sorted(report.deals_moved_from_outlook) == sorted(g.id for g in gigs)
    async with db.session(read_only=True) as session:
        state = await session.scalar(select(CalendarDeltaState))
    assert state is not None and state.next_link is None and "$deltatoken=" in (state.delta_link or "")


async def test_a_round_cut_off_between_pages_loses_and_duplicates_nothing(db: Database, factory: Factory,
                                                                          m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    gigs = [await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY) for _ in range(5)]
    await sync(db, tenant)
    ids = await links(db)
    later = max([(await deal(db, g.id)).updated_at for g in gigs]) + dt.timedelta(hours=1)
    for number, gig in enumerate(gigs):
        m365.graph.move_in_outlook(ids[gig.id].graph_event_id, GIG_DAY + dt.timedelta(days=number + 1),
                                   modified_at=later)
    m365.graph.trap(lambda call: "$skiptoken" in call.query,  # the second page
                    graph_error(500, "generalException", "An internal server error occurred."))
    with pytest.raises(GraphError, match="500"):
        await sync(db, tenant)
    first = [g.id for g in gigs if (await deal(db, g.id)).event_date != GIG_DAY]
    assert len(first) == 2  # page 1 was kept
    report = await sync(db, tenant)
    assert not report.full_round
    assert sorted(first + report.deals_moved_from_outlook) == sorted(g.id for g in gigs)
    for number, gig in enumerate(gigs):
        assert (await deal(db, gig.id)).event_date == GIG_DAY + dt.timedelta(days=number + 1)
        assert await audit_count(db, gig.id) == 1
    assert len(m365.graph.events) == 5 and report.events_created == []


async def test_a_create_repeated_after_a_crash_finds_the_first_event(db: Database, factory: Factory,
                                                                     m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    gigs = [await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY) for _ in range(3)]
    with pytest.raises(ConnectionError):
        await sync(db, tenant, checkpoint_fails_after=1)  # the delta page, then stopped right after a create
    assert len(m365.graph.events) == 1 and await links(db) == {}
    await sync(db, tenant)
    assert len(m365.graph.events) == 3
    assert sorted(await links(db)) == sorted(g.id for g in gigs)
    assert len({lk.graph_event_id for lk in (await links(db)).values()}) == 3


async def test_410_gone_starts_a_full_round(db: Database, factory: Factory, m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    gig = await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY)
    await sync(db, tenant)
    event_id = (await links(db))[gig.id].graph_event_id
    m365.graph.move_in_outlook(event_id, dt.date(2026, 6, 14),
                               modified_at=(await deal(db, gig.id)).updated_at + dt.timedelta(hours=1))
    m365.graph.forgotten = True
    report = await sync(db, tenant)
    assert report.full_round is True
    assert report.deals_moved_from_outlook == [gig.id]
    assert any(c.query.get("startDateTime") for c in m365.graph.calls[-3:] if c.method == "GET")


async def test_429_waits_as_long_as_retry_after_says(db: Database, factory: Factory, m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    await factory.deal(tenant, stage_key="booked", event_date=GIG_DAY)
    m365.graph.trap(lambda call: call.method == "POST",
                    graph_error(429, "ApplicationThrottled", "Too many requests", {"Retry-After": "7"}))
    sleeps: list[float] = []
    report = await sync(db, tenant, sleeps=sleeps)
    assert sleeps == [7.0]
    assert len(report.events_created) == 1 and len(m365.graph.events) == 1


async def test_a_deal_of_another_tenant_is_never_synced(db: Database, factory: Factory, m365: M365) -> None:
    tenant = await tenant_with_calendar(factory, m365)
    other = await factory.tenant("other", calendar=m365.calendar_section(enabled=False))
    await factory.deal(other, stage_key="booked", event_date=GIG_DAY)
    report = await sync(db, tenant)
    assert report.events_created == [] and m365.graph.events == {}
