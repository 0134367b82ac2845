"""Every query of the calendar sync, each scoped to one tenant (`tenant_id`, never optional)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm.calendar_sync.models import CalendarDeltaState, CalendarEventLink
from rentguy_crm.crm.models import Deal, PipelineStage


async def delta_state(session: AsyncSession, tenant_id: int, owner: str) -> CalendarDeltaState:
    """The calendar's delta state, made (empty: the next round is a full one) when it does not exist yet."""
    state = await session.scalar(select(CalendarDeltaState).where(
        CalendarDeltaState.tenant_id == tenant_id, CalendarDeltaState.calendar_owner == owner))
    if state is None:
        state = CalendarDeltaState(tenant_id=tenant_id, calendar_owner=owner)
        session.add(state)
        await session.flush()
    return state


async def links(session: AsyncSession, tenant_id: int, owner: str) -> list[CalendarEventLink]:
    return list((await session.scalars(select(CalendarEventLink).where(
        CalendarEventLink.tenant_id == tenant_id, CalendarEventLink.calendar_owner == owner)
        .order_by(CalendarEventLink.id))).all())


async def link_by_event(session: AsyncSession, tenant_id: int, owner: str, event_id: str) -> CalendarEventLink | None:
    return await session.scalar(select(CalendarEventLink).where(
        CalendarEventLink.tenant_id == tenant_id, CalendarEventLink.calendar_owner == owner,
        CalendarEventLink.graph_event_id == event_id))


async def deal(session: AsyncSession, tenant_id: int, deal_id: int) -> Deal | None:
    return await session.scalar(select(Deal).where(Deal.tenant_id == tenant_id, Deal.id == deal_id))


async def gigs(session: AsyncSession, tenant_id: int, stage_keys: list[str], since: dt.date) -> list[Deal]:
    """Deals in one of the stages, not lost, with an event date on or after `since`, by id."""
    return list((await session.scalars(
        select(Deal).join(PipelineStage, PipelineStage.id == Deal.stage_id)
        .where(Deal.tenant_id == tenant_id, PipelineStage.key.in_(stage_keys), Deal.status != "lost",
               Deal.event_date.is_not(None), Deal.event_date >= since)
        .order_by(Deal.id))).all())


async def deals_by_id(session: AsyncSession, tenant_id: int, ids: list[int]) -> dict[int, Deal]:
    if not ids:
        return {}
    rows = await session.scalars(select(Deal).where(Deal.tenant_id == tenant_id, Deal.id.in_(ids)))
    return {row.id: row for row in rows}
