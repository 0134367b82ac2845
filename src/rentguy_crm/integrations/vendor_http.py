"""One request to a vendor's REST API and the classification the escalation clients share: timeouts, connection
errors, 408, 429 (with Retry-After) and 5xx are retryable; other 4xx are permanent and name the vendor and the
vendor's own reason (its error body), never a credential or a URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from rentguy_crm.integrations.base import ChannelNotConfigured, PermanentDeliveryError, RetryableDeliveryError
from rentguy_crm.integrations.http_delivery import retry_after
from rentguy_crm.kit import secrets

Reason = Callable[[Any], str | None]


def secret(vendor: str, reference: str) -> SecretStr:
    """Resolve a vendor credential at call time; a missing one is a permanent, named configuration error."""
    try:
        return secrets.resolve(reference)
    except secrets.SecretUnavailable as exc:
        raise ChannelNotConfigured(f"{vendor}: not configured: {exc}") from None


def _reason(response: httpx.Response, reason: Reason) -> str:
    try:
        found = reason(response.json())
    except ValueError:
        found = None
    return (found or response.text[:200].replace("\n", " ") or response.reason_phrase)[:300]


def classify(vendor: str, response: httpx.Response, reason: Reason) -> None:
    """Raise the delivery error a non-2xx answer means; return for 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429:
        wait = retry_after(response.headers.get("retry-after"))
        raise RetryableDeliveryError(f"{vendor}: rate limited (429){f', retry after {wait}' if wait else ''}",
                                     retry_after=wait, status=status)
    why = _reason(response, reason)
    if status == 408 or status >= 500:
        raise RetryableDeliveryError(f"{vendor}: server error {status}: {why}",
                                     retry_after=retry_after(response.headers.get("retry-after")), status=status)
    kind = {401: "authentication failed", 403: "not allowed", 404: "not found",
            409: "conflict", 422: "validation failed"}.get(status, "request refused")
    raise PermanentDeliveryError(f"{vendor}: {kind} ({status}): {why}", status=status)


async def request(vendor: str, method: str, url: str, *, timeout_seconds: float, reason: Reason,
                  json: Any = None, params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                  auth: httpx.BasicAuth | None = None) -> httpx.Response:
    """Send one request and return its 2xx response, or raise a classified delivery error."""
    try:
        async with httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False) as client:
            response = await client.request(method, url, json=json, params=params, headers=headers, auth=auth)
    except httpx.TimeoutException:
        raise RetryableDeliveryError(f"{vendor}: no answer within {timeout_seconds:g}s") from None
    except httpx.TransportError as exc:
        raise RetryableDeliveryError(f"{vendor}: connection failed ({type(exc).__name__})") from None
    classify(vendor, response, reason)
    return response
