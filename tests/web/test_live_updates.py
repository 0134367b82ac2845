"""`GET /ui/events` on a real server: a lead captured on the public form reaches an open stream of its tenant as
`lead-captured`, not a stream of another tenant; what a person may not read (tickets for sales) is not sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rentguy_crm.app import create_app
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows import service as workflows
from rentguy_crm.config import get_settings
from rentguy_crm.db import Database
from rentguy_crm.kit import clock
from rentguy_crm.support import service as support
from rentguy_crm.support.schemas import TicketCreate
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.web.live import LiveFeed
from rentguy_crm.web.live import stop as stop_feed
from tests.live_server import LiveServer

# How often the test server's readers look: short, so the suite is quick; the tests wait for events, not time.
READ_EVERY = 0.05
# Ends a test whose event never comes (it would wait forever); not what the tests measure.
HANG_CEILING = 300


@pytest.fixture
async def server(db: Database) -> AsyncIterator[str]:
    app = create_app(get_settings(), db=db)
    app.state.live_feed = LiveFeed(db, every=READ_EVERY)
    with LiveServer(app) as live:
        yield live.url


class Stream:
    """One open event stream, read line by line (an httpx response can be iterated once)."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def connected(self) -> Stream:
        async for line in self.lines:
            if line == ": connected":
                break
        return self

    async def next_event(self) -> dict[str, Any]:
        """The next event as {event, data}; comments (keepalives) are skipped."""
        async with asyncio.timeout(HANG_CEILING):
            return await self._next_event()

    async def _next_event(self) -> dict[str, Any]:
        event: dict[str, Any] = {}
        async for line in self.lines:
            if line.startswith("event: "):
                event["event"] = line[7:]
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif not line and "event" in event:
                return event
        raise AssertionError("the stream ended")


async def test_a_captured_lead_reaches_the_open_streams_of_its_tenant_only(server: str, factory) -> None:
    mrdj = await factory.tenant("mrdj")
    other = await factory.tenant("other")
    async with httpx.AsyncClient(base_url=server, timeout=None) as browser:
        async with browser.stream("GET", "/ui/events", headers=await factory.session_headers(mrdj, "sales")) as mine, \
                browser.stream("GET", "/ui/events", headers=await factory.session_headers(other, "admin")) as theirs:
            assert mine.headers["content-type"].startswith("text/event-stream")
            mine_events, their_events = await Stream(mine).connected(), await Stream(theirs).connected()
            captured = await browser.post("/api/v1/public/leads", json={
                "tenant": "mrdj", "first_name": "Fleur", "email": "fleur@example.nl", "event_type": "feest"})
            assert captured.status_code == 201
            first = await mine_events.next_event()
            assert first == {"event": "lead-captured", "data": {"lead_id": captured.json()["lead_id"]}}
            # The other tenant's stream hears its own lead next, never mrdj's.
            await browser.post("/api/v1/public/leads", json={
                "tenant": "other", "first_name": "Bob", "email": "bob@example.nl", "event_type": "feest"})
            heard = await their_events.next_event()
            assert heard["event"] == "lead-captured" and heard["data"]["lead_id"] != captured.json()["lead_id"]


async def test_a_stream_sends_only_what_the_person_may_read(server: str, factory, db: Database) -> None:
    mrdj = await factory.tenant("mrdj")
    async with httpx.AsyncClient(base_url=server, timeout=None) as browser:
        async with browser.stream("GET", "/ui/events", headers=await factory.session_headers(mrdj, "sales")) as sales, \
                browser.stream("GET", "/ui/events",
                               headers=await factory.session_headers(mrdj, "support")) as desk:
            sales_events, desk_events = await Stream(sales).connected(), await Stream(desk).connected()
            async with db.session() as session:
                ticket = await support.create_ticket(session, TenantScope(mrdj.id), TicketCreate(
                    subject="Formulier stuurt niets", description="Sinds vanochtend", activity="automation_failure",
                    priority="P3"), actor="test")
            await browser.post("/api/v1/public/leads", json={
                "tenant": "mrdj", "first_name": "Fleur", "email": "fleur@example.nl", "event_type": "feest"})
            # Both changes may land in one read, and a read reports leads before tickets: listen until both came.
            heard_by_desk = [await desk_events.next_event()]
            while {e["event"] for e in heard_by_desk} != {"ticket-changed", "lead-captured"}:
                heard_by_desk.append(await desk_events.next_event())
            assert {"event": "ticket-changed", "data": {"ticket_id": ticket.id, "number": ticket.number}} \
                in heard_by_desk
            # Sales hears the lead (sent after the ticket) first: the ticket change was not for them.
            assert (await sales_events.next_event())["event"] == "lead-captured"


async def test_without_a_session_the_stream_is_refused(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as browser:
        response = await browser.get("/ui/events")
    assert response.status_code == 401


async def test_the_readers_stop_with_their_last_stream(factory, db: Database) -> None:
    tenant = await factory.tenant("mrdj")
    feed = LiveFeed(db, every=READ_EVERY)
    reader, queue = await feed.open(TenantScope(tenant.id))
    assert reader.task is not None and not reader.task.done()
    feed.close(reader, queue)
    await asyncio.wait_for(reader.task, timeout=30)  # a ceiling for a hang, not what the test measures
    assert reader.task.done()


async def test_a_finished_run_reaches_a_reader_of_its_tenant(client: httpx.AsyncClient, factory,
                                                             db: Database) -> None:
    tenant = await factory.tenant("mrdj")
    async with db.session() as session:
        await workflows.sync(session, "mrdj", actor="test")
    captured = await client.post("/api/v1/public/leads", json={
        "tenant": "mrdj", "first_name": "Fleur", "email": "fleur@example.nl", "event_type": "feest"})
    feed = LiveFeed(db, every=READ_EVERY)
    reader, queue = await feed.open(TenantScope(tenant.id))
    try:
        async with db.session() as session:
            run = (await session.scalars(select(AutomationRun).where(
                AutomationRun.lead_id == captured.json()["lead_id"]))).first()
            assert run is not None
            run.status, run.completed_at = "succeeded", clock.now()
        heard = await queue.get()
        while heard.name != "run-finished":  # the lead's own events may come first
            heard = await queue.get()
        assert heard.data == {"run_id": run.id, "workflow": run.workflow_key, "status": "succeeded",
                              "lead_id": captured.json()["lead_id"], "deal_id": None}
    finally:
        feed.close(reader, queue)
        await stop_feed(feed)
