"""Handlers the support desk registers for inbound vendor webhooks, so the webhook doors (a lower layer) never
import the desk. One handler per vendor; without one, the door still records the event and answers 202.

The desk registers at start-up, e.g.
`hooks.register_pager_handler(support.inbound.apply_pager_update)` and
`hooks.register_helpdesk_handler(support.inbound.apply_helpdesk_update)`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.tenants.scope import TenantScope


class PagerUpdateHandler(Protocol):
    """Opsgenie said something happened to alert `alias`: `action` is Opsgenie's (Acknowledge, Close, ...)."""

    def __call__(self, session: AsyncSession, scope: TenantScope, *, alias: str,
                 action: str) -> Awaitable[Any]: ...


class HelpdeskUpdateHandler(Protocol):
    """Freshdesk ticket `freshdesk_id` has status `status`: Freshdesk's number, 2 open, 3 pending, 4 resolved,
    5 closed (`integrations.freshdesk.client.DESK_STATUS` maps it to the desk's status)."""

    def __call__(self, session: AsyncSession, scope: TenantScope, *, freshdesk_id: int,
                 status: int) -> Awaitable[Any]: ...


_pager: PagerUpdateHandler | None = None
_helpdesk: HelpdeskUpdateHandler | None = None


def register_pager_handler(handler: PagerUpdateHandler | None) -> None:
    """Set (or with None, remove) the handler of Opsgenie webhook events."""
    global _pager
    _pager = handler


def register_helpdesk_handler(handler: HelpdeskUpdateHandler | None) -> None:
    """Set (or with None, remove) the handler of Freshdesk webhook events."""
    global _helpdesk
    _helpdesk = handler


def pager_handler() -> PagerUpdateHandler | None:
    return _pager


def helpdesk_handler() -> HelpdeskUpdateHandler | None:
    return _helpdesk
