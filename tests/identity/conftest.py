"""Fixtures for sign-in tests: the Entra-like provider and Graph fakes, tenants whose `sso` points at them, and a
client on https://testserver (session cookies are Secure outside development)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from rentguy_crm.auth.sso.provider import forget_provider_cache
from rentguy_crm.config import get_settings
from tests.identity.idp_fake import (
    CLIENT_ID,
    CLIENT_SECRET,
    DIRECTORY_A,
    DIRECTORY_B,
    GROUP_ADMIN,
    GROUP_SALES,
    EntraFake,
    GraphFake,
)

SECRET_VARIABLE = "CRM_TEST_SSO_CLIENT_SECRET"


def sso_section(directory: str, **overrides: Any) -> dict[str, Any]:
    return {"provider": "entra", "directory_id": directory, "client_id": CLIENT_ID,
            "client_secret": f"env:{SECRET_VARIABLE}",
            "redirect_uri": "https://testserver/api/v1/auth/sso/callback",
            "group_roles": {GROUP_SALES: ["sales"], GROUP_ADMIN: ["admin"]}, **overrides}


@pytest.fixture
async def idp(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EntraFake]:
    forget_provider_cache()
    monkeypatch.setenv(SECRET_VARIABLE, CLIENT_SECRET)
    async with EntraFake() as fake:
        monkeypatch.setattr(get_settings(), "sso_entra_authority", fake.authority)
        yield fake  # type: ignore[misc]
    forget_provider_cache()


@pytest.fixture
async def graph(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GraphFake]:
    async with GraphFake() as fake:
        monkeypatch.setattr(get_settings(), "sso_graph_base_url", f"http://127.0.0.1:{fake.port}")
        yield fake  # type: ignore[misc]


@pytest.fixture
async def tenant_a(factory, idp):  # type: ignore[no-untyped-def]
    return await factory.tenant("mrdj", sso=sso_section(DIRECTORY_A))


@pytest.fixture
async def tenant_b(factory, idp):  # type: ignore[no-untyped-def]
    return await factory.tenant("other", sso=sso_section(DIRECTORY_B))


@pytest.fixture
def dev_mode() -> Iterator[None]:
    yield


@pytest.fixture
async def browser(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """Like a browser: keeps cookies, does not follow redirects by itself."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


async def start(browser: httpx.AsyncClient, tenant: str = "mrdj", **params: str) -> httpx.Response:
    return await browser.get("/api/v1/auth/sso/login", params={"tenant": tenant, **params})


async def at_provider(login: httpx.Response) -> str:
    """Follow the redirect to the provider, which signs the test person in at once; the callback query back."""
    assert login.status_code == 302, login.text
    async with httpx.AsyncClient() as outside:
        answer = await outside.get(login.headers["location"])
    assert answer.status_code == 302, answer.text
    return urlparse(answer.headers["location"]).query


async def sign_in(browser: httpx.AsyncClient, tenant: str = "mrdj", **params: str) -> httpx.Response:
    query = await at_provider(await start(browser, tenant, **params))
    return await browser.get(f"/api/v1/auth/sso/callback?{query}", headers={"Accept": "application/json"})
