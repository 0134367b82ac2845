"""The Tickets screen through its doors: queues per team and priority, the SLA clock in working time, working a
ticket (reply, internal note, runbook step, status, escalation) through the desk's services, refusals shown."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from rentguy_crm.kit import clock
from rentguy_crm.support.models import Dispatch, Ticket
from tests.web.screen_support import FRAGMENT, PAGE, open_ticket

# Tuesday 1 December 2026, 10:00 in Amsterdam (CET): a working day, 09:00-17:00.
TUESDAY_MORNING = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


async def _desk(client, factory):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    return tenant, await factory.headers(tenant, "admin"), await factory.session_headers(tenant, "support")


async def test_queue_of_a_team_lists_its_tickets_with_the_clock_in_working_time(client, factory) -> None:
    clock.set_clock(clock.ManualClock(TUESDAY_MORNING))
    try:
        await _queue_with_clock(client, factory)
    finally:
        clock.set_clock(None)


async def _queue_with_clock(client, factory) -> None:  # type: ignore[no-untyped-def]
    _tenant, api, staff = await _desk(client, factory)
    number = await open_ticket(client, api, subject="Leads komen niet binnen")
    response = await client.get("/ui/tickets/list?status=active&priority=P3", headers={**staff, **FRAGMENT})
    assert response.status_code == 200
    assert f"SUP-{number}" in response.text and "Leads komen niet binnen" in response.text
    # P3 first response within 8 working hours: the whole of Tuesday's working day is left.
    assert "nog 8h 00m werktijd" in response.text
    assert re.search(r"\d\d-\d\d-\d{4} \d\d:\d\d CET", response.text)
    none = await client.get("/ui/tickets/list?priority=P1", headers={**staff, **FRAGMENT})
    assert "SUP-" not in none.text and "Geen tickets voor deze filters." in none.text


async def test_an_unknown_team_is_refused_naming_the_known_ones(client, factory) -> None:
    _tenant, _api, staff = await _desk(client, factory)
    response = await client.get("/ui/tickets/list?team=canteen", headers={**staff, **FRAGMENT})
    assert response.status_code == 422
    assert "canteen" in response.text and "support" in response.text


async def test_the_ticket_page_shows_raci_badges_and_the_runbook_checklist(client, factory) -> None:
    _tenant, api, staff = await _desk(client, factory)
    number = await open_ticket(client, api)
    response = await client.get(f"/tickets/{number}", headers={**staff, **PAGE})
    assert response.status_code == 200
    assert 'class="badge raci-r"' in response.text and 'class="badge raci-a"' in response.text
    assert "Runbook 2.2" in response.text and 'id="runbook-step-1"' in response.text


async def test_a_reply_and_an_internal_note_land_on_the_timeline_apart(client, factory, db) -> None:
    _tenant, api, staff = await _desk(client, factory)
    number = await open_ticket(client, api)
    await client.post(f"/ui/tickets/{number}/replies", headers={**staff, **FRAGMENT},
                      data={"body": "We kijken ernaar."})
    response = await client.post(f"/ui/tickets/{number}/notes", headers={**staff, **FRAGMENT},
                                 data={"body": "Formulier logt een 500."})
    assert response.status_code == 200
    assert re.search(r'data-kind="note">\s*<strong>Interne notitie', response.text)
    assert re.search(r'data-kind="reply">\s*<strong>Openbaar antwoord', response.text)
    async with db.session() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None and ticket.first_responded_at is not None and ticket.status == "open"


async def test_an_empty_reply_is_refused_naming_the_field_and_stores_nothing(client, factory) -> None:
    _tenant, api, staff = await _desk(client, factory)
    number = await open_ticket(client, api)
    response = await client.post(f"/ui/tickets/{number}/replies", headers={**staff, **FRAGMENT}, data={"body": " "})
    assert response.status_code == 422
    assert "body" in response.text and 'id="ticket-detail"' in response.text
    detail = (await client.get(f"/api/v1/support/tickets/{number}", headers=api)).json()
    assert [e["kind"] for e in detail["timeline"] if e["kind"] == "reply"] == []


async def test_ticking_a_step_runs_its_action_and_a_second_tick_is_refused(client, factory) -> None:
    _tenant, api, staff = await _desk(client, factory)
    number = await open_ticket(client, api)
    first = await client.post(f"/ui/tickets/{number}/runbook", headers={**staff, **FRAGMENT},
                              data={"runbook_key": "2.2", "step": "1"})
    assert first.status_code == 200 and "Runbook 2.2 step 1 done" in first.text
    again = await client.post(f"/ui/tickets/{number}/runbook", headers={**staff, **FRAGMENT},
                              data={"runbook_key": "2.2", "step": "1"})
    assert again.status_code == 409 and "already ticked" in again.text
    detail = (await client.get(f"/api/v1/support/tickets/{number}", headers=api)).json()
    assert [(t["runbook_key"], t["step_number"]) for t in detail["runbook_ticks"]] == [("2.2", 1)]


async def test_resolving_moves_the_status_and_a_refused_move_says_which_are_allowed(client, factory) -> None:
    _tenant, api, staff = await _desk(client, factory)
    number = await open_ticket(client, api)
    done = await client.post(f"/ui/tickets/{number}/status", headers={**staff, **FRAGMENT},
                             data={"status": "resolved"})
    assert done.status_code == 200 and 'data-status="resolved"' in done.text
    wrong = await client.post(f"/ui/tickets/{number}/status", headers={**staff, **FRAGMENT},
                              data={"status": "pending"})
    assert wrong.status_code == 409 and "allowed: closed, open" in wrong.text


async def test_the_page_button_raises_to_p1_and_queues_the_on_call_page(client, factory, db) -> None:
    _tenant, api, staff = await _desk(client, factory)
    number = await open_ticket(client, api)
    response = await client.post(f"/ui/tickets/{number}/priority", headers={**staff, **FRAGMENT},
                                 data={"priority": "P1"})
    assert response.status_code == 200 and "pager.create" in response.text
    async with db.session() as session:
        actions = set((await session.scalars(select(Dispatch.action))).all())
    assert "pager.create" in actions


async def test_a_priority_the_desk_does_not_know_is_a_422(client, factory) -> None:
    _tenant, api, staff = await _desk(client, factory)
    number = await open_ticket(client, api)
    response = await client.post(f"/ui/tickets/{number}/priority", headers={**staff, **FRAGMENT},
                                 data={"priority": "P9"})
    assert response.status_code == 422 and "priority" in response.text


async def test_opening_a_ticket_routes_it_and_goes_to_its_page(client, factory) -> None:
    _tenant, api, staff = await _desk(client, factory)
    response = await client.post("/ui/tickets", headers={**staff, **FRAGMENT}, data={
        "subject": "Typeform stuurt niets door", "activity": "lead_capture_issue", "priority": "P3",
        "runbook_key": "2.1"})
    assert response.status_code == 200
    number = int(response.headers["HX-Redirect"].rsplit("/", 1)[-1])
    ticket = (await client.get(f"/api/v1/support/tickets/{number}", headers=api)).json()
    assert (ticket["subject"], ticket["runbook_key"]) == ("Typeform stuurt niets door", "2.1")
    assert ticket["queue"] and ticket["accountable_team"]


async def test_a_ticket_for_an_unknown_activity_is_refused_and_not_opened(client, factory) -> None:
    _tenant, api, staff = await _desk(client, factory)
    response = await client.post("/ui/tickets", headers={**staff, **FRAGMENT}, data={
        "subject": "Iets", "activity": "canteen_menu", "priority": "P3"})
    assert response.status_code == 422 and "activity" in response.text and 'id="new-ticket"' in response.text
    assert (await client.get("/api/v1/support/tickets", headers=api)).json()["total"] == 0


async def test_the_queue_page_loads_its_list_with_the_chosen_filters(client, factory) -> None:
    _tenant, _api, staff = await _desk(client, factory)
    response = await client.get("/tickets?team=support&priority=P2", headers={**staff, **PAGE})
    assert response.status_code == 200
    assert 'hx-get="/ui/tickets/list?team=support&amp;priority=P2&amp;status=active"' in response.text
    assert 'class="state state-loading"' in response.text


async def test_the_ticket_reads_in_english_when_the_person_chose_english(client, factory) -> None:
    _tenant, api, staff = await _desk(client, factory)
    number = await open_ticket(client, api)
    cookie = {"Cookie": staff["Cookie"] + "; crm_lang=en"}
    response = await client.get(f"/tickets/{number}", headers={**staff, **cookie, **PAGE})
    assert "Internal note (staff only)" in response.text and "Interne notitie" not in response.text
