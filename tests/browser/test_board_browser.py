"""The board and the task list in Chromium against the product as the tenant runs it (`crm run`, or `crm serve` and
`crm workers run` on Postgres, a real SMTP server): sign in at the local OpenID provider, a lead posted on the
public API appears on the board unasked, a deal opened and edited on it, dragged to `proposal_sent` sends the
proposal mail, the undo takes it back and stops the follow-up; a task is completed. Each screen is checked by axe
(no serious or critical violation), walked by keyboard, and saved as a screenshot."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from rentguy_crm.config import PROJECT_ROOT
from tests.acceptance.product import Product, eventually, mail_text
from tests.browser.conftest import (
    PEOPLE,
    PROVIDER_SCRIPT,
    STARTUP_CEILING_SECONDS,
    Stack,
    _missing,
    sign_in_at_provider,
)
from tests.identity.conftest import SECRET_VARIABLE, sso_section
from tests.identity.idp_fake import CLIENT_ID, CLIENT_SECRET, DIRECTORY_A
from tests.vendor_fakes import HttpFake, MollieFake, SmtpFake, WhatsappFake, free_port

pytestmark = pytest.mark.slow

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = PROJECT_ROOT / "var" / "test-artifacts" / "screens"
ANNA = {"first_name": "Anna", "last_name": "Browser", "email": "anna.browser@example.nl", "phone": "06 12345678",
        "event_type": "bruiloft", "event_date": "2027-06-12", "city": "Utrecht"}
TITLE = "Bruiloft Anna Browser"
ME = "anna@example.test"  # the provider's address for login "anna" (a sales person)


class SignedInProduct(Product):
    """The acceptance product with single sign-on at the local OpenID provider."""

    authority: str = ""

    def tenant_config(self) -> dict[str, Any]:
        config = super().tenant_config()
        config["sso"] = sso_section(DIRECTORY_A, redirect_uri=f"http://127.0.0.1:{self.port}/api/v1/auth/sso/callback")
        return config

    def child_env(self) -> dict[str, str]:
        return {**super().child_env(), SECRET_VARIABLE: CLIENT_SECRET, "CRM_SSO_ENTRA_AUTHORITY": self.authority,
                "CRM_BASE_URL": f"http://127.0.0.1:{self.port}"}


@dataclass
class BoardStack(Stack):
    product: SignedInProduct


@pytest.fixture
async def stack(db, database_url: str, tmp_path: Path) -> AsyncIterator[BoardStack]:  # type: ignore[no-untyped-def]
    reason = _missing()
    if reason:
        pytest.skip(f"!! browser test SKIPPED: {reason}")
    port = free_port()
    env = {**os.environ, "DIRECTORY": DIRECTORY_A, "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
           "REDIRECT_URI": f"http://127.0.0.1:{port}/api/v1/auth/sso/callback",
           "POST_LOGOUT_REDIRECT_URI": f"http://127.0.0.1:{port}/", "PEOPLE": json.dumps(PEOPLE)}
    node = await asyncio.create_subprocess_exec("node", str(PROVIDER_SCRIPT), cwd=PROJECT_ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    smtp = SmtpFake()
    smtp.controller.start()
    try:
        assert node.stdout is not None
        ready = json.loads(await asyncio.wait_for(node.stdout.readline(), STARTUP_CEILING_SECONDS))
        async with HttpFake() as slack, WhatsappFake("board-whatsapp-token") as whatsapp, \
                MollieFake("test_boardKeyForMrDj00000000000") as mollie:
            product = SignedInProduct(tmp=tmp_path, postgres=make_url(database_url).get_backend_name() == "postgresql",
                                      smtp=smtp, slack=slack, whatsapp=whatsapp, mollie=mollie, port=port)
            product.authority = f"http://127.0.0.1:{ready['port']}"
            try:
                await product.start()
                yield BoardStack(app_url=product.base, provider_url=ready["issuer"], product=product)
            finally:
                await product.stop()
    finally:
        smtp.controller.stop()
        node.terminate()
        await node.wait()


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core findings on the page as it stands (evaluated by the browser's debugger, which
    the page's Content-Security-Policy does not govern)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = await page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
    return found


async def tab_reaches(page: Any, selectors: list[str], presses: int = 300) -> set[str]:
    """The selectors whose element gets the keyboard focus while Tab walks the page from its start."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    reached: set[str] = set()
    for _ in range(presses):
        await page.keyboard.press("Tab")
        for selector in selectors:
            if selector not in reached and await page.evaluate(
                    "s => document.activeElement && document.activeElement.matches(s)", selector):
                reached.add(selector)
        if reached == set(selectors):
            break
    return reached


