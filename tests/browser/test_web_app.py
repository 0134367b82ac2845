"""The staff web app in Chromium: sign in through the local identity provider, see a lead posted on the public
form appear in the inbox without reloading, open the person's page; Today; the language switch that persists.
Every screen: axe-core, Tab reachability, no CSP violation, a screenshot."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Stack, sign_in_at_provider
from tests.browser.screens import CspWatch, assert_accessible, assert_keyboard_reachable, save_screenshot, settled

pytestmark = pytest.mark.slow


async def post_public_lead(stack: Stack, **fields: Any) -> dict[str, Any]:
    """A visitor sends the website's form (the public lead route the form posts to)."""
    body = {"tenant": "mrdj", "first_name": "Fleur", "last_name": "Jansen", "email": "fleur@example.nl",
            "phone": "06 12345678", "event_type": "bruiloft", "message": "Graag een offerte", **fields}
    async with httpx.AsyncClient(base_url=stack.app_url) as client:
        response = await client.post("/api/v1/public/leads", json=body, headers={"Origin": "https://mr-dj.nl"})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_lead_from_the_form_appears_in_the_inbox_without_reload(page, stack: Stack) -> None:
    csp = CspWatch(page)
    await sign_in_at_provider(page, stack, "bart", next_path="/leads")
    await page.wait_for_url(f"{stack.app_url}/leads")
    await settled(page)
    assert await page.locator("#lead-list .state-empty").count() == 1
    await save_screenshot(page, "leads-empty")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    await post_public_lead(stack)
    row = page.locator("#lead-list tr", has_text="Fleur Jansen")
    await row.wait_for()  # arrives over server-sent events; the page was not reloaded
    assert navigations == []
    await settled(page)
    await assert_accessible(page)
    await assert_keyboard_reachable(page)
    await save_screenshot(page, "leads")

    await row.get_by_role("link", name="Fleur Jansen").click()
    await page.wait_for_url(f"{stack.app_url}/contacts/*")
    await settled(page)
    assert await page.locator("h1").inner_text() == "Fleur Jansen"
    assert await page.locator("article", has_text="Graag een offerte").count() == 1  # the form data
    assert await page.locator("#timeline .timeline li").count() >= 1
    await assert_accessible(page)
    await assert_keyboard_reachable(page)
    await save_screenshot(page, "contact")
    assert csp.violations == []


async def test_search_finds_the_lead_by_phone_written_another_way(page, stack: Stack) -> None:
    await post_public_lead(stack)
    await post_public_lead(stack, first_name="Sem", last_name="Bakker", email="sem@example.nl", phone="0201234567")
    await sign_in_at_provider(page, stack, "bart", next_path="/leads")
    await page.wait_for_url(f"{stack.app_url}/leads")
    await page.get_by_label("Zoeken").fill("+31 6 1234 5678")
    await page.get_by_role("button", name="Filteren").click()
    await settled(page)
    names = await page.locator("#lead-list tbody tr td:first-child a").all_inner_texts()
    assert names == ["Fleur Jansen"]


async def test_today_shows_the_new_lead_and_passes_the_checks(page, stack: Stack) -> None:
    csp = CspWatch(page)
    await post_public_lead(stack)
    await sign_in_at_provider(page, stack, "bart")
    await page.wait_for_url(f"{stack.app_url}/")
    await settled(page)
    assert "Fleur Jansen" in await page.locator("#card-new-leads").inner_text()
    assert await page.locator("#card-automations table, #card-automations .state-empty").count() == 1
    await assert_accessible(page)
    await assert_keyboard_reachable(page)
    await save_screenshot(page, "today")
    assert csp.violations == []


async def test_a_person_without_the_permission_sees_the_not_allowed_state(page, stack: Stack) -> None:
    await sign_in_at_provider(page, stack, "anna")  # sales: no tickets, so Today has no ticket card
    await page.wait_for_url(f"{stack.app_url}/")
    await settled(page)
    assert await page.locator("#card-tickets").count() == 0
    response = await page.goto(f"{stack.app_url}/ui/today/tickets")
    assert response is not None and response.status == 403
    assert "tickets:read" in await page.content()
    await save_screenshot(page, "not-allowed")


async def test_the_language_switch_to_english_persists(page, stack: Stack) -> None:
    await sign_in_at_provider(page, stack, "bart")
    await page.wait_for_url(f"{stack.app_url}/")
    assert await page.locator("h1").inner_text() == "Vandaag"
    await page.get_by_role("button", name="English").click()
    await page.wait_for_load_state()
    assert await page.locator("h1").inner_text() == "Today"
    await page.goto(f"{stack.app_url}/leads")
    assert await page.locator("h1").inner_text() == "Leads"
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.get_by_role("button", name="Filter").count() == 1
    await page.reload()
    assert await page.get_attribute("html", "lang") == "en"
    await save_screenshot(page, "leads-english")


async def test_a_region_shows_its_loading_state_then_its_error_state(page, stack: Stack) -> None:
    held: list[Any] = []
    arrived = asyncio.Event()

    async def hold(route: Any) -> None:
        held.append(route)
        arrived.set()

    await page.route("**/ui/today/new-leads", hold)
    await sign_in_at_provider(page, stack, "bart")
    await page.wait_for_url(f"{stack.app_url}/")
    await arrived.wait()  # the card asked for its content and is waiting for it
    assert await page.locator("#card-new-leads .state-loading").inner_text() == "Laden…"
    await held[0].fulfill(status=500, body="boom")
    error = page.locator("#card-new-leads .state-error")
    await error.wait_for()
    assert await error.get_attribute("role") == "alert"
    assert "Er ging iets mis" in await error.inner_text()
    await save_screenshot(page, "today-error")
