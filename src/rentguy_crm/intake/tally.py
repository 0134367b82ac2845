"""Lead-capture outcomes per minute, counted in memory per process and added to `lead_capture_tallies`.

The status page needs an error rate across all API processes. Writing a shared counter row on every request
would make every lead wait on the same row lock, so each process buffers its counts and adds them to the
table at most every FLUSH_SECONDS (and when the status page asks).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.db import Database
from rentguy_crm.intake import repository
from rentguy_crm.kit import clock

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 5.0

Key = tuple[str, str, str, dt.datetime]


class OutcomeTally:
    def __init__(self) -> None:
        self.pending: Counter[Key] = Counter()
        self.last_flush = time.monotonic()
        self._flushing: asyncio.Task[None] | None = None

    def record(self, db: Database | None, tenant: str, route: str, outcome: str) -> None:
        minute = clock.now().replace(second=0, microsecond=0)
        self.pending[(tenant, route, outcome, minute)] += 1
        due = time.monotonic() - self.last_flush >= FLUSH_SECONDS
        if db is not None and due and (self._flushing is None or self._flushing.done()):
            self.last_flush = time.monotonic()
            self._flushing = asyncio.get_running_loop().create_task(self._flush_quietly(db))

    async def settle(self) -> None:
        """Wait for a flush running in the background (shutdown, tests that empty the tables)."""
        if self._flushing is not None and not self._flushing.done():
            await self._flushing

    async def _flush_quietly(self, db: Database) -> None:
        try:
            await self.flush(db)
        except Exception as exc:  # counting must never hurt capture
            log.warning("lead_tally_flush_failed", error=type(exc).__name__)

    async def flush(self, db: Database) -> None:
        batch, self.pending = self.pending, Counter()
        if not batch:
            return
        try:
            async with db.session() as session:
                await repository.add_tally_counts(session, sorted(batch.items(), key=lambda kv: kv[0]))
        except Exception:
            self.pending.update(batch)  # keep them for the next attempt
            raise


async def recent_outcomes(session: AsyncSession, minutes: int = 15) -> dict[str, dict[str, int]]:
    """Counts per tenant and outcome over the last `minutes` minutes (the current minute included)."""
    since = clock.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes - 1)
    out: dict[str, dict[str, int]] = {}
    for tenant, outcome, count in await repository.tally_since(session, since):
        out.setdefault(tenant, {})[outcome] = int(count or 0)
    return out


tally = OutcomeTally()


async def flush_on_shutdown(db: Database) -> None:
    """Add this process's last counts before it exits (app lifespan)."""
    await tally.settle()
    await tally._flush_quietly(db)
