"""Screen 5, Tasks, through its doors: my open tasks and my team's, overdue and due today by the tenant's calendar
(Amsterdam), completing one (audited, as the API does), and what is refused."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from rentguy_crm.kit import clock
from tests.table_counts import audit_entries, row_counts
from tests.web.board_support import HTMX, PAGE, signed_in

CRM = "/api/v1/crm"
# 10:00 UTC is 11:00 in Amsterdam (CET); Amsterdam's day ends at 23:00 UTC.
NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC)
ME = "lisa@mr-dj.nl"


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    clock.set_clock(lambda: NOW)
    yield
    clock.set_clock(None)


def sections_of(html: str) -> dict[str, str]:
    found = {}
    for part in html.split("<section ")[1:]:
        key = re.search(r'aria-labelledby="tasks-([a-z]+)"', part)
        assert key is not None
        found[key.group(1)] = part
    return found


async def task(factory, tenant, title: str, due: dt.datetime | None, **values):  # type: ignore[no-untyped-def]
    deal = await factory.deal(tenant)
    return await factory.activity(tenant, kind="task", title=title, due_at=due, deal_id=deal.id, **values)


async def test_mine_shows_my_open_tasks_overdue_and_due_today_in_the_tenants_day(client, db, factory,
                                                                                  mrdj) -> None:
    me = await signed_in(db, mrdj, "sales", email=ME)
    await task(factory, mrdj, "Gisteren bellen", NOW - dt.timedelta(days=1), owner=ME)
    await task(factory, mrdj, "Vanavond mailen", NOW + dt.timedelta(hours=12, minutes=30), owner=ME)  # 23:30 CET
    await task(factory, mrdj, "Morgen vroeg", NOW + dt.timedelta(hours=13, minutes=30), owner=ME)  # 00:30 next day
    await task(factory, mrdj, "Al gedaan", NOW - dt.timedelta(hours=1), owner=ME, status="done")
    await task(factory, mrdj, "Van Tom", NOW - dt.timedelta(hours=1), owner="tom@mr-dj.nl")
    response = await client.get("/ui/tasks/list?view=mine", headers={**me, **HTMX})
    assert response.status_code == 200, response.text
    sections = sections_of(response.text)
    assert "Gisteren bellen" in sections["overdue"] and "te laat" in sections["overdue"]
    assert "Vanavond mailen" in sections["today"]
    assert "10-03-2026 23:30 CET" in sections["today"]
    for absent in ("Morgen vroeg", "Al gedaan", "Van Tom"):
        assert absent not in response.text


async def test_my_teams_tasks_are_those_of_the_team_chosen_mine_first(client, db, factory, mrdj) -> None:
    me = await signed_in(db, mrdj, "sales", email=ME)
    await task(factory, mrdj, "Bel het bruidspaar", NOW - dt.timedelta(hours=2), team="corporate", owner=None)
    await task(factory, mrdj, "Offerte festival", NOW + dt.timedelta(hours=1), team="festivals", owner="tom@x.nl")
    page = await client.get("/tasks?view=team", headers={**me, **PAGE})
    assert page.status_code == 200
    assert "(mijn team)" in page.text and 'hx-get="/ui/tasks/list?view=team&amp;team=corporate"' in page.text
    corporate = await client.get("/ui/tasks/list?view=team&team=corporate", headers={**me, **HTMX})
    assert "Bel het bruidspaar" in corporate.text and "Offerte festival" not in corporate.text
    festivals = await client.get("/ui/tasks/list?view=team&team=festivals", headers={**me, **HTMX})
    assert "Offerte festival" in sections_of(festivals.text)["today"]


@pytest.mark.parametrize(("role", "email", "expected"), [
    ("support", "Bart@mr-dj.nl", ["operations", "support"]),  # listed in operations' members; the role's team
    ("support", "someone@mr-dj.nl", ["support"]),
    ("sales", ME, ["corporate", "festivals", "general", "sales", "wedding_specialists"]),
    ("engineering", None, ["engineering"]),
])
async def test_my_teams_come_from_the_desks_teams_and_for_sales_the_lead_assignment(
        client, db, mrdj, role: str, email: str | None, expected: list[str]) -> None:
    me = await signed_in(db, mrdj, role, email=email)
    page = (await client.get("/tasks?view=team", headers={**me, **PAGE})).text
    marked = re.findall(r'<option value="([a-z_]+)"[^>]*>[a-z_]+ \(mijn team\)', page)
    assert marked == expected


async def test_an_unknown_team_is_refused_naming_the_teams(client, db, mrdj) -> None:
    me = await signed_in(db, mrdj, "sales", email=ME)
    response = await client.get("/ui/tasks/list?view=team&team=kantine", headers=me)
    assert response.status_code == 422
    assert "no team 'kantine'" in response.json()["detail"] and "wedding_specialists" in response.json()["detail"]
    bad = await client.get("/ui/tasks/list?view=everyone", headers=me)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "view"


async def test_a_person_without_an_email_address_is_told_why_no_tasks_are_theirs(client, db, mrdj) -> None:
    me = await signed_in(db, mrdj, "sales")
    response = await client.get("/ui/tasks/list?view=mine", headers={**me, **HTMX})
    assert "je account heeft er geen" in response.text


async def test_no_tasks_shows_the_empty_states(client, db, mrdj) -> None:
    me = await signed_in(db, mrdj, "sales", email=ME)
    response = await client.get("/ui/tasks/list?view=mine", headers={**me, **HTMX})
    assert "Niets te laat." in response.text and "Verder niets voor vandaag." in response.text


async def test_completing_a_task_marks_it_done_audited(client, db, factory, mrdj) -> None:
    me = await signed_in(db, mrdj, "support", email=ME)
    todo = await task(factory, mrdj, "Bel terug", NOW - dt.timedelta(hours=1), owner=ME)
    response = await client.post(f"/ui/tasks/{todo.id}/complete", headers={**me, **HTMX})
    assert response.status_code == 200, response.text
    assert f'id="task-{todo.id}"' in response.text and "Gedaan" in response.text
    # The answer also goes next to the list, which a reload empties of done tasks.
    assert '<div id="task-list-notice"' in response.text and "Taak Bel terug gedaan." in response.text
    saved = (await client.get(f"{CRM}/activities/{todo.id}", headers=me)).json()
    assert saved["status"] == "done" and saved["completed_at"] is not None
    [entry] = await audit_entries(db, "activity.completed")
    assert (entry.before["status"], entry.after["status"]) == ("open", "done")
    listed = await client.get("/ui/tasks/list?view=mine", headers={**me, **HTMX})
    assert "Bel terug" not in listed.text


async def test_completing_a_note_is_refused_and_changes_nothing(client, db, factory, mrdj) -> None:
    me = await signed_in(db, mrdj, "sales", email=ME)
    note = await factory.activity(mrdj, kind="note", title="Notitie", deal_id=(await factory.deal(mrdj)).id)
    before = await row_counts(db)
    response = await client.post(f"/ui/tasks/{note.id}/complete", headers=me)
    assert response.status_code == 409 and "only tasks can be completed" in response.json()["detail"]
    assert await row_counts(db) == before


async def test_completing_without_the_activities_permission_shows_not_allowed(client, db, factory, mrdj) -> None:
    engineer = await signed_in(db, mrdj, "engineering", email="crm-lead@rentguy.nl")
    todo = await task(factory, mrdj, "Bel terug", NOW, owner="crm-lead@rentguy.nl")
    listed = await client.get("/ui/tasks/list?view=mine", headers={**engineer, **HTMX})
    assert "Bel terug" in listed.text and "/complete" not in listed.text
    before = await row_counts(db)
    response = await client.post(f"/ui/tasks/{todo.id}/complete", headers={**engineer, **HTMX})
    assert response.status_code == 403 and "activities:write" in response.text
    assert await row_counts(db) == before
