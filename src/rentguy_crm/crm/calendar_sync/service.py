"""One round of the gig calendar sync: Outlook's changes in (delta query), then the deals' changes out.

Rules (docs/calendar.md):
- A gig is a deal in one of `calendar.stages`, not lost, with an event date from `days_back` ago on. It is an
  all-day event on that date, titled with the deal's title, in the calendar of `calendar.calendar_owner`.
- Outbound: a gig without an event gets one (created with a `transactionId` fixed per deal and deal version, so a
  create repeated after a crash finds the first event); a changed date or title is patched; an event whose deal is
  no longer a gig is deleted. Past gigs that fell out of the window are left alone.
- Inbound, conflicts: last change wins. An event moved in Outlook moves the deal's event date when the event's
  `lastModifiedDateTime` is later than the deal's `updated_at`; otherwise the deal wins and the event is moved
  back. An event cancelled or deleted in Outlook clears the deal's event date, unless the deal changed after the
  sync last wrote or saw that event; then the deal wins and the event is made again. Events the suite did not
  make are never touched.
- Progress is kept per page (`next_link`), so a round cut off between pages resumes where it stopped; applying a
  page again changes nothing a second time. 410 Gone starts a full round.
Services never commit: `checkpoint` (given by the command that owns the transaction) is called after each page
and after each event written, so a cut-off round loses nothing and the SQLite write lock is not held across calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.crm.calendar_sync import repository
from rentguy_crm.crm.calendar_sync.models import CalendarEventLink
from rentguy_crm.crm.models import Deal
from rentguy_crm.events import service as events
from rentguy_crm.integrations.base import CalendarDeltaExpired, CalendarSync
from rentguy_crm.kit import wallclock
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.sections.calendar import CalendarSettings

log = structlog.get_logger(__name__)

ACTOR = "m365:calendar-sync"
CATEGORY = "RentGuy CRM"

Checkpoint = Callable[[], Awaitable[None]]


async def _no_checkpoint() -> None:
    return None


@dataclass
class SyncReport:
    """What one round changed, by deal id (no names: this is printed and logged)."""

    tenant: str
    events_created: list[int] = field(default_factory=list)
    events_updated: list[int] = field(default_factory=list)
    events_deleted: list[int] = field(default_factory=list)
    deals_moved_from_outlook: list[int] = field(default_factory=list)
    deals_cancelled_from_outlook: list[int] = field(default_factory=list)
    conflicts_won_by_deal: list[int] = field(default_factory=list)
    pages: int = 0
    full_round: bool = False

    @property
    def changed(self) -> bool:
        return any((self.events_created, self.events_updated, self.events_deleted, self.deals_moved_from_outlook,
                    self.deals_cancelled_from_outlook))

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "events_created": self.events_created, "events_updated": self.events_updated,
                "events_deleted": self.events_deleted, "deals_moved_from_outlook": self.deals_moved_from_outlook,
                "deals_cancelled_from_outlook": self.deals_cancelled_from_outlook,
                "conflicts_won_by_deal": self.conflicts_won_by_deal, "pages": self.pages,
                "full_round": self.full_round}


def event_body(deal: Deal, time_zone: str) -> dict[str, Any]:
    """An all-day event on the deal's event date (Graph `event` resource; `end` is the next day, exclusive)."""
    assert deal.event_date is not None
    day = deal.event_date
    return {
        "subject": deal.title,
        "isAllDay": True,
        "start": {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": time_zone},
        "end": {"dateTime": f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00", "timeZone": time_zone},
        "showAs": "busy",
        "categories": [CATEGORY],
        "body": {"contentType": "text", "content": f"Deal {deal.id} in RentGuy CRM."},
    }


def transaction_id(tenant: Tenant, deal: Deal) -> str:
    """Fixed for one version of a deal: a create retried after a crash returns the event of the first try."""
    return f"rentguy-{tenant.id}-deal-{deal.id}-{int(deal.updated_at.timestamp() * 1000)}"


def _outlook_date(event: dict[str, Any]) -> dt.date | None:
    raw = str((event.get("start") or {}).get("dateTime") or "")
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _modified_at(event: dict[str, Any]) -> dt.datetime | None:
    raw = str(event.get("lastModifiedDateTime") or "")
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class CalendarRound:
    def __init__(self, session: AsyncSession, tenant: Tenant, settings: CalendarSettings, calendar: CalendarSync,
                 now: dt.datetime, checkpoint: Checkpoint) -> None:
        self.session = session
        self.tenant = tenant
        self.settings = settings
        self.calendar = calendar
        self.now = now
        self.checkpoint = checkpoint
        self.owner = settings.calendar_owner or ""
        self.report = SyncReport(tenant.slug)
        self.today = wallclock.local_date(now, tenant.timezone)

    # -- inbound ----------------------------------------------------------------------------------------------------

    async def pull(self) -> None:
        state = await repository.delta_state(self.session, self.tenant.id, self.owner)
        link = state.next_link or state.delta_link
        self.report.full_round = link is None
        start = dt.datetime.combine(self.today - dt.timedelta(days=self.settings.days_back), dt.time(), dt.UTC)
        end = dt.datetime.combine(self.today + dt.timedelta(days=self.settings.days_ahead), dt.time(), dt.UTC)
        restarted = False
        while True:
            try:
                page = await self.calendar.delta_page(link, start=start.isoformat().replace("+00:00", "Z"),
                                                      end=end.isoformat().replace("+00:00", "Z"))
            except CalendarDeltaExpired:
                if restarted:
                    raise
                log.info("calendar_delta_expired_full_round", tenant=self.tenant.slug)
                restarted, link, self.report.full_round = True, None, True
                state.delta_link = state.next_link = None
                continue
            self.report.pages += 1
            for event in page.events:
                await self._apply(event)
            if page.next_link:
                state.next_link = link = page.next_link
            else:
                state.delta_link, state.next_link = page.delta_link, None
                state.last_synced_at = self.now
            await self.session.flush()
            await self.checkpoint()
            if not page.next_link:
                return

    async def _apply(self, event: dict[str, Any]) -> None:
        event_id = str(event.get("id") or "")
        link = await repository.link_by_event(self.session, self.tenant.id, self.owner, event_id) if event_id else None
        if link is None or link.status != "active":
            return  # not an event of ours, or one we removed ourselves
        deal = await repository.deal(self.session, self.tenant.id, link.deal_id)
        if deal is None:
            return
        if "@removed" in event or event.get("isCancelled"):
            await self._cancelled_in_outlook(link, deal)
            return
        moved_to = _outlook_date(event)
        modified = _modified_at(event)
        link.outlook_modified_at = modified or link.outlook_modified_at
        if moved_to is None or moved_to == link.event_date:
            return  # our own write coming back, or a change we do not follow (title, body)
        link.event_date = moved_to  # what Outlook shows now; the push below moves it back if the deal wins
        if modified is not None and modified > deal.updated_at and deal.event_date != moved_to:
            await self._change_deal(deal, moved_to, "moved")
            link.subject = deal.title
            self.report.deals_moved_from_outlook.append(deal.id)
        elif deal.event_date != moved_to:
            self.report.conflicts_won_by_deal.append(deal.id)

    async def _cancelled_in_outlook(self, link: CalendarEventLink, deal: Deal) -> None:
        link.status = "removed"
        if deal.updated_at > link.updated_at:
            self.report.conflicts_won_by_deal.append(deal.id)  # the push below makes the event again
            return
        if deal.event_date is not None:
            await self._change_deal(deal, None, "cancelled")
        self.report.deals_cancelled_from_outlook.append(deal.id)

    async def _change_deal(self, deal: Deal, event_date: dt.date | None, how: str) -> None:
        before = {"event_date": deal.event_date.isoformat() if deal.event_date else None}
        deal.event_date = event_date
        await self.session.flush()
        await self.session.refresh(deal)  # updated_at was set by the database
        await audit.record(self.session, actor=ACTOR, action="deal.updated", entity_type="deal", entity_id=deal.id,
                           tenant_id=self.tenant.id, before=before,
                           after={"event_date": event_date.isoformat() if event_date else None,
                                  "source": f"outlook:{how}"})
        # Runs parked on the deal's event date (post-event care) move with it, as for any deal update.
        await events.emit(self.session, self.tenant.id, "deal.updated", subject_type="deal", subject_id=deal.id,
                          payload={"deal_id": deal.id, "changed": ["event_date"], "source": "outlook"})

    # -- outbound ---------------------------------------------------------------------------------------------------

    async def push(self) -> None:
        since = self.today - dt.timedelta(days=self.settings.days_back)
        gigs = {d.id: d for d in await repository.gigs(self.session, self.tenant.id, self.settings.stages, since)}
        links = {link.deal_id: link for link in await repository.links(self.session, self.tenant.id, self.owner)}
        linked_deals = await repository.deals_by_id(
            self.session, self.tenant.id, [i for i, lk in links.items() if lk.status == "active" and i not in gigs])
        for deal_id, link in links.items():
            if link.status != "active" or deal_id in gigs:
                continue
            other = linked_deals.get(deal_id)
            if other is not None and other.event_date is not None and other.event_date < since \
                    and other.status != "lost":
                continue  # a past gig out of the window stays in the calendar
            await self.calendar.delete_event(link.graph_event_id)
            link.status = "removed"
            self.report.events_deleted.append(deal_id)
            await self.session.flush()
            await self.checkpoint()
        for deal in gigs.values():
            await self._push_gig(deal, links.get(deal.id))
        await self.session.flush()

    async def _push_gig(self, deal: Deal, link: CalendarEventLink | None) -> None:
        assert deal.event_date is not None
        body = event_body(deal, self.tenant.timezone)
        if link is not None and link.status == "active":
            if link.event_date == deal.event_date and link.subject == deal.title[:300]:
                return
            updated = await self.calendar.update_event(link.graph_event_id, body)
            if updated is not None:
                link.event_date, link.subject = deal.event_date, deal.title[:300]
                self.report.events_updated.append(deal.id)
                await self.session.flush()
                await self.checkpoint()
                return
        created = await self.calendar.create_event(body, transaction_id=transaction_id(self.tenant, deal))
        if link is None:
            link = CalendarEventLink(tenant_id=self.tenant.id, deal_id=deal.id, calendar_owner=self.owner)
            self.session.add(link)
        link.graph_event_id = str(created["id"])
        link.event_date, link.subject, link.status = deal.event_date, deal.title[:300], "active"
        link.outlook_modified_at = _modified_at(created)
        self.report.events_created.append(deal.id)
        await self.session.flush()
        await self.checkpoint()


async def sync_calendar(session: AsyncSession, tenant: Tenant, settings: CalendarSettings, calendar: CalendarSync,
                        *, now: dt.datetime, checkpoint: Checkpoint = _no_checkpoint, full: bool = False) -> SyncReport:
    """One round for one tenant: Outlook's changes in, then the deals' changes out. `full` forgets the delta link
    first (a full round). Raises the calendar's errors (an AppError naming what failed); audited."""
    if full:
        state = await repository.delta_state(session, tenant.id, settings.calendar_owner or "")
        state.delta_link = state.next_link = None
    sync = CalendarRound(session, tenant, settings, calendar, now, checkpoint)
    await sync.pull()
    await sync.push()
    report = sync.report
    if report.changed:
        await audit.record(session, actor=ACTOR, action="calendar.synced", entity_type="calendar",
                           entity_id=tenant.slug, tenant_id=tenant.id, after=report.as_dict())
    await checkpoint()
    log.info("calendar_synced", tenant=tenant.slug, created=len(report.events_created),
             updated=len(report.events_updated), deleted=len(report.events_deleted),
             moved=len(report.deals_moved_from_outlook), cancelled=len(report.deals_cancelled_from_outlook),
             pages=report.pages, full_round=report.full_round)
    return report
