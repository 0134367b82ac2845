"""The skeleton answers: health, auth, problem JSON."""

from __future__ import annotations


async def test_healthz_answers_without_a_key(client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_database_at_head(client) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["migrations"]["ok"] is True


async def test_pipelines_need_a_key(client) -> None:
    response = await client.get("/api/v1/crm/pipelines")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_pipelines_of_the_keys_tenant(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    response = await client.get("/api/v1/crm/pipelines", headers=headers)
    assert response.status_code == 200
    assert [p["key"] for p in response.json()] == ["wedding", "corporate", "festival", "general"]
