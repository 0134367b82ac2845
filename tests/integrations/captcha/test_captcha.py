"""Captcha verification against a local fake siteverify server: accept, reject, down (fail open / closed)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rentguy_crm.crm.models import Lead
from rentguy_crm.db import Database
from tests.factories import tenant_document
from tests.intake.test_pipeline import PUBLIC, count, form, only
from tests.integrations.captcha.fake_siteverify import GOOD_TOKEN, SECRET, closed_port_url, siteverify_server


@pytest.fixture(autouse=True)
def captcha_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_TEST_CAPTCHA_SECRET", SECRET)


async def captcha_tenant(factory: Any, url: str, policy: str = "fail_open", provider: str = "turnstile") -> Any:
    intake = tenant_document()["intake"] | {"captcha": {
        "provider": provider, "secret": "env:CRM_TEST_CAPTCHA_SECRET", "verify_url": url, "policy": policy,
        "timeout_seconds": 2}}
    return await factory.tenant("mrdj", intake=intake)


@pytest.mark.parametrize("provider", ["hcaptcha", "turnstile", "recaptcha"])
async def test_accepted_token_stores_the_lead(client: httpx.AsyncClient, db: Database, factory,
                                              provider: str) -> None:
    with siteverify_server() as (url, posts):
        await captcha_tenant(factory, url, provider=provider)
        response = await client.post(PUBLIC, json=form(captcha_token=GOOD_TOKEN))
    assert response.status_code == 201, response.text
    assert posts[0]["remoteip"] == ["203.0.113.10"]
    assert (await only(db, Lead)).flags == []


async def test_rejected_token_is_400_and_stores_nothing(client: httpx.AsyncClient, db: Database, factory) -> None:
    with siteverify_server() as (url, _posts):
        await captcha_tenant(factory, url)
        response = await client.post(PUBLIC, json=form(captcha_token="bad-token"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "captcha_token"
    assert await count(db, Lead) == 0


async def test_missing_token_is_400_when_a_verifier_is_configured(client: httpx.AsyncClient, db: Database,
                                                                  factory) -> None:
    with siteverify_server() as (url, _posts):
        await captcha_tenant(factory, url)
        response = await client.post(PUBLIC, json=form())
    assert response.status_code == 400


async def test_verifier_down_with_fail_open_stores_lead_flagged(client: httpx.AsyncClient, db: Database,
                                                                factory) -> None:
    await captcha_tenant(factory, closed_port_url(), policy="fail_open")
    response = await client.post(PUBLIC, json=form(captcha_token=GOOD_TOKEN))
    assert response.status_code == 201
    assert (await only(db, Lead)).flags == ["captcha_unverified"]


async def test_verifier_down_with_fail_closed_is_503_with_retry_after(client: httpx.AsyncClient, db: Database,
                                                                       factory) -> None:
    await captcha_tenant(factory, closed_port_url(), policy="fail_closed")
    response = await client.post(PUBLIC, json=form(captcha_token=GOOD_TOKEN))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert await count(db, Lead) == 0


async def test_no_verifier_configured_means_no_check(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(captcha_token="anything"))
    assert response.status_code == 201


async def test_retry_with_idempotency_key_replays_without_spending_the_token_again(
        client: httpx.AsyncClient, db: Database, factory) -> None:
    with siteverify_server() as (url, posts):
        await captcha_tenant(factory, url)
        headers = {"Idempotency-Key": "k1"}
        first = await client.post(PUBLIC, json=form(captcha_token=GOOD_TOKEN), headers=headers)
        again = await client.post(PUBLIC, json=form(captcha_token=GOOD_TOKEN), headers=headers)
    assert again.json() == first.json() and len(posts) == 1
