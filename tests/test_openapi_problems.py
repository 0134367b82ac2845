"""The OpenAPI document lists, for each operation, the problem responses it can give, with the one schema."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


async def test_every_api_operation_lists_its_problem_responses(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for method, path, op in operations(doc):
        if not path.startswith("/api/"):
            continue
        errors = {int(code): spec for code, spec in op["responses"].items() if int(code) >= 400}
        assert 503 in errors, (method, path)
        for code, spec in errors.items():
            assert spec["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (method, path, code)
        if op.get("parameters") or "requestBody" in op:
            assert 422 in errors, (method, path)
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            assert 404 in errors, (method, path)
        if path not in ("/api/v1/public/leads", "/api/v1/webhooks/typeform/{tenant}"):
            assert {401, 403} <= set(errors), (method, path)
        if method in ("POST", "PATCH"):
            assert {413, 415} <= set(errors), (method, path)


async def test_lead_capture_documents_rate_limiting(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert "429" in doc["paths"]["/api/v1/public/leads"]["post"]["responses"]
    assert "429" not in doc["paths"]["/api/v1/crm/contacts"]["get"]["responses"]


async def test_a_documented_problem_is_what_the_route_answers(client: httpx.AsyncClient, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    answer = await client.get("/api/v1/crm/contacts/9223372036854775808", headers=headers)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert set(answer.json()) >= {"type", "title", "status", "detail"}
