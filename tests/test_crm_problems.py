"""Bad input on the CRM routes: a clear 4xx in problem JSON that names the field, and nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from rentguy_crm.app import create_app
from rentguy_crm.config import get_settings
from tests.table_counts import row_counts

CRM = "/api/v1/crm"

# (method, path template, a valid body): every CRM route that takes a JSON body.
WRITES: list[tuple[str, str, Any]] = [
    ("POST", "/contacts", lambda ids: {"first_name": "Nieuw"}),
    ("PATCH", "/contacts/{contact}", lambda ids: {"owner": "lisa"}),
    ("POST", "/leads", lambda ids: {"contact_id": ids["contact"]}),
    ("PATCH", "/leads/{lead}", lambda ids: {"status": "contacted"}),
    ("POST", "/deals", lambda ids: {"contact_id": ids["contact"], "pipeline": "wedding", "title": "x"}),
    ("PATCH", "/deals/{deal}", lambda ids: {"owner": "lisa"}),
    ("POST", "/deals/{deal}/stage", lambda ids: {"stage": "qualified"}),
    ("POST", "/activities", lambda ids: {"title": "x", "deal_id": ids["deal"]}),
    ("PATCH", "/activities/{activity}", lambda ids: {"owner": "lisa"}),
]
WRITE_IDS = [f"{m} {p}" for m, p, _b in WRITES]

# (route, body, field that must be named)
WRONG_TYPES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/contacts", {"first_name": ["Anna"]}, "first_name"),
    ("POST", "/contacts", {"email": "not-an-email"}, "email"),
    ("POST", "/contacts", {"phone": "call me"}, "phone"),
    ("POST", "/contacts", {"first_name": "A", "marketing_opt_in": "perhaps"}, "marketing_opt_in"),
    ("POST", "/leads", {"contact_id": "abc"}, "contact_id"),
    ("PATCH", "/leads/{lead}", {"guests": "many"}, "guests"),
    ("PATCH", "/leads/{lead}", {"status": "hot"}, "status"),
    ("PATCH", "/leads/{lead}", {"event_date": "next summer"}, "event_date"),
    ("PATCH", "/leads/{lead}", {"budget": -5}, "budget"),
    ("PATCH", "/deals/{deal}", {"value": "lots"}, "value"),
    ("PATCH", "/deals/{deal}", {"currency": "euro"}, "currency"),
    ("POST", "/deals/{deal}/stage", {"stage": 3}, "stage"),
    ("POST", "/activities", {"title": "x", "deal_id": "{deal}", "kind": "meeting"}, "kind"),
    ("POST", "/activities", {"title": "x", "deal_id": "{deal}", "due_at": "2026-03-02T10:00:00"}, "due_at"),
    ("PATCH", "/activities/{activity}", {"status": "finished"}, "status"),
]


@pytest.fixture
async def ids(factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    contact = await factory.contact(tenant, email="anna@example.nl")
    lead = await factory.lead(tenant, contact)
    deal = await factory.deal(tenant, contact)
    task = await factory.activity(tenant, kind="task", deal_id=deal.id)
    return {"contact": contact.id, "lead": lead.id, "deal": deal.id, "activity": task.id,
            "headers": await factory.headers(tenant, "admin")}


def _path(template: str, ids: dict[str, Any]) -> str:
    return CRM + template.format(**ids)


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"] and body["detail"]
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(("method", "template", "body"), WRITES, ids=WRITE_IDS)
async def test_malformed_json_is_422_and_writes_nothing(client, db, ids, method: str, template: str,
                                                        body: Any) -> None:
    before = await row_counts(db)
    response = await client.request(method, _path(template, ids), headers={
        **ids["headers"], "Content-Type": "application/json"}, content=b'{"first_name": "Anna",')
    problem = _assert_problem(response, 422)
    assert "not valid JSON" in problem["detail"]
    assert await row_counts(db) == before


@pytest.mark.parametrize(("method", "template", "body"), WRITES, ids=WRITE_IDS)
async def test_unknown_field_is_422_naming_it_and_writes_nothing(client, db, ids, method: str, template: str,
                                                                 body: Any) -> None:
    before = await row_counts(db)
    response = await client.request(method, _path(template, ids), headers=ids["headers"],
                                    json={**body(ids), "nickname": "Annie"})
    problem = _assert_problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == ["nickname"]
    assert await row_counts(db) == before


@pytest.mark.parametrize(("method", "template", "body", "field"), WRONG_TYPES,
                         ids=[f"{m} {p} {f}" for m, p, _b, f in WRONG_TYPES])
async def test_wrong_type_is_422_naming_the_field_and_writes_nothing(client, db, ids, method: str, template: str,
                                                                     body: dict[str, Any], field: str) -> None:
    body = {k: (ids["deal"] if v == "{deal}" else v) for k, v in body.items()}
    before = await row_counts(db)
    response = await client.request(method, _path(template, ids), headers=ids["headers"], json=body)
    problem = _assert_problem(response, 422)
    assert field in [e["field"] for e in problem["errors"]]
    assert await row_counts(db) == before


@pytest.mark.parametrize(("method", "template", "body"), WRITES, ids=WRITE_IDS)
async def test_json_array_instead_of_object_is_422(client, db, ids, method: str, template: str, body: Any) -> None:
    before = await row_counts(db)
    response = await client.request(method, _path(template, ids), headers=ids["headers"], json=[body(ids)])
    _assert_problem(response, 422)
    assert await row_counts(db) == before


@pytest.mark.parametrize(("method", "template", "body"), WRITES, ids=WRITE_IDS)
async def test_form_encoded_body_is_415_and_writes_nothing(client, db, ids, method: str, template: str,
                                                           body: Any) -> None:
    before = await row_counts(db)
    response = await client.request(method, _path(template, ids), headers=ids["headers"],
                                    data={"first_name": "Anna"})
    _assert_problem(response, 415)
    assert await row_counts(db) == before


@pytest.fixture
async def small_limit_client(db) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    app = create_app(get_settings().model_copy(update={"max_body_bytes": 1000}), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def test_body_over_the_limit_is_413_and_writes_nothing(small_limit_client, db, ids) -> None:
    before = await row_counts(db)
    response = await small_limit_client.post(f"{CRM}/contacts", headers=ids["headers"],
                                             json={"first_name": "A" * 2000})
    _assert_problem(response, 413)
    assert await row_counts(db) == before


async def test_chunked_body_over_the_limit_is_413_and_writes_nothing(small_limit_client, db, ids) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"first_name": "'
        for _ in range(20):
            yield b"A" * 100
        yield b'"}'

    before = await row_counts(db)
    response = await small_limit_client.post(f"{CRM}/contacts", content=chunks(),
                                             headers={**ids["headers"], "Content-Type": "application/json"})
    _assert_problem(response, 413)
    assert await row_counts(db) == before


RECORD_PATHS = [("GET", "/contacts/999999"), ("PATCH", "/contacts/999999"), ("GET", "/leads/999999"),
                ("PATCH", "/leads/999999"), ("GET", "/deals/999999"), ("PATCH", "/deals/999999"),
                ("POST", "/deals/999999/stage"), ("GET", "/activities/999999"), ("PATCH", "/activities/999999"),
                ("POST", "/activities/999999/complete")]


@pytest.mark.parametrize(("method", "path"), RECORD_PATHS, ids=[f"{m} {p}" for m, p in RECORD_PATHS])
async def test_nonexistent_id_is_404_and_writes_nothing(client, db, ids, method: str, path: str) -> None:
    body = {"stage": "qualified"} if path.endswith("/stage") else {} if method != "GET" else None
    before = await row_counts(db)
    response = await client.request(method, CRM + path, headers=ids["headers"], json=body)
    problem = _assert_problem(response, 404)
    assert "999999" in problem["detail"]
    assert problem["instance"] == CRM + path
    assert await row_counts(db) == before


async def test_non_numeric_id_is_422_naming_the_path_parameter(client, ids) -> None:
    response = await client.get(f"{CRM}/deals/abc", headers=ids["headers"])
    problem = _assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "deal_id"


async def test_validation_error_lists_each_field(client, db, ids) -> None:
    response = await client.post(f"{CRM}/deals", headers=ids["headers"],
                                 json={"contact_id": ids["contact"], "value": "x"})
    problem = _assert_problem(response, 422)
    assert {"pipeline", "title", "value"} <= {e["field"] for e in problem["errors"]}
    for error in problem["errors"]:
        assert set(error) == {"field", "message", "type"}


async def test_a_database_that_is_busy_or_gone_answers_503_with_retry_after(app, client) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from sqlalchemy.exc import OperationalError

    @app.get("/test-only/database-busy")
    async def busy() -> None:
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))

    answer = await client.get("/test-only/database-busy")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert answer.headers["content-type"] == "application/problem+json"
    assert "nothing was changed" in answer.json()["detail"]
