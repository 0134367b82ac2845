"""`IncidentBridge` over the Slack Web API (https://api.slack.com/methods) with the official `slack_sdk`
AsyncWebClient and a bot token: a channel per incident (`conversations.create`), its people by e-mail
(`users.lookupByEmail`, `conversations.invite`), the summary and runbook link (`chat.postMessage`), archived when the
incident closes (`conversations.archive`).

Slack answers `200 {"ok": false, "error": "<code>"}` for refused calls and `429` with `Retry-After` (seconds) when
rate limited (https://api.slack.com/apis/rate-limits). A 429 asking for a short wait is waited out up to
`rate_limit_retries` times by slack_sdk's rate-limit retry handler. A longer wait, a 429 beyond those retries,
a 5xx, a timeout or one of Slack's transient error codes raises `RetryableDeliveryError` (with Slack's wait);
every other error code is a `PermanentDeliveryError` naming it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from rentguy_crm.integrations import vendor_http
from rentguy_crm.integrations.base import PermanentDeliveryError, RetryableDeliveryError
from rentguy_crm.integrations.http_delivery import retry_after
from rentguy_crm.tenants.sections.channels import SlackBridgeChannel

VENDOR = "slack"
NAME_LIMIT = 80
NAME_TAKEN_ATTEMPTS = 20
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
# Answers that mean the wanted state is already there.
ALREADY = {"already_in_channel", "already_archived", "cant_invite_self"}


def channel_name(name: str) -> str:
    """Slack's channel-name rule: lower case letters, digits, `-` and `_`, at most 80 characters."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")
    if not cleaned:
        raise PermanentDeliveryError(f"{VENDOR}: the channel name {name!r} has no usable characters")
    return cleaned[:NAME_LIMIT]


def _suffixed(base: str, attempt: int) -> str:
    suffix = f"-{attempt}"
    return base[: NAME_LIMIT - len(suffix)] + suffix


class BoundedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (waits Retry-After, plus up to a second of jitter), but only for waits up to
    `max_wait_seconds`: a longer wait is not spent holding a worker; the call fails retryable with Slack's wait and
    the run engine schedules the retry."""

    def __init__(self, max_retry_count: int, max_wait_seconds: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    async def _can_retry_async(self, *, state: Any, request: Any, response: Any = None,
                               error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        values = {k.lower(): v for k, v in response.headers.items()}.get("retry-after") or ["1"]
        value = values[0] if isinstance(values, list) else values
        return str(value).strip().isdigit() and int(value) <= self.max_wait_seconds


class SlackIncidentBridge:
    def __init__(self, config: SlackBridgeChannel) -> None:
        self.config = config

    def client(self) -> AsyncWebClient:
        token = vendor_http.secret(VENDOR, self.config.bot_token).get_secret_value()
        handlers: list[AsyncRetryHandler] = [BoundedRateLimitRetryHandler(
            self.config.rate_limit_retries, self.config.rate_limit_max_wait_seconds)]
        # slack_sdk takes whole seconds.
        return AsyncWebClient(token=token, base_url=self.config.base_url,
                              timeout=max(1, round(self.config.timeout_seconds)),
                              retry_handlers=handlers)

    async def _call(self, method: str, call: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await call(**kwargs)
        except SlackApiError as exc:
            raise _classified(method, exc) from None
        except TimeoutError:
            raise RetryableDeliveryError(f"{VENDOR}: {method}: no answer within "
                                         f"{self.config.timeout_seconds:g}s") from None
        except aiohttp.ClientError as exc:
            raise RetryableDeliveryError(f"{VENDOR}: {method}: connection failed ({type(exc).__name__})") from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def open_channel(self, *, name: str, member_emails: list[str], summary: str,
                           runbook_url: str | None) -> str:
        """Create the channel (`name` made Slack-safe; when taken, `-2`, `-3`, … is added), invite the people
        Slack knows by e-mail (unknown addresses are skipped and counted in the message), post the summary and
        the runbook link, and answer the channel id (e.g. `C012AB3CD`)."""
        client = self.client()
        channel_id = await self._create(client, channel_name(name))
        users, unknown = [], 0
        for email in dict.fromkeys(e.strip().lower() for e in member_emails if e.strip()):
            try:
                found = await self._call("users.lookupByEmail", client.users_lookupByEmail, email=email)
            except PermanentDeliveryError as exc:
                if "users_not_found" not in str(exc):
                    raise
                unknown += 1
                continue
            users.append(str(found["user"]["id"]))
        if users:
            try:
                await self._call("conversations.invite", client.conversations_invite, channel=channel_id,
                                 users=",".join(users))
            except PermanentDeliveryError as exc:
                if not any(code in str(exc) for code in ALREADY):
                    raise
        text = summary + (f"\nRunbook: {runbook_url}" if runbook_url else "")
        if unknown:
            text += f"\n({unknown} people could not be found in Slack by e-mail and were not invited.)"
        await self._call("chat.postMessage", client.chat_postMessage, channel=channel_id, text=text)
        return channel_id

    async def _create(self, client: AsyncWebClient, base: str) -> str:
        for attempt in range(1, NAME_TAKEN_ATTEMPTS + 1):
            candidate = base if attempt == 1 else _suffixed(base, attempt)
            try:
                created = await self._call("conversations.create", client.conversations_create, name=candidate,
                                           is_private=self.config.private_channels)
            except PermanentDeliveryError as exc:
                if "name_taken" in str(exc):
                    continue
                raise
            return str(created["channel"]["id"])
        raise PermanentDeliveryError(f"{VENDOR}: conversations.create: name_taken for {base} and "
                                     f"{NAME_TAKEN_ATTEMPTS - 1} suffixed names")

    async def archive_channel(self, *, channel_id: str) -> None:
        """Archive the incident channel; an already archived channel is fine."""
        try:
            await self._call("conversations.archive", self.client().conversations_archive, channel=channel_id)
        except PermanentDeliveryError as exc:
            if "already_archived" not in str(exc):
                raise


def _classified(method: str, exc: SlackApiError) -> PermanentDeliveryError | RetryableDeliveryError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    code = str(data.get("error") or f"http {status}")
    headers = {k.lower(): (v[0] if isinstance(v, list) else v) for k, v in (response.headers or {}).items()}
    wait: dt.timedelta | None = retry_after(headers.get("retry-after"))
    if status == 429 or code == "ratelimited":
        return RetryableDeliveryError(f"{VENDOR}: {method}: rate limited (429)"
                                      f"{f', retry after {wait}' if wait else ''}", retry_after=wait, status=429)
    if status >= 500 or code in TRANSIENT_ERRORS:
        return RetryableDeliveryError(f"{VENDOR}: {method}: {code}", retry_after=wait, status=status or None)
    return PermanentDeliveryError(f"{VENDOR}: {method}: {code}", status=status or None)
