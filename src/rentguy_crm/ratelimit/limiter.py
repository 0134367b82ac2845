"""Counting requests against a profile's limits with the `limits` library (memory or Redis storage)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

log = structlog.get_logger(__name__)


def async_storage_url(url: str) -> tuple[str, dict[str, str]]:
    """`memory://` / `redis://…` as configured, in the form the async storages of `limits` expect."""
    options: dict[str, str] = {}
    if url.startswith(("redis://", "rediss://", "redis+unix://")):
        options["implementation"] = "redispy"  # the `redis` package is already a dependency; coredis is not
    return (url if url.startswith("async+") else "async+" + url), options


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
               "RateLimit-Reset": str(self.reset_seconds)}
        if not self.allowed:
            out["Retry-After"] = str(max(self.reset_seconds, 1))
        return out


class Limiter:
    """One per process. Counters live in the storage, so processes sharing Redis share limits."""

    def __init__(self, storage_url: str) -> None:
        url, options = async_storage_url(storage_url)
        self.storage_url = storage_url
        self.storage = storage_from_string(url, **options)
        self.strategy = FixedWindowRateLimiter(self.storage)

    async def hit(self, checks: list[tuple[RateLimitItem, tuple[str, ...]]]) -> RateDecision | None:
        """Count one request against every limit; the first exhausted one refuses it.

        Answers None when the storage cannot be reached: losing lead capture because the counter store is
        down is worse than a few minutes without limits, and the failure is logged.
        """
        tightest: RateDecision | None = None
        try:
            for item, identifiers in checks:
                allowed = await self.strategy.hit(item, *identifiers)
                stats = await self.strategy.get_window_stats(item, *identifiers)
                reset = max(0, math.ceil(stats.reset_time - time.time()))
                decision = RateDecision(allowed, item.amount, max(0, stats.remaining), reset)
                if not allowed:
                    return decision
                if tightest is None or decision.remaining < tightest.remaining:
                    tightest = decision
        except Exception as exc:  # storage outage: degrade to no limit, loudly
            log.warning("ratelimit_storage_unavailable", storage=self.storage_url.split("@")[-1],
                        error=type(exc).__name__)
            return None
        return tightest
