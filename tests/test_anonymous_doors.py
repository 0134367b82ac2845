"""Every door an anonymous caller can knock on, with the tenant's secrets missing: no answer names a secret
reference or the environment variable behind it, and an unknown tenant is answered like a known one."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from tests.factories import tenant_document

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
LEAD = {"first_name": "Anna", "email": "anna@example.nl", "event_type": "feest"}


@pytest.fixture
def no_tenant_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CRM_MRDJ_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CRM_METRICS_TOKEN", "scrape-token")


def assert_names_no_secret(response: httpx.Response) -> None:
    for reference in ("env:", "file:", "CRM_MRDJ_", "CRM_METRICS_TOKEN", "payments.mollie", "intake.typeform"):
        assert reference not in response.text, (response.request.url.path, response.text)


async def test_no_anonymous_answer_names_a_secret(client: httpx.AsyncClient, mrdj, no_tenant_secrets) -> None:
    answers = [
        await client.post("/api/v1/webhooks/mollie/mrdj", content="id=tr_WDqYK6vllg", headers=FORM),
        await client.post("/api/v1/webhooks/mollie/mrdj", content="id=ord_123", headers=FORM),
        await client.post("/api/v1/webhooks/typeform/mrdj", content=b"{}",
                          headers={"Content-Type": "application/json", "Typeform-Signature": "sha256=x"}),
        await client.post("/api/v1/public/leads", json={"tenant": "mrdj", **LEAD}),
        await client.post("/api/v1/webhooks/alertmanager", json={"version": "4", "alerts": []}),
        await client.get("/status"),
        await client.get("/metrics"),
    ]
    assert [a.status_code for a in answers] == [503, 200, 404, 201, 401, answers[5].status_code, 401]
    for answer in answers:
        assert_names_no_secret(answer)


async def test_the_alertmanager_webhook_answers_unknown_keys_without_naming_a_tenant(client: httpx.AsyncClient,
                                                                                     mrdj) -> None:
    missing = await client.post("/api/v1/webhooks/alertmanager", json={"version": "4", "alerts": []})
    unknown = await client.post("/api/v1/webhooks/alertmanager", json={"version": "4", "alerts": []},
                                headers={"Authorization": "Bearer crm_nosuchkey"})
    assert missing.status_code == unknown.status_code == 401
    assert "mrdj" not in missing.text and "mrdj" not in unknown.text


@pytest.mark.parametrize(("door", "body"), [
    ("/api/v1/webhooks/mollie", {"content": "id=tr_WDqYK6vllg", "headers": FORM}),
    ("/api/v1/webhooks/typeform", {"content": b"{}", "headers": {"Content-Type": "application/json"}}),
])
async def test_a_tenant_without_the_integration_and_an_unknown_tenant_answer_alike(
        client: httpx.AsyncClient, factory, door: str, body: dict[str, Any]) -> None:
    intake = {k: v for k, v in tenant_document()["intake"].items() if k != "typeform"}
    await factory.tenant("acme", payments={}, intake=intake)
    without = await client.post(f"{door}/acme", **body)
    unknown = await client.post(f"{door}/nosuch", **body)
    assert without.status_code == unknown.status_code == 404
    assert without.json()["detail"] == unknown.json()["detail"]
    assert "acme" not in without.json()["detail"]
