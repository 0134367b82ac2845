"""`HelpDesk` over the Freshdesk API v2 (https://developers.freshdesk.com/api/#tickets).

Auth is HTTP basic with the agent's API key as user name and `X` as password. Validation errors are `400` with
`{"description": "Validation failed", "errors": [{"field", "message", "code"}]}`; rate limits are `429` with
`Retry-After` (seconds). The desk's priorities and statuses map to Freshdesk's numbers below.
"""

from __future__ import annotations

from typing import Any

import httpx

from rentguy_crm.integrations import vendor_http
from rentguy_crm.integrations.base import PermanentDeliveryError
from rentguy_crm.tenants.sections.channels import FreshdeskChannel

VENDOR = "freshdesk"

# Freshdesk's numbers (https://developers.freshdesk.com/api/#ticket_attributes).
PRIORITY_LOW, PRIORITY_MEDIUM, PRIORITY_HIGH, PRIORITY_URGENT = 1, 2, 3, 4
STATUS_OPEN, STATUS_PENDING, STATUS_RESOLVED, STATUS_CLOSED = 2, 3, 4, 5
PRIORITY_FOR = {"P1": PRIORITY_URGENT, "P2": PRIORITY_HIGH, "P3": PRIORITY_MEDIUM}
STATUS_FOR = {"new": STATUS_OPEN, "open": STATUS_OPEN, "pending": STATUS_PENDING, "resolved": STATUS_RESOLVED,
              "closed": STATUS_CLOSED}
# Back from Freshdesk's webhook: its status number as the desk's status.
DESK_STATUS = {STATUS_OPEN: "open", STATUS_PENDING: "pending", STATUS_RESOLVED: "resolved", STATUS_CLOSED: "closed"}


def reason(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        details = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
        return f"{body.get('description') or 'Validation failed'}: {details}"
    return str(body.get("message") or body.get("description") or body.get("code") or "") or None


def _check(priority: int, status: int) -> None:
    if priority not in (1, 2, 3, 4):
        raise PermanentDeliveryError(f"{VENDOR}: priority must be 1 (low) .. 4 (urgent), not {priority}")
    if status not in (2, 3, 4, 5):
        raise PermanentDeliveryError(f"{VENDOR}: status must be 2 (open) .. 5 (closed), not {status}")


class FreshdeskHelpDesk:
    def __init__(self, config: FreshdeskChannel) -> None:
        self.config = config

    async def _call(self, method: str, path: str, json: dict[str, Any]) -> Any:
        key = vendor_http.secret(VENDOR, self.config.api_key).get_secret_value()
        response = await vendor_http.request(VENDOR, method, f"{self.config.base_url.rstrip('/')}{path}",
                                             json=json, auth=httpx.BasicAuth(key, "X"), reason=reason,
                                             timeout_seconds=self.config.timeout_seconds)
        return response.json() if response.content else {}

    async def create_ticket(self, *, subject: str, description: str, email: str, priority: int,
                            status: int) -> int:
        """`POST /api/v2/tickets` (201); answers the Freshdesk ticket id. `description` is HTML."""
        _check(priority, status)
        answer = await self._call("POST", "/api/v2/tickets", {
            "subject": subject[:255], "description": description, "email": email, "priority": priority,
            "status": status, "source": 2})
        ticket_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(ticket_id, int):
            raise PermanentDeliveryError(f"{VENDOR}: the created ticket came back without an id")
        return ticket_id

    async def update_ticket(self, *, ticket_id: int, status: int) -> None:
        """`PUT /api/v2/tickets/{id}` with the new status (200)."""
        _check(PRIORITY_LOW, status)
        await self._call("PUT", f"/api/v2/tickets/{int(ticket_id)}", {"status": status})
