"""`GET /ui/events`: server-sent events of the signed-in person's tenant (lead captured, run finished, ticket changed)
for the pages where people wait for something. Per process, one reader per tenant reads the tables of record by id
(or time, for finished runs) and fans out to every open stream of that tenant; a stream never queries by itself.
What a page may hear is checked against its permissions, and events carry ids and states only, no personal data."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.permissions import Permission
from rentguy_crm.automation.runs import repository as runs
from rentguy_crm.db import Database
from rentguy_crm.events import repository as events
from rentguy_crm.kit import clock
from rentguy_crm.support import repository as support
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.web.access import PagePrincipal

log = structlog.get_logger(__name__)
router = APIRouter(include_in_schema=False)

READ_EVERY_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
QUEUE_LIMIT = 200  # a stream that stopped reading loses the oldest updates, never the reader


@dataclass(frozen=True)
class LiveEvent:
    name: str                 # the SSE event name a page listens for (`sse:lead-captured`)
    permission: Permission    # who may hear it
    data: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> str:
        return f"event: {self.name}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n"


@dataclass(frozen=True)
class LiveSource:
    """One kind of update: where a new reader starts, and what came after a mark."""

    start: Callable[[AsyncSession, TenantScope], Awaitable[Any]]
    read: Callable[[AsyncSession, TenantScope, Any], Awaitable[tuple[Any, list[LiveEvent]]]]


async def _leads_start(session: AsyncSession, scope: TenantScope) -> int:
    return await events.latest_id(session, scope)


async def _leads_read(session: AsyncSession, scope: TenantScope, mark: int) -> tuple[int, list[LiveEvent]]:
    found = await events.after(session, scope, mark, ["lead.created", "lead.updated", "lead.status_changed"])
    names = {"lead.created": "lead-captured"}
    return (found[-1].id if found else mark), [
        LiveEvent(names.get(e.type, "lead-changed"), Permission.CRM_READ, {"lead_id": e.subject_id}) for e in found]


async def _runs_start(_session: AsyncSession, _scope: TenantScope) -> dt.datetime:
    return clock.now()


async def _runs_read(session: AsyncSession, scope: TenantScope,
                     mark: dt.datetime) -> tuple[dt.datetime, list[LiveEvent]]:
    done = [r for r in await runs.finished_after(session, scope, mark) if r.completed_at is not None]
    last = done[-1].completed_at if done else None
    return (last or mark), [
        LiveEvent("run-finished", Permission.AUTOMATION_READ,
                  {"run_id": r.id, "workflow": r.workflow_key, "status": r.status, "lead_id": r.lead_id,
                   "deal_id": r.deal_id}) for r in done]


async def _tickets_start(session: AsyncSession, scope: TenantScope) -> int:
    return await support.latest_timeline_id(session, scope)


async def _tickets_read(session: AsyncSession, scope: TenantScope, mark: int) -> tuple[int, list[LiveEvent]]:
    found = await support.timeline_after(session, scope, mark)
    # One change writes several entries (opened, routed, the RACI's notes): a page refreshes once per ticket.
    changed = {ticket_id: number for _entry, ticket_id, number in found}
    return (found[-1][0] if found else mark), [
        LiveEvent("ticket-changed", Permission.TICKETS_READ, {"ticket_id": ticket_id, "number": number})
        for ticket_id, number in changed.items()]


SOURCES: dict[str, LiveSource] = {
    "leads": LiveSource(_leads_start, _leads_read),
    "runs": LiveSource(_runs_start, _runs_read),
    "tickets": LiveSource(_tickets_start, _tickets_read),
}


def add_source(name: str, source: LiveSource) -> None:
    """A screen that needs another kind of update adds its source here (readers started later use it)."""
    SOURCES[name] = source


class TenantReader:
    """Reads one tenant's updates while at least one stream of that tenant is open."""

    def __init__(self, db: Database, scope: TenantScope, every: float) -> None:
        self.db, self.scope, self.every = db, scope, every
        self.streams: set[asyncio.Queue[LiveEvent]] = set()
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # marks taken: an update committed from now on will be heard

    async def run(self) -> None:
        async with self.db.session(read_only=True) as session:
            marks = {name: await source.start(session, self.scope) for name, source in SOURCES.items()}
        self.ready.set()
        while self.streams:
            await asyncio.sleep(self.every)
            try:
                async with self.db.session(read_only=True) as session:
                    for name, source in list(SOURCES.items()):
                        if name not in marks:
                            marks[name] = await source.start(session, self.scope)
                            continue
                        marks[name], found = await source.read(session, self.scope, marks[name])
                        for event in found:
                            self._fan_out(event)
            except Exception as exc:  # a database hiccup must not end the live updates of every open page
                log.warning("live_updates_read_failed", tenant_id=self.scope.tenant_id, error=type(exc).__name__)

    def _fan_out(self, event: LiveEvent) -> None:
        for queue in list(self.streams):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)


class LiveFeed:
    """The process's tenant readers; `every` is how often they look (tests may shorten it)."""

    def __init__(self, db: Database, every: float = READ_EVERY_SECONDS) -> None:
        self.db, self.every = db, every
        self.readers: dict[int, TenantReader] = {}

    async def open(self, scope: TenantScope) -> tuple[TenantReader, asyncio.Queue[LiveEvent]]:
        """A stream's queue, from the tenant's reader (started when it is the tenant's first stream)."""
        reader = self.readers.get(scope.tenant_id)
        if reader is None or reader.task is None or reader.task.done():
            reader = TenantReader(self.db, scope, self.every)
            self.readers[scope.tenant_id] = reader
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(QUEUE_LIMIT)
        reader.streams.add(queue)
        if reader.task is None:
            reader.task = asyncio.create_task(reader.run(), name=f"live-updates-{scope.tenant_id}")
        await reader.ready.wait()
        return reader, queue

    def close(self, reader: TenantReader, queue: asyncio.Queue[LiveEvent]) -> None:
        reader.streams.discard(queue)


def feed_of(request: Request) -> LiveFeed:
    feed: LiveFeed | None = getattr(request.app.state, "live_feed", None)
    if feed is None:
        feed = request.app.state.live_feed = LiveFeed(request.app.state.db)
    return feed


@router.get("/ui/events")
async def live_events(request: Request, principal: PagePrincipal) -> StreamingResponse:
    feed = feed_of(request)
    reader, queue = await feed.open(principal.scope)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n: connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if principal.can(event.permission):
                    yield event.frame()
        finally:
            feed.close(reader, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def stop(feed: LiveFeed) -> None:
    """End the readers at shutdown."""
    for reader in feed.readers.values():
        if reader.task is not None:
            reader.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader.task
