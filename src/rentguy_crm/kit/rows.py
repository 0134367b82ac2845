"""Row → dict, once: a mapped row's column values, without the fields that never leave the server.

`SERVER_ONLY` is the one list of column names no API answer, template context or preview may carry: the tenant
a row belongs to (the caller's scope already says it), secrets and their hashes, the dedupe fingerprint of a
submission and the consent record (IP address and browser of the person who ticked the box; kept as proof,
shown to nobody). Audit snapshots are stored whole (they are the proof) and filtered when shown.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import inspect

SERVER_ONLY: frozenset[str] = frozenset({
    "tenant_id",         # every tenant-owned row; the scope of the request already names it
    "consent",           # contacts: IP address and user agent of the opt-in
    "submission_hash",   # leads: dedupe fingerprint of the submission
    "key_hash",          # API keys: HMAC of the key
    "request_hash",      # idempotency records: hash of the first body
    "signing_secret",    # webhook channels
    "config_checksum",   # tenants: provisioning bookkeeping
})


def columns(obj: Any, *, fields: Collection[str] | None = None) -> dict[str, Any]:
    """Every column value of a mapped row (or only `fields`), server-only fields included: for the server's
    own records (audit snapshots), never for an answer."""
    names = fields or [attr.key for attr in inspect(obj).mapper.column_attrs]
    return {name: getattr(obj, name) for name in names}


def public(obj: Any) -> dict[str, Any]:
    """The column values of a mapped row that may leave the server (everything but `SERVER_ONLY`)."""
    return {name: value for name, value in columns(obj).items() if name not in SERVER_ONLY}


def without_server_only(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored snapshot (audit before/after) as it may be shown: the server-only keys left out."""
    if values is None:
        return None
    return {name: value for name, value in values.items() if name not in SERVER_ONLY}


def jsonable(value: Any) -> Any:
    """Datetimes and dates as ISO 8601, Decimals as strings, containers element by element."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
