"""Fetching one payment from the Mollie API with Mollie's own client (`mollie-api-python`).

Mollie's webhook carries only the payment id; the truth (status, amount, metadata) is what the API answers
for the tenant's key, so a forged webhook cannot mark anything paid. The client is synchronous (requests), so
it runs in a thread; its answers are mapped onto three outcomes: the payment, "unknown", or "try later".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from mollie.api.client import Client
from mollie.api.error import Error as MollieError
from mollie.api.error import IdentifierError, NotFoundError, RequestSetupError, ResponseError, ResponseHandlingError

# A short Retry-After is waited out inside the webhook call; a longer one is handed back to Mollie.
INLINE_RETRY_AFTER_LIMIT = 2.0
INLINE_ATTEMPTS = 3
BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class MolliePayment:
    id: str
    status: str
    amount: Decimal
    currency: str
    paid_at: dt.datetime | None
    metadata: dict[str, Any] = field(default_factory=dict)


class PaymentUnknown(Exception):
    """Mollie does not know this id for this key (404), or it is not a payment id at all."""


class MollieUnavailable(Exception):
    """Mollie could not answer now (429, 5xx, timeout, unreadable answer); Mollie should call again later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _RecordingClient(Client):
    """Mollie's client, keeping the last HTTP response so a 429's Retry-After header can be honoured."""

    last_response: requests.Response | None = None

    def perform_http_call(self, *args: Any, **kwargs: Any) -> requests.Response:
        response: requests.Response = super().perform_http_call(*args, **kwargs)
        self.last_response = response
        return response


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None


def _parse(payment: Any) -> MolliePayment:
    amount = payment.amount or {}
    try:
        value = Decimal(str(amount.get("value")))
    except (InvalidOperation, TypeError):
        raise MollieUnavailable("Mollie answered a payment without a readable amount") from None
    paid_at = payment.paid_at
    paid = dt.datetime.fromisoformat(paid_at).astimezone(dt.UTC) if isinstance(paid_at, str) and paid_at else None
    metadata = payment.metadata if isinstance(payment.metadata, dict) else {}
    return MolliePayment(id=str(payment.id), status=str(payment.status), amount=value,
                         currency=str(amount.get("currency") or "EUR"), paid_at=paid, metadata=metadata)


def fetch_once(api_key: str, payment_id: str, *, endpoint: str | None, read_timeout: float) -> MolliePayment:
    """One GET /v2/payments/{id}. Raises PaymentUnknown or MollieUnavailable."""
    seconds = max(math.ceil(read_timeout), 1)
    client = _RecordingClient(api_endpoint=endpoint or "", timeout=(min(seconds, 3), seconds), retry=0)
    try:
        client.set_api_key(api_key)
        payment = client.payments.get(payment_id)
    except (NotFoundError, IdentifierError):
        raise PaymentUnknown(payment_id) from None
    except RequestSetupError:
        raise MollieUnavailable("the Mollie API key is not a live_ or test_ key") from None
    except ResponseError as exc:
        if exc.status == 410:  # a test-mode payment that has been removed
            raise PaymentUnknown(payment_id) from None
        raise MollieUnavailable(f"Mollie answered {exc.status}", _retry_after(client.last_response)) from None
    except ResponseHandlingError:
        raise MollieUnavailable("Mollie's answer could not be read", _retry_after(client.last_response)) from None
    except MollieError as exc:  # connection refused, timeout, invalid key format
        raise MollieUnavailable(f"Mollie could not be reached: {type(exc).__name__}") from None
    return _parse(payment)


async def fetch_payment(api_key: str, payment_id: str, *, endpoint: str | None,
                        read_timeout: float) -> MolliePayment:
    """Fetch with a few quick retries on 429 (a short Retry-After) and 5xx; longer waits are left to Mollie."""
    for attempt in range(1, INLINE_ATTEMPTS + 1):
        try:
            return await asyncio.to_thread(fetch_once, api_key, payment_id, endpoint=endpoint,
                                           read_timeout=read_timeout)
        except MollieUnavailable as exc:
            wait = exc.retry_after if exc.retry_after is not None else BACKOFF_SECONDS * attempt
            if attempt == INLINE_ATTEMPTS or wait > INLINE_RETRY_AFTER_LIMIT:
                raise
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")
