"""The full sign-in in Chromium: the suite's login route, oidc-provider's login form and consent, the callback,
a session cookie the browser keeps; a person in no mapped group reads why they were refused; sign-out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import Stack, sign_in_at_provider

pytestmark = pytest.mark.slow


async def body_json(page: Any) -> dict[str, Any]:
    return json.loads(await page.evaluate("document.body.innerText"))


async def test_person_in_a_mapped_group_signs_in_and_reads_the_crm(page, stack: Stack) -> None:
    await sign_in_at_provider(page, stack, "anna")
    await page.wait_for_url(f"{stack.app_url}/")  # the staff web app's Today
    await page.goto(f"{stack.app_url}/api/v1/auth/me")
    me = await body_json(page)
    assert (me["tenant"], me["roles"], me["kind"]) == ("mrdj", ["sales"], "session")
    cookies = {c["name"]: c for c in await page.context.cookies(stack.app_url)}
    assert cookies["crm_session"]["httpOnly"] and cookies["crm_session"]["sameSite"] == "Lax"
    await page.goto(f"{stack.app_url}/api/v1/crm/pipelines")
    pipelines = json.loads(await page.evaluate("document.body.innerText"))
    assert [p["key"] for p in pipelines][:2] == ["wedding", "corporate"]


async def test_next_brings_the_person_back_where_they_were_going(page, stack: Stack) -> None:
    await sign_in_at_provider(page, stack, "bart", next_path="/api/v1/crm/pipelines")
    await page.wait_for_url(f"{stack.app_url}/api/v1/crm/pipelines")


async def test_person_in_no_mapped_group_is_shown_why(page, stack: Stack) -> None:
    await sign_in_at_provider(page, stack, "canteen")
    assert "none of your groups gives you a role" in await page.inner_text("#reason")
    assert "crm_session" not in {c["name"] for c in await page.context.cookies(stack.app_url)}


async def test_sign_out_ends_the_session_and_names_the_provider_logout(page, stack: Stack) -> None:
    await sign_in_at_provider(page, stack, "anna")
    await page.wait_for_url(f"{stack.app_url}/")
    answer = await page.evaluate("""async () => {
        const csrf = document.cookie.split('; ').find(c => c.startsWith('crm_csrf=')).split('=')[1];
        const r = await fetch('/api/v1/auth/logout', {method: 'POST', headers: {'X-CSRF-Token': csrf}});
        return await r.json();
    }""")
    assert answer["signed_out"] is True
    assert answer["end_session_url"].startswith(f"{stack.provider_url}/session/end?")
    # With the browser's cookies, but not as a navigation: a live request of the open page now gets 401 and sends
    # it to the sign-in page, which would cut a navigation of ours short.
    response = await page.request.get(f"{stack.app_url}/api/v1/auth/me")
    assert response.status == 401
