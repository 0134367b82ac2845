"""The support API: every route against every role, tenant isolation on every route, problem JSON for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from rentguy_crm.support.models import Ticket, TimelineEntry

API = "/api/v1/support"

# (method, path template, body, permission needed): every support route.
ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/tickets", None, "read"),
    ("POST", "/tickets", {"subject": "Vraag", "activity": "first_line_triage", "priority": "P3"}, "write"),
    ("GET", "/tickets/{n}", None, "read"),
    ("POST", "/tickets/{n}/replies", {"body": "Hallo"}, "write"),
    ("POST", "/tickets/{n}/notes", {"body": "Intern"}, "write"),
    ("POST", "/tickets/{n}/assignee", {"team": "support"}, "write"),
    ("POST", "/tickets/{n}/status", {"status": "pending"}, "write"),
    ("POST", "/tickets/{n}/priority", {"priority": "P1"}, "write"),
    ("POST", "/tickets/{n}/links", {"type": "alert", "ref": "abc123"}, "write"),
    ("POST", "/tickets/{n}/runbook", {"runbook_key": "2.2", "step": 1}, "write"),
    ("GET", "/sla/breaches", None, "read"),
]
ALLOWED = {"sales": set(), "operations": {"read", "write"}, "engineering": {"read", "write"},
           "support": {"read", "write"}, "admin": {"read", "write"}}
CREATED = {"/tickets", "/tickets/{n}/replies", "/tickets/{n}/notes", "/tickets/{n}/links", "/tickets/{n}/runbook"}


def test_the_table_covers_every_support_route(app) -> None:  # type: ignore[no-untyped-def]
    paths = app.openapi()["paths"]
    served = {(m.upper(), p.replace("{number}", "{n}")) for p, ops in paths.items() if p.startswith(API)
              for m in ops}
    assert served == {(m, API + p) for m, p, _b, _n in ROUTES}


async def _ticket(client, headers: dict[str, str]) -> int:  # type: ignore[no-untyped-def]
    response = await client.post(f"{API}/tickets", headers=headers, json={
        "subject": "Leads komen niet binnen", "activity": "lead_capture_issue", "priority": "P2"})
    assert response.status_code == 201, response.text
    return int(response.json()["number"])


async def _counts(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return (int(await session.scalar(select(func.count()).select_from(Ticket)) or 0),
                int(await session.scalar(select(func.count()).select_from(TimelineEntry)) or 0))


CASES = [(role, *route) for role in ALLOWED for route in ROUTES]


@pytest.mark.parametrize(("role", "method", "template", "body", "needs"), CASES,
                         ids=[f"{c[0]}-{c[1]} {c[2]}" for c in CASES])
async def test_role_against_route(client, factory, db, role: str, method: str, template: str, body: Any,
                                  needs: str) -> None:
    tenant = await factory.tenant("mrdj")
    number = await _ticket(client, await factory.headers(tenant, "admin"))
    headers = await factory.headers(tenant, role)
    before = await _counts(db)
    response = await client.request(method, API + template.format(n=number), headers=headers, json=body)
    if needs in ALLOWED[role]:
        assert response.status_code == (201 if method == "POST" and template in CREATED else 200), response.text
    else:
        assert response.status_code == 403, response.text
        assert f"tickets:{needs}" in response.json()["detail"]
        assert await _counts(db) == before


@pytest.mark.parametrize(("method", "template", "body", "_needs"), [r for r in ROUTES if "{n}" in r[1]],
                         ids=[f"{r[0]} {r[1]}" for r in ROUTES if "{n}" in r[1]])
async def test_another_tenants_ticket_answers_404_and_stays_unchanged(client, factory, db, method: str,
                                                                      template: str, body: Any, _needs: str) -> None:
    a = await factory.tenant("mrdj")
    b = await factory.tenant("other")
    a_headers = await factory.headers(a, "admin")
    number = await _ticket(client, a_headers)
    before = (await client.get(f"{API}/tickets/{number}", headers=a_headers)).json()
    response = await client.request(method, API + template.format(n=number), json=body,
                                    headers=await factory.headers(b, "admin"))
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"{API}/tickets/{number}", headers=a_headers)).json() == before


async def test_lists_and_breaches_show_only_the_keys_tenant(client, factory) -> None:  # type: ignore[no-untyped-def]
    a = await factory.tenant("mrdj")
    b = await factory.tenant("other")
    await _ticket(client, await factory.headers(a, "admin"))
    b_headers = await factory.headers(b, "admin")
    assert (await client.get(f"{API}/tickets", headers=b_headers)).json()["total"] == 0
    assert (await client.get(f"{API}/sla/breaches", headers=b_headers)).json() == []


async def test_linking_another_tenants_lead_is_refused_like_a_missing_one(client, factory, db) -> None:  # type: ignore[no-untyped-def]
    a = await factory.tenant("mrdj")
    b = await factory.tenant("other")
    their_lead = await factory.lead(b)
    headers = await factory.headers(a, "admin")
    number = await _ticket(client, headers)
    before = await _counts(db)
    theirs = await client.post(f"{API}/tickets/{number}/links", headers=headers,
                               json={"type": "lead", "ref": str(their_lead.id)})
    missing = await client.post(f"{API}/tickets/{number}/links", headers=headers,
                                json={"type": "lead", "ref": "99999999"})
    assert theirs.status_code == missing.status_code == 422
    assert theirs.json()["detail"].replace(str(their_lead.id), "X") == missing.json()["detail"].replace(
        "99999999", "X")
    assert await _counts(db) == before


@pytest.mark.parametrize(("path", "body", "names"), [
    ("/tickets", {"subject": "x", "activity": "nonsense"}, "activity"),
    ("/tickets", {"subject": "", "activity": "data_correction"}, "subject"),
    ("/tickets", {"subject": "x", "activity": "data_correction", "priority": "P4"}, "priority"),
    ("/tickets", {"subject": "x", "activity": "data_correction", "extra": 1}, "extra"),
    ("/tickets/{n}/status", {"status": "archived"}, "status"),
    ("/tickets/{n}/assignee", {}, "user"),
    ("/tickets/{n}/assignee", {"team": "nosuchteam"}, "team"),
    ("/tickets/{n}/runbook", {"runbook_key": "x", "step": 1}, "runbook_key"),
    ("/tickets/{n}/links", {"type": "invoice", "ref": "1"}, "type"),
])
async def test_bad_input_is_a_clear_problem_and_changes_nothing(client, factory, db, path: str, body: Any,
                                                                names: str) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "support")
    number = await _ticket(client, headers)
    before = await _counts(db)
    response = await client.post(API + path.format(n=number), headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert names in response.text
    assert await _counts(db) == before


async def test_a_not_allowed_status_change_is_409(client, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "support")
    number = await _ticket(client, headers)
    assert (await client.post(f"{API}/tickets/{number}/status", headers=headers,
                              json={"status": "closed"})).status_code == 200
    response = await client.post(f"{API}/tickets/{number}/status", headers=headers, json={"status": "pending"})
    assert response.status_code == 409
    assert "cannot go from closed to pending" in response.json()["detail"]


async def test_every_change_is_audited(client, factory, db) -> None:  # type: ignore[no-untyped-def]
    from tests.table_counts import audit_entries

    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "support")
    number = await _ticket(client, headers)
    for path, body in [("replies", {"body": "x"}), ("notes", {"body": "y"}), ("assignee", {"team": "support"}),
                       ("links", {"type": "alert", "ref": "fp"}), ("runbook", {"runbook_key": "2.1", "step": 1}),
                       ("priority", {"priority": "P1"}), ("status", {"status": "resolved"})]:
        assert (await client.post(f"{API}/tickets/{number}/{path}", headers=headers, json=body)).status_code < 300
    actions = [e.action for e in await audit_entries(db) if e.entity_type == "support_ticket"]
    # The first reply also opens the ticket: one entry, its before/after shows the status change.
    assert actions == ["support.ticket.created", "support.ticket.replied",
                       "support.ticket.noted", "support.ticket.assigned", "support.ticket.linked",
                       "support.ticket.runbook_step", "support.ticket.priority", "support.ticket.status"]


async def test_ticking_a_step_with_an_action_puts_its_answer_on_the_timeline(client, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    number = await _ticket(client, headers)
    response = await client.post(f"{API}/tickets/{number}/runbook", headers=headers,
                                 json={"runbook_key": "2.1", "step": 1})  # 2.1 step 1: attach /status
    assert response.status_code == 201, response.text
    assert response.json()["output"].startswith("/status ")
    detail = (await client.get(f"{API}/tickets/{number}", headers=headers)).json()
    assert any(e["body"].startswith("Runbook 2.1 step 1 done:\n/status ") for e in detail["timeline"])


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/tickets/{n}/runbook", {"runbook_key": "9.9", "step": 1}, "runbook_key"),
    ("/tickets/{n}/runbook", {"runbook_key": "2.2", "step": 99}, "step"),
    ("/tickets", {"subject": "x", "activity": "data_correction", "priority": "P3", "runbook_key": "9.9"},
     "runbook_key"),
])
async def test_an_unknown_runbook_or_step_is_refused_naming_it(client, factory, db, path: str, body: Any,  # type: ignore[no-untyped-def]
                                                               field: str) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    number = await _ticket(client, headers)
    before = await _counts(db)
    response = await client.post(API + path.replace("{n}", str(number)), headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert await _counts(db) == before
