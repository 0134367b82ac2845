"""Telling the security officer about security events (a break-glass sign-in link). Staff identity sits below the
channel integrations, so the sender is registered at start-up by the top layer (`crm` CLI, app factory)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

# (tenant row, channel, text, idempotency key) -> one sentence saying whether and where it was announced.
Announcer = Callable[[Any, str, str, str], Awaitable[str]]

_announcer: Announcer | None = None


def register(announcer: Announcer | None) -> None:
    """Install (or with None remove) the sender of security announcements."""
    global _announcer
    _announcer = announcer


async def announce(tenant: Any, target: str, text: str, idempotency_key: str) -> str:
    if _announcer is None:
        return "Not announced: no chat sender is installed in this process. Tell the security officer yourself " \
               "(runbook 2.3)."
    return await _announcer(tenant, target, text, idempotency_key)
