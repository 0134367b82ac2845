"""Screen 4, the pipeline board, through its doors: deals in their stages and the waiting leads, a move that is the
API's stage change with its automation, the undo that takes it back and stops what it started, deal edit, a deal
opened from a lead, bad input refused naming the field and changing nothing, and live updates of new deals."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import select

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.web.live import LiveFeed
from tests.automation_support import install_workflow, workflow_doc
from tests.table_counts import audit_entries, events_of, row_counts
from tests.web.board_support import HTMX, PAGE, signed_in

CRM = "/api/v1/crm"
PROPOSAL_FLOW = workflow_doc("proposal_followup", triggers=[{"event": "deal.stage.proposal_sent"}],
                             steps=[{"type": "wait", "duration": "2 days"},
                                    {"type": "create_task", "title": "Bel over de offerte"}])
LIVE_CEILING = 30.0  # only ends a test that would otherwise hang; the event normally comes within a read


def columns_of(html: str) -> dict[str, str]:
    """The board's columns by stage key (`leads` for the waiting leads), each with its cards' HTML."""
    found = {}
    for part in html.split('<section class="board-column')[1:]:
        key = re.search(r'id="column-([a-z0-9_]+)"', part)
        assert key is not None
        found[key.group(1)] = part
    return found


@pytest.fixture
async def sales(db, mrdj) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return await signed_in(db, mrdj, "sales", email="lisa@mr-dj.nl")


async def move(client, headers: dict[str, str], deal_id: int, stage: str) -> Any:  # type: ignore[no-untyped-def]
    return await client.post(f"/ui/deals/{deal_id}/stage", data={"stage": stage}, headers={**headers, **HTMX})


def move_id_of(html: str) -> int:
    found = re.search(r'name="move" value="(\d+)"', html)
    assert found is not None, html
    return int(found.group(1))


async def stage_of(client, headers: dict[str, str], deal_id: int) -> str:  # type: ignore[no-untyped-def]
    response = await client.get(f"{CRM}/deals/{deal_id}", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["stage"])


async def runs_of(db, deal_id: int) -> list[AutomationRun]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return list((await session.scalars(select(AutomationRun).where(AutomationRun.deal_id == deal_id)
                                           .order_by(AutomationRun.id))).all())


async def test_pipelines_opens_the_first_pipelines_board(client, sales) -> None:
    response = await client.get("/pipelines", headers={**sales, **PAGE})
    assert response.status_code == 303
    assert response.headers["location"] == "/pipelines/wedding"
    page = await client.get("/pipelines/wedding", headers={**sales, **PAGE})
    assert page.status_code == 200
    assert 'hx-get="/ui/pipelines/wedding/board"' in page.text
    assert "sse:deal-changed" in page.text and "sse:lead-captured" in page.text
    assert '<a href="/pipelines" aria-current="page">' in page.text


async def test_board_shows_each_deal_in_its_stage_and_the_pipelines_leads_without_a_deal(
        client, factory, mrdj, sales) -> None:
    anna = await factory.contact(mrdj, first_name="Anna", last_name="Bakker")
    qualified = await factory.deal(mrdj, anna, stage_key="qualified", title="Bruiloft Anna")
    booked = await factory.deal(mrdj, stage_key="booked", title="Bruiloft Bram")
    waiting = await factory.lead(mrdj, await factory.contact(mrdj, first_name="Wim", last_name="Wachter"))
    with_deal = await factory.lead(mrdj, anna)
    await factory.deal(mrdj, anna, stage_key="new", title="Bruiloft met lead", lead_id=with_deal.id)
    spam = await factory.lead(mrdj, status="spam")
    company = await factory.lead(mrdj, event_type="bedrijfsfeest")
    response = await client.get("/ui/pipelines/wedding/board", headers={**sales, **HTMX})
    assert response.status_code == 200
    columns = columns_of(response.text)
    assert list(columns) == ["leads", "new", "qualified", "proposal_sent", "negotiation", "booked", "completed",
                             "lost"]
    assert f'id="deal-{qualified.id}"' in columns["qualified"] and "Bruiloft Anna" in columns["qualified"]
    assert f'id="deal-{booked.id}"' in columns["booked"]
    assert f'id="lead-card-{waiting.id}"' in columns["leads"] and "Wim Wachter" in columns["leads"]
    for absent in (with_deal, spam, company):
        assert f'id="lead-card-{absent.id}"' not in response.text
    assert "Geen deals in deze fase." in columns["proposal_sent"]
    assert "Start proposal_followup" in columns["proposal_sent"]


async def test_catch_all_pipeline_takes_the_leads_no_other_pipeline_names(client, factory, mrdj, sales) -> None:
    birthday = await factory.lead(mrdj, event_type="verjaardag")
    unnamed = await factory.lead(mrdj, event_type=None)
    odd = await factory.lead(mrdj, event_type="bbq")
    wedding = await factory.lead(mrdj, event_type="bruiloft")
    leads = columns_of((await client.get("/ui/pipelines/general/board", headers={**sales, **HTMX})).text)["leads"]
    for shown in (birthday, unnamed, odd):
        assert f'id="lead-card-{shown.id}"' in leads
    assert f'id="lead-card-{wedding.id}"' not in leads


async def test_a_drop_is_the_apis_stage_change_audited_with_its_automation(client, db, factory, mrdj,
                                                                            sales) -> None:
    await install_workflow(db, mrdj, PROPOSAL_FLOW)
    deal = await factory.deal(mrdj, stage_key="qualified")
    response = await move(client, sales, deal.id, "proposal_sent")
    assert response.status_code == 200, response.text
    assert response.headers["hx-trigger"] == "board-changed"
    assert "verplaatst van Gekwalificeerd naar Offerte verstuurd" in response.text
    assert "proposal_followup" in response.text
    assert await stage_of(client, sales, deal.id) == "proposal_sent"
    moves = await events_of(db, "deal.stage.")
    assert [e.type for e in moves] == ["deal.stage.changed", "deal.stage.proposal_sent"]
    assert move_id_of(response.text) == moves[0].id
    [entry] = await audit_entries(db, "deal.stage_changed")
    assert entry.actor.startswith("user:")
    [run] = await runs_of(db, deal.id)
    assert (run.workflow_key, run.status) == ("proposal_followup", "queued")


async def test_undo_takes_the_deal_back_and_stops_what_the_move_started(client, db, factory, mrdj, sales) -> None:
    await install_workflow(db, mrdj, PROPOSAL_FLOW)
    deal = await factory.deal(mrdj, stage_key="qualified")
    moved = await move(client, sales, deal.id, "proposal_sent")
    response = await client.post(f"/ui/deals/{deal.id}/undo", data={"move": move_id_of(moved.text)},
                                 headers={**sales, **HTMX})
    assert response.status_code == 200, response.text
    assert "staat weer in Gekwalificeerd" in response.text and "proposal_followup" in response.text
    assert response.headers["hx-trigger"] == "board-changed"
    assert await stage_of(client, sales, deal.id) == "qualified"
    [run] = await runs_of(db, deal.id)  # stopped, and the stage it went back to started nothing
    assert run.status == "cancelled"
    [undone] = await audit_entries(db, "deal.stage_move_undone")
    assert undone.reason == f"undo of stage move {move_id_of(moved.text)}"
    assert len(await audit_entries(db, "automation.run.cancel")) == 1
    assert [e.type for e in await events_of(db, "deal.")] == ["deal.stage.changed", "deal.stage.proposal_sent",
                                                              "deal.updated"]


async def test_undo_of_a_move_the_deal_has_moved_on_from_is_refused(client, db, factory, mrdj, sales) -> None:
    deal = await factory.deal(mrdj, stage_key="new")
    first = move_id_of((await move(client, sales, deal.id, "qualified")).text)
    await move(client, sales, deal.id, "negotiation")
    before = await row_counts(db)
    response = await client.post(f"/ui/deals/{deal.id}/undo", data={"move": first}, headers=sales)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "only its last move can be undone" in response.json()["detail"]
    assert await stage_of(client, sales, deal.id) == "negotiation"
    assert await row_counts(db) == before


async def test_a_move_is_undone_once(client, db, factory, mrdj, sales) -> None:
    deal = await factory.deal(mrdj, stage_key="new")
    move_id = move_id_of((await move(client, sales, deal.id, "qualified")).text)
    assert (await client.post(f"/ui/deals/{deal.id}/undo", data={"move": move_id}, headers=sales)).status_code == 200
    before = await row_counts(db)
    again = await client.post(f"/ui/deals/{deal.id}/undo", data={"move": move_id}, headers=sales)
    assert again.status_code == 409
    assert await stage_of(client, sales, deal.id) == "new"
    assert await row_counts(db) == before


async def test_a_drop_where_the_deal_already_is_changes_nothing_and_offers_no_undo(client, db, factory, mrdj,
                                                                                  sales) -> None:
    deal = await factory.deal(mrdj, stage_key="qualified")
    before = await row_counts(db)
    response = await move(client, sales, deal.id, "qualified")
    assert response.status_code == 200
    assert "staat al in Gekwalificeerd" in response.text and 'name="move"' not in response.text
    assert await row_counts(db) == before


@pytest.mark.parametrize(("path", "form", "field"), [
    ("/ui/deals/{deal}/stage", {"stage": "proposal_verstuurd"}, "stage"),
    ("/ui/deals/{deal}/stage", {"stage": "DROP TABLE deals"}, "stage"),
    ("/ui/deals/{deal}/stage", {}, "stage"),
    ("/ui/deals/{deal}/undo", {"move": "abc"}, "move"),
    ("/ui/deals/{deal}/undo", {"move": "999999"}, "move"),
    ("/ui/deals/{deal}", {"title": "x", "value": "-5"}, "value"),
    ("/ui/deals/{deal}", {"title": "x", "event_date": "31-02-2027"}, "event_date"),
    ("/ui/deals/{deal}", {"title": "x", "owner": "mallory@evil.example"}, "owner"),
    ("/ui/deals/{deal}", {"title": ""}, "title"),
    ("/ui/deals/{deal}", {"title": "x" * 301}, "title"),
    ("/ui/pipelines/wedding/deals", {"lead_id": "0"}, "lead_id"),
    ("/ui/pipelines/wedding/deals", {"lead_id": "999999"}, "lead_id"),
])
async def test_bad_input_is_a_4xx_naming_the_field_and_changes_nothing(client, db, factory, mrdj, sales, path: str,
                                                                       form: dict[str, str], field: str) -> None:
    deal = await factory.deal(mrdj, stage_key="qualified", title="Bruiloft Anna")
    before = await row_counts(db)
    response = await client.post(path.format(deal=deal.id), data=form, headers=sales)
    assert response.status_code in (404, 422), response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert field in problem["detail"] or field in [e["field"] for e in problem.get("errors", [])]
    assert await row_counts(db) == before
    assert await stage_of(client, sales, deal.id) == "qualified"


async def test_a_mistake_on_the_board_is_shown_in_the_notice(client, factory, mrdj, sales) -> None:
    deal = await factory.deal(mrdj)
    response = await move(client, sales, deal.id, "nergens")
    assert response.status_code == 422
    assert 'class="state state-error"' in response.text and "has no stage &#39;nergens&#39;" in response.text


async def test_edit_sets_owner_and_event_date_audited(client, db, factory, mrdj, sales) -> None:
    await signed_in(db, mrdj, "sales", email="tom@mr-dj.nl")  # someone to hand the deal to
    deal = await factory.deal(mrdj, title="Bruiloft Anna", value=2450)
    form = await client.get(f"/ui/deals/{deal.id}/edit", headers={**sales, **HTMX})
    assert form.status_code == 200
    assert '<option value="tom@mr-dj.nl"' in form.text and 'name="event_date"' in form.text
    response = await client.post(f"/ui/deals/{deal.id}", headers={**sales, **HTMX}, data={
        "title": "Bruiloft Anna & Tom", "owner": "tom@mr-dj.nl", "event_date": "2027-06-12", "value": "2750"})
    assert response.status_code == 200, response.text
    assert "Opgeslagen." in response.text and "12-06-2027" in response.text
    saved = (await client.get(f"{CRM}/deals/{deal.id}", headers=sales)).json()
    assert (saved["title"], saved["owner"], saved["event_date"], saved["value"]) == (
        "Bruiloft Anna & Tom", "tom@mr-dj.nl", "2027-06-12", "2750.00")
    [entry] = await audit_entries(db, "deal.updated")
    assert entry.before["owner"] is None and entry.after["owner"] == "tom@mr-dj.nl"


async def test_a_lead_without_a_deal_gets_one_in_the_first_stage(client, db, factory, mrdj, sales) -> None:
    anna = await factory.contact(mrdj, first_name="Anna", last_name="de Vries")
    lead = await factory.lead(mrdj, anna, owner="lisa@mr-dj.nl", event_date=None)
    response = await client.post("/ui/pipelines/wedding/deals", data={"lead_id": lead.id},
                                 headers={**sales, **HTMX})
    assert response.status_code == 200, response.text
    assert "Deal Bruiloft Anna de Vries geopend in Nieuw." in response.text
    [deal] = (await client.get(f"{CRM}/deals", headers=sales)).json()["items"]
    assert (deal["lead_id"], deal["pipeline"], deal["stage"], deal["owner"]) == (lead.id, "wedding", "new",
                                                                                "lisa@mr-dj.nl")
    assert len(await audit_entries(db, "deal.created")) == 1
    before = await row_counts(db)
    again = await client.post("/ui/pipelines/wedding/deals", data={"lead_id": lead.id}, headers=sales)
    assert again.status_code == 409 and f"already has deal {deal['id']}" in again.json()["detail"]
    assert await row_counts(db) == before


async def test_unknown_pipeline_is_a_not_found_page(client, sales) -> None:
    response = await client.get("/pipelines/nergens", headers={**sales, **PAGE})
    assert response.status_code == 404
    assert "No pipeline &#39;nergens&#39;" in response.text and "wedding" in response.text


async def test_empty_board_says_so(client, sales) -> None:
    response = await client.get("/ui/pipelines/festival/board", headers={**sales, **HTMX})
    assert response.text.count("Geen deals in deze fase.") == 6
    assert "Geen open leads zonder deal." in response.text


async def test_signed_out_board_asks_to_sign_in(client, mrdj) -> None:
    page = await client.get("/pipelines/wedding", headers=PAGE)
    assert page.status_code == 303 and page.headers["location"].startswith("/sign-in?next=/pipelines/wedding")
    fragment = await client.get("/ui/pipelines/wedding/board", headers=HTMX)
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"].startswith("/sign-in")


async def test_a_new_deal_is_heard_by_the_boards_live_updates(client, db, factory, mrdj, sales) -> None:
    feed = LiveFeed(db, every=0.05)
    reader, queue = await feed.open(TenantScope(mrdj.id))
    try:
        contact = await factory.contact(mrdj)
        created = await client.post(f"{CRM}/deals", headers=sales, json={
            "contact_id": contact.id, "pipeline": "wedding", "title": "Bruiloft live"})
        assert created.status_code == 201, created.text
        while True:
            event = await asyncio.wait_for(queue.get(), LIVE_CEILING)
            if event.name == "deal-changed":
                break
        assert event.data == {"deal_id": created.json()["id"]}
    finally:
        feed.close(reader, queue)
        if reader.task is not None:
            reader.task.cancel()