async def checked_screen(page: Any, name: str, keyboard: list[str]) -> None:
    assert await axe_violations(page) == [], f"axe on {name}"
    assert await tab_reaches(page, keyboard) == set(keyboard), f"keyboard on {name}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def test_lead_to_board_drag_to_proposal_sent_mail_undo_and_a_completed_task(page: Any,
                                                                                  stack: BoardStack) -> None:
    product = stack.product
    await sign_in_at_provider(page, stack, "anna", next_path="/pipelines/wedding")
    await page.wait_for_url(f"{stack.app_url}/pipelines/wedding")
    await page.wait_for_selector("#board .board")

    lead = await product.public_lead(**ANNA)
    card = f"#lead-card-{lead['lead_id']}"
    await page.wait_for_selector(card)  # server-sent events: no reload
    await checked_screen(page, "pipelines-board", [f"{card} button"])

    await page.click(f"{card} button")
    await page.wait_for_selector("#board-notice .notice")
    deal_card = page.locator(".stage-cards[data-stage=new] .deal-card").first
    await deal_card.wait_for()
    deal_id = int(await deal_card.get_attribute("data-deal-id") or 0)
    deal = f"#deal-{deal_id}"

    await page.click(f"{deal} button:has-text('Bewerken')")
    await page.wait_for_selector(f"{deal}.deal-edit")
    await checked_screen(page, "pipelines-deal-edit", [f"{deal} input[name=title]", f"{deal} select[name=owner]",
                                                      f"{deal} input[name=event_date]", f"{deal} button[type=submit]"])
    await page.fill(f"{deal} input[name=title]", TITLE)
    await page.select_option(f"{deal} select[name=owner]", ME)
    await page.fill(f"{deal} input[name=value]", "2450")
    await page.click(f"{deal} button[type=submit]")
    await page.wait_for_selector(f"{deal}:not(.deal-edit) >> text={TITLE}")
    saved = await product.get(f"/api/v1/crm/deals/{deal_id}")
    assert (saved["owner"], saved["event_date"], saved["value"]) == (ME, "2027-06-12", "2450.00")

    await page.wait_for_selector(f".stage-cards[data-stage=new] {deal}")
    await checked_screen(page, "pipelines-board-with-deal", [f"{deal} select[name=stage]", f"{deal} .move-form button"])
    await page.wait_for_selector("#board:not(.htmx-request)")  # no reload in flight under the drag
    # Held by its title: a press on the card's own controls is theirs, not a drag.
    await page.drag_and_drop(deal, ".stage-cards[data-stage=proposal_sent]", source_position={"x": 12, "y": 10})
    await page.wait_for_selector("#board-notice form[hx-post$='/undo']")
    assert (await product.get(f"/api/v1/crm/deals/{deal_id}"))["stage"] == "proposal_sent"

    async def proposal_mails() -> list[Any]:
        return product.mails_to(ANNA["email"], f"offerte voor {TITLE}")

    mails = await eventually(proposal_mails, "the proposal mail at the SMTP server")
    assert mail_text(mails[0]).startswith("Hoi Anna,")

    async def waiting() -> list[dict[str, Any]] | None:
        runs = await product.runs("proposal_followup", deal_id=deal_id)
        return runs if runs and runs[0]["status"] == "waiting" else None

    await eventually(waiting, "the proposal follow-up waiting for its reminder")
    await page.click("#board-notice button:has-text('Ongedaan maken')")
    await page.wait_for_selector("#board-notice >> text=Ongedaan gemaakt")
    await page.wait_for_selector(f".stage-cards[data-stage=new] {deal}")
    assert (await product.get(f"/api/v1/crm/deals/{deal_id}"))["stage"] == "new"
    [run] = await product.runs("proposal_followup", deal_id=deal_id)
    assert run["status"] == "cancelled"

    due = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    todo = await product.send("POST", "/api/v1/crm/activities", {
        "kind": "task", "title": "Bel Anna over de offerte", "owner": ME, "due_at": due, "deal_id": deal_id})
    await page.goto(f"{stack.app_url}/tasks")
    row = f"#task-{todo['id']}"
    await page.wait_for_selector(row)
    await checked_screen(page, "tasks", [f"{row} button", "a[href='/tasks?view=team']"])
    await page.click(f"{row} button")
    # Next to the list, not in it: the list reloads when a run finishes and a done task leaves it.
    await page.wait_for_selector("#task-list-notice >> text=Taak Bel Anna over de offerte gedaan.")
    assert (await product.get(f"/api/v1/crm/activities/{todo['id']}"))["status"] == "done"

    await page.goto(f"{stack.app_url}/tasks?view=team")
    await page.wait_for_selector("#task-list section")
    await checked_screen(page, "tasks-team", ["select[name=team]"])
