"""The Automations and Templates screens in Chromium, signed in through the local identity provider: pause a
workflow and resume it, retry a dead run, edit a template with its live preview and publish it. Each screen is
checked with axe-core (no serious or critical violation), reached by keyboard, and saved as a screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rentguy_crm.automation.runs.models import WorkflowPause
from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.templates.models import TemplateVersion
from rentguy_crm.tenants import repository as tenants
from tests.browser.conftest import Stack, sign_in_at_provider
from tests.web.operations_world import OperationsWorld, build, run_status

pytestmark = pytest.mark.slow

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = PROJECT_ROOT / "var" / "test-artifacts" / "screens"
TAB_LIMIT = 80  # presses of Tab before giving up on reaching an element


async def _world(db, factory) -> OperationsWorld:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        tenant = await tenants.get(session, "mrdj")
    return await build(db, factory, tenant=tenant)


async def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it stands (evaluated outside the page's CSP)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    return await page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '));
    }""")


async def check_screen(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)
    assert await serious_violations(page) == []


async def reach_by_keyboard(page: Any, selector: str) -> None:
    """Tab from the top of the page until `selector` has the focus."""
    await page.locator("body").focus()
    for _ in range(TAB_LIMIT):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


async def test_pause_a_workflow_with_a_reason_and_resume_it(page, stack: Stack, db, factory) -> None:  # type: ignore[no-untyped-def]
    await _world(db, factory)
    await sign_in_at_provider(page, stack, "bart", next_path="/automations")
    await page.wait_for_url(f"{stack.app_url}/automations")
    await page.wait_for_selector("#workflow-lead_intake")
    await page.wait_for_selector("#run-list table")
    await check_screen(page, "automations")
    await reach_by_keyboard(page, "#reason-lead_intake")
    await page.keyboard.type("SMTP-storing")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#workflow-lead_intake .badge-paused")
    assert "SMTP-storing" in await page.inner_text("#workflow-lead_intake")
    async with db.session() as session:
        assert (await session.scalar(select(WorkflowPause.reason))) == "SMTP-storing"
    await page.get_by_role("button", name="lead_intake hervatten").click()
    await page.wait_for_selector("#reason-lead_intake")
    async with db.session() as session:
        assert await session.scalar(select(WorkflowPause.id)) is None


async def test_retry_a_dead_run_from_its_page(page, stack: Stack, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await _world(db, factory)
    await sign_in_at_provider(page, stack, "bart", next_path=f"/automations/runs/{world.dead}")
    await page.wait_for_url(f"{stack.app_url}/automations/runs/{world.dead}")
    await page.wait_for_selector(".step-log")
    await check_screen(page, "automation-run")
    await reach_by_keyboard(page, "button[hx-post$='/retry']")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#run-detail-notice >> text=Run staat weer in de wachtrij")
    assert await run_status(db, world.dead) != "dead"


async def test_edit_a_template_with_live_preview_and_publish_it(page, stack: Stack, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await _world(db, factory)
    await sign_in_at_provider(page, stack, "bart", next_path="/templates")
    await page.wait_for_url(f"{stack.app_url}/templates")
    await page.wait_for_selector(f"#template-{world.template} a")
    await check_screen(page, "templates")
    await page.click(f"#template-{world.template} a")
    await page.wait_for_selector("#preview .preview-text")
    await page.select_option("#subject-record", f"lead:{world.lead}")
    await reach_by_keyboard(page, "textarea[name=text_body]")
    await page.fill("textarea[name=text_body]", "Beste {{ contact.first_name }}, tot snel!")
    await page.wait_for_function(
        "() => document.querySelector('#preview .preview-text')?.textContent.includes('Beste Anouk, tot snel!')")
    await check_screen(page, "template-editor")
    await page.get_by_role("button", name="Concept opslaan").click()
    await page.wait_for_selector(".notice")
    await page.get_by_role("button", name="Versie 1 publiceren").click()
    await page.wait_for_selector("#editing-status.badge-live")
    async with db.session() as session:
        version = await session.get(TemplateVersion, world.version)
        assert version is not None
        assert (version.status, version.text_body) == ("live", "Beste {{ contact.first_name }}, tot snel!")


async def test_clone_dry_run_table(page, stack: Stack, db, factory) -> None:  # type: ignore[no-untyped-def]
    await _world(db, factory)
    await sign_in_at_provider(page, stack, "bart", next_path="/templates/clone")
    await page.wait_for_url(f"{stack.app_url}/templates/clone")
    await page.wait_for_selector(".clone-table")
    await check_screen(page, "templates-clone")
    await reach_by_keyboard(page, "form[hx-post='/ui/templates/clone'] button")
