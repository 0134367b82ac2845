"""One POST to a vendor over HTTP with a timeout, and the classification every HTTP channel shares:
timeouts, connection errors, 408, 429 (honouring Retry-After) and 5xx are retryable; other 4xx are permanent."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from rentguy_crm.integrations.base import PermanentDeliveryError, RetryableDeliveryError

MAX_RETRY_AFTER_SECONDS = 7 * 86400


def retry_after(value: str | None, now: dt.datetime | None = None) -> dt.timedelta | None:
    """Retry-After as seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        # A vendor's number is input too: a huge one waits the longest we allow instead of overflowing.
        seconds = int(value) if len(value) <= 9 else MAX_RETRY_AFTER_SECONDS
        return dt.timedelta(seconds=min(seconds, MAX_RETRY_AFTER_SECONDS))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = when - (now or dt.datetime.now(dt.UTC))
    return min(max(delta, dt.timedelta(0)), dt.timedelta(seconds=MAX_RETRY_AFTER_SECONDS))


def classify(channel: str, response: httpx.Response) -> None:
    """Raise the delivery error a non-2xx answer means; return for 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    snippet = response.text[:200].replace("\n", " ")
    if status == 429:
        wait = retry_after(response.headers.get("retry-after"))
        raise RetryableDeliveryError(f"{channel}: rate limited (429){f', retry after {wait}' if wait else ''}",
                                     retry_after=wait, status=status)
    if status == 408 or status >= 500:
        raise RetryableDeliveryError(f"{channel}: server answered {status}: {snippet}",
                                     retry_after=retry_after(response.headers.get("retry-after")), status=status)
    raise PermanentDeliveryError(f"{channel}: request refused with {status}: {snippet}", status=status)


async def post(channel: str, url: str, *, timeout_seconds: float, json: Any = None, content: bytes | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
    """POST and return a 2xx response, or raise a classified delivery error. The URL never appears in errors:
    webhook URLs are credentials."""
    try:
        async with httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False) as client:
            response = await client.post(url, json=json, content=content, headers=headers)
    except httpx.TimeoutException:
        raise RetryableDeliveryError(f"{channel}: no answer within {timeout_seconds:g}s") from None
    except httpx.TransportError as exc:
        raise RetryableDeliveryError(f"{channel}: connection failed ({type(exc).__name__})") from None
    classify(channel, response)
    return response
