"""What every screen's browser test checks, in one place: a screenshot saved as a test artifact, axe-core with no
serious or critical violation, every control reachable with the Tab key, and no Content-Security-Policy
violation while the screen was used."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rentguy_crm.config import PROJECT_ROOT
from tests.browser.conftest import hang_ceiling

ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts" / "screens"
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
# What a person can reach and use: visible, enabled controls.
FOCUSABLE = ("a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), "
             "textarea:not([disabled]), [tabindex]:not([tabindex='-1'])")


async def settled(page: Any) -> None:
    """Wait until htmx has loaded every region (no loading state and no request in flight is left)."""
    await page.wait_for_load_state("load")  # not networkidle: the live-update stream stays open
    await page.wait_for_function("() => !document.querySelector('.state-loading') "
                                 "&& !document.querySelector('.htmx-request')")


async def save_screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot under var/test-artifacts/screens/<name>.png (kept by CI as an artifact)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def assert_accessible(page: Any) -> None:
    """axe-core on the page as the person sees it: 0 serious or critical violations. axe is injected into a twin
    of the page in a context that bypasses the CSP (the real page allows no script from elsewhere)."""
    state = await page.context.storage_state()
    twin_context = await page.context.browser.new_context(bypass_csp=True, storage_state=state)
    hang_ceiling(twin_context)
    try:
        twin = await twin_context.new_page()
        await twin.goto(page.url)
        await settled(twin)
        await twin.add_script_tag(content=AXE.read_text())
        result = await twin.evaluate("axe.run(document, {resultTypes: ['violations']})")
    finally:
        await twin_context.close()
    blocking = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
                for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert blocking == [], blocking


async def assert_keyboard_reachable(page: Any, limit: int = 400) -> None:
    """Every visible control of the page gets the focus when the person presses Tab from the top."""
    count = await page.evaluate("""(selector) => {
        const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
        const controls = [...document.querySelectorAll(selector)].filter(visible);
        controls.forEach((el, i) => el.setAttribute('data-kb', String(i)));
        document.activeElement && document.activeElement.blur();
        return controls.length;
    }""", FOCUSABLE)
    reached: set[str] = set()
    for _ in range(min(limit, count * 2 + 5)):
        await page.keyboard.press("Tab")
        marker = await page.evaluate("document.activeElement && document.activeElement.getAttribute('data-kb')")
        if marker is not None:
            reached.add(marker)
        if len(reached) == count:
            break
    missing = await page.evaluate("""(reached) => [...document.querySelectorAll('[data-kb]')]
        .filter(el => !reached.includes(el.getAttribute('data-kb'))).map(el => el.outerHTML.slice(0, 120))""",
                                  sorted(reached))
    assert missing == [], missing


class CspWatch:
    """Collects the browser's reports of blocked scripts, styles or connections (the page must cause none)."""

    def __init__(self, page: Any) -> None:
        self.violations: list[str] = []
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(message.text)
