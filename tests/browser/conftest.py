"""Browser tests: Debian's Chromium driven by Playwright against the suite served by uvicorn and a real OpenID
provider (`oidc-provider` from npm, installed by `make install-test` with `npm ci`). No browser is downloaded."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rentguy_crm.app import create_app
from rentguy_crm.auth.sso.provider import forget_provider_cache
from rentguy_crm.config import PROJECT_ROOT, get_settings
from tests.identity.conftest import SECRET_VARIABLE, sso_section
from tests.identity.idp_fake import CLIENT_ID, CLIENT_SECRET, DIRECTORY_A, GROUP_ADMIN, GROUP_SALES
from tests.live_server import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
PROVIDER_SCRIPT = PROJECT_ROOT / "tests" / "identity" / "oidc_provider" / "server.mjs"
STARTUP_CEILING_SECONDS = 300  # a hang ceiling: the provider prints its port when it listens
# Playwright gives up on a selector or a navigation after 30 s by default: with both cores busy a page can take
# longer. The tests wait for what they expect to appear; this only ends a test that would otherwise hang.
HANG_CEILING_MS = 300_000
# The people the provider knows, by login name: Entra-like object ids and group object ids.
PEOPLE = {
    "anna": {"oid": "oid-anna-0001", "groups": [GROUP_SALES], "name": "Anna"},
    "bart": {"oid": "oid-bart-0002", "groups": [GROUP_SALES, GROUP_ADMIN], "name": "Bart"},
    "canteen": {"oid": "oid-canteen-0003", "groups": ["group-of-the-canteen"], "name": "Kantine"},
}


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (ops/install-test-tools.sh installs it)"
    if not (PROJECT_ROOT / "node_modules" / "oidc-provider").exists() or shutil.which("node") is None:
        return "oidc-provider is not installed (make install-test runs npm ci)"
    return None


@dataclass
class Stack:
    app_url: str
    provider_url: str


@pytest.fixture
async def stack(factory, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:  # type: ignore[no-untyped-def]
    reason = _missing()
    if reason:
        pytest.skip(f"!! browser test SKIPPED: {reason}")
    forget_provider_cache()
    monkeypatch.setenv(SECRET_VARIABLE, CLIENT_SECRET)
    with LiveServer(create_app(get_settings())) as server:
        monkeypatch.setattr(get_settings(), "base_url", server.url)
        env = {**os.environ, "DIRECTORY": DIRECTORY_A, "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
               "REDIRECT_URI": f"{server.url}/api/v1/auth/sso/callback",
               "POST_LOGOUT_REDIRECT_URI": f"{server.url}/", "PEOPLE": json.dumps(PEOPLE)}
        node = await asyncio.create_subprocess_exec("node", str(PROVIDER_SCRIPT), cwd=PROJECT_ROOT, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        try:
            assert node.stdout is not None
            ready: dict[str, Any] = json.loads(await asyncio.wait_for(node.stdout.readline(),
                                                                      STARTUP_CEILING_SECONDS))
            authority = f"http://127.0.0.1:{ready['port']}"
            monkeypatch.setattr(get_settings(), "sso_entra_authority", authority)
            await factory.tenant("mrdj", sso=sso_section(
                DIRECTORY_A, redirect_uri=f"{server.url}/api/v1/auth/sso/callback"))
            yield Stack(app_url=server.url, provider_url=ready["issuer"])
        finally:
            node.terminate()
            await node.wait()
    forget_provider_cache()


def hang_ceiling(context: Any) -> None:
    """Every wait of this browser context (selectors, clicks, navigations) ends only at the hang ceiling."""
    context.set_default_timeout(HANG_CEILING_MS)
    context.set_default_navigation_timeout(HANG_CEILING_MS)


@pytest.fixture
async def page(stack: Stack) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                   args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            context = await browser.new_context()
            hang_ceiling(context)
            yield await context.new_page()
        finally:
            await browser.close()


async def sign_in_at_provider(page: Any, stack: Stack, login: str, next_path: str | None = None) -> None:
    """Open the suite's sign-in, log in at the provider's form and accept its consent page."""
    url = f"{stack.app_url}/api/v1/auth/sso/login?tenant=mrdj" + (f"&next={next_path}" if next_path else "")
    await page.goto(url)
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", "any-password")
    await page.click("button[type=submit]")
    await page.click("button[type=submit]")  # the consent page's "Continue"
    await page.wait_for_load_state()
