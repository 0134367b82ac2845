"""Microsoft Graph calendar client for one shared calendar, signed in app-only (client credentials, MSAL).

Endpoints (https://learn.microsoft.com/graph/api/resources/event):
- `POST /users/{owner}/calendar/events` with a `transactionId`, so a create retried after a crash returns the
  event made the first time instead of a second one;
- `PATCH /users/{owner}/events/{id}`, `DELETE /users/{owner}/events/{id}` (404: already gone);
- `GET /users/{owner}/calendarView/delta?startDateTime=…&endDateTime=…`, then the `@odata.nextLink` of each page
  and finally the `@odata.deltaLink` of the last one (https://learn.microsoft.com/graph/delta-query-events).
  410 Gone means the delta state expired: the caller starts again without it (`DeltaExpired`).
429 and 503/504 are retried after `Retry-After` seconds (https://learn.microsoft.com/graph/throttling), at most
`MAX_ATTEMPTS` times. The client secret is a secret reference; when Entra ID answers `invalid_client` the
reference is invalidated and read once more, so a secret rotated in Vault is picked up without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import msal
import structlog

from rentguy_crm.errors import ServiceUnavailable
from rentguy_crm.integrations.base import CalendarDeltaExpired as DeltaExpired
from rentguy_crm.integrations.base import CalendarDeltaPage as DeltaPage
from rentguy_crm.kit import secrets
from rentguy_crm.tenants.sections.calendar import CalendarSettings

log = structlog.get_logger(__name__)

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
MAX_ATTEMPTS = 5
MAX_RETRY_AFTER_SECONDS = 120.0

Sleep = Callable[[float], Awaitable[None]]


class GraphError(ServiceUnavailable):
    """Microsoft Graph or Entra ID refused or failed; the message says which call and why (no personal data)."""

    code, title = "calendar-sync-failed", "Calendar sync failed"


@dataclass
class _TokenSource:
    """One MSAL app per tenant calendar and secret; MSAL keeps the token until shortly before it expires."""

    settings: CalendarSettings
    apps: dict[str, msal.ConfidentialClientApplication] = field(default_factory=dict)

    def _app(self, secret: str) -> msal.ConfidentialClientApplication:
        app = self.apps.get(secret)
        if app is None:
            s = self.settings
            custom_host = s.authority_host.rstrip("/") != DEFAULT_AUTHORITY_HOST
            app = msal.ConfidentialClientApplication(
                s.client_id, client_credential=secret, authority=f"{s.authority_host.rstrip('/')}/{s.directory_id}",
                instance_discovery=not custom_host, timeout=s.timeout_seconds)
            self.apps = {secret: app}  # a rotated secret replaces the app of the old one
        return app

    def _acquire(self) -> str:
        reference = self.settings.client_secret or ""
        for attempt in (1, 2):
            secret = secrets.resolve(reference).get_secret_value()
            try:
                result = self._app(secret).acquire_token_for_client(scopes=GRAPH_SCOPE)
            except ValueError as exc:  # discovery of the authority failed
                raise GraphError(f"Entra ID sign-in failed: {str(exc).splitlines()[0][:200]}") from None
            except OSError as exc:
                raise GraphError(f"Entra ID is unreachable at {self.settings.authority_host} "
                                 f"({type(exc).__name__})") from None
            if "access_token" in result:
                return str(result["access_token"])
            error = str(result.get("error") or "unknown_error")
            if error == "invalid_client" and attempt == 1:
                # The secret was rotated (runbook 2.3 step 3): read it again from the secret store.
                log.info("graph_client_secret_refused_rereading", reference=reference)
                secrets.invalidate(reference)
                self.apps = {}
                continue
            description = str(result.get("error_description") or "").splitlines()[0][:200]
            raise GraphError(f"Entra ID refused the app sign-in ({error}): {description}. Check "
                             f"calendar.client_id and the secret {reference} (docs/calendar.md)")
        raise AssertionError("unreachable")

    async def token(self) -> str:
        return await asyncio.to_thread(self._acquire)


class GraphCalendar:
    """The shared calendar of `settings.calendar_owner`. Use as an async context manager."""

    def __init__(self, settings: CalendarSettings, *, time_zone: str, sleep: Sleep = asyncio.sleep,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.time_zone = time_zone
        self.sleep = sleep
        self.tokens = _TokenSource(settings)
        self.owner_path = f"/users/{quote(settings.calendar_owner or '', safe='')}"
        self.http = httpx.AsyncClient(base_url=settings.graph_url.rstrip("/"), timeout=settings.timeout_seconds,
                                      transport=transport)

    async def __aenter__(self) -> GraphCalendar:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def _request(self, method: str, url: str, *, what: str, json: dict[str, Any] | None = None,
                       params: dict[str, str] | None = None, ok_statuses: tuple[int, ...] = ()) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.tokens.token()}",
                   # Times come back in the tenant's zone; pages hold at most 50 events.
                   "Prefer": f'outlook.timezone="{self.time_zone}", odata.maxpagesize=50'}
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = await self.http.request(method, url, headers=headers, json=json, params=params)
            except httpx.HTTPError as exc:
                raise GraphError(f"Microsoft Graph is unreachable ({what}: {type(exc).__name__})") from None
            if response.status_code in (429, 503, 504) and attempt < MAX_ATTEMPTS:
                wait = _retry_after(response, attempt)
                log.info("graph_throttled", call=what, status=response.status_code, retry_after=wait)
                await self.sleep(wait)
                continue
            if response.status_code == 410:
                raise DeltaExpired(what)
            if response.is_success or response.status_code in ok_statuses:
                return response
            raise GraphError(f"Microsoft Graph answered {response.status_code} to {what}: {_graph_error(response)}")
        raise AssertionError("unreachable")

    async def create_event(self, body: dict[str, Any], *, transaction_id: str) -> dict[str, Any]:
        response = await self._request("POST", f"{self.owner_path}/calendar/events", what="create event",
                                       json={**body, "transactionId": transaction_id})
        return dict(response.json())

    async def update_event(self, event_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The updated event, or None when it no longer exists (deleted in Outlook meanwhile)."""
        response = await self._request("PATCH", f"{self.owner_path}/events/{quote(event_id, safe='')}",
                                       what="update event", json=body, ok_statuses=(404,))
        return None if response.status_code == 404 else dict(response.json())

    async def delete_event(self, event_id: str) -> None:
        await self._request("DELETE", f"{self.owner_path}/events/{quote(event_id, safe='')}", what="delete event",
                            ok_statuses=(404,))

    async def delta_page(self, link: str | None, *, start: str, end: str) -> DeltaPage:
        """One page of the calendar view's changes: from `link` (a next or delta link) or, without one, the start
        of a full round over [start, end) (ISO 8601). Raises DeltaExpired on 410 Gone."""
        if link:
            response = await self._request("GET", link, what="calendar delta")
        else:
            response = await self._request("GET", f"{self.owner_path}/calendarView/delta", what="calendar delta",
                                           params={"startDateTime": start, "endDateTime": end})
        body = response.json()
        return DeltaPage(list(body.get("value") or []), body.get("@odata.nextLink"), body.get("@odata.deltaLink"))


def _retry_after(response: httpx.Response, attempt: int) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float(2 ** attempt)
    return max(0.0, min(seconds, MAX_RETRY_AFTER_SECONDS))


def _graph_error(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return "no details"
    return f"{error.get('code', 'error')}: {str(error.get('message', ''))[:200]}"
