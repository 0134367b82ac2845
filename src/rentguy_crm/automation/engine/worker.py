"""A worker process's loop: register, claim due runs in batches, execute them concurrently, heartbeat, stop cleanly.

Idle workers wake on Postgres `NOTIFY crm_runs` (or, in the embedded process, on the commit that created runs)
and otherwise poll. Database errors never kill the loop: it backs off and reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import os
import random
import signal
import socket
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy.engine import make_url

from rentguy_crm.automation.engine import builtin, schedules
from rentguy_crm.automation.engine.executor import Clock, RunExecutor
from rentguy_crm.automation.engine.step_registry import ChannelsFactory
from rentguy_crm.automation.runs import queue
from rentguy_crm.automation.runs import repository as runs_repository
from rentguy_crm.automation.runs.models import WorkerRecord
from rentguy_crm.automation.workflows import repository as workflows_repository
from rentguy_crm.db import Database
from rentguy_crm.kit import clock as kit_clock
from rentguy_crm.observability import metrics
from rentguy_crm.tenants import repository as tenants

log = structlog.get_logger(__name__)

PLUGINS_ENV = "CRM_AUTOMATION_PLUGINS"


def load_plugins(modules: Sequence[str] = ()) -> None:
    """Install the suite's own steps, channels and jobs, then import modules that register more step handlers
    or scheduled jobs (`--plugin`, or CRM_AUTOMATION_PLUGINS); a plugin may override a built-in step."""
    builtin.install()
    names = [*modules, *[m for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]]
    for name in names:
        importlib.import_module(name.strip())


class Worker:
    def __init__(self, db: Database | None = None, *, url: str | None = None, concurrency: int = 4,
                 tenant: str | None = None, workflow: str | None = None,
                 lease: dt.timedelta = dt.timedelta(seconds=30), poll_interval: float = 1.0, grace: float = 20.0,
                 batch_size: int | None = None, channels_factory: ChannelsFactory | None = None,
                 clock: Clock = kit_clock.now, rng: random.Random | None = None, name: str | None = None,
                 schedules_enabled: bool = True) -> None:
        self.db = db or queue.QueueDatabase(url)
        self._owns_db = db is None
        self.concurrency = max(1, concurrency)
        self.tenant_slug = tenant
        self.workflow = workflow
        self.lease = lease
        self.poll_interval = poll_interval
        self.grace = grace
        self.batch_size = batch_size or self.concurrency
        self.clock = clock
        self.schedules_enabled = schedules_enabled
        self.hostname = socket.gethostname()
        self.name = name or f"{self.hostname}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.executor = RunExecutor(self.db, self.name, lease=lease, channels_factory=channels_factory,
                                    clock=clock, rng=rng)
        self.tenant_ids: list[int] | None = None
        self.in_flight: dict[int, asyncio.Task[Any]] = {}
        self.runs_done = 0
        self.done_in_claim: set[int] = set()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.known_workflows: set[tuple[str, str]] = set()

    # -- control ---------------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop claiming; in-flight steps finish (within the grace period) and unfinished runs are released."""
        self.executor.stopping = True
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    # -- main loop -------------------------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        queue.add_local_waker(self.wake)
        await self._with_retry(self._register)
        background = [asyncio.create_task(self._heartbeat_loop(), name="heartbeat")]
        if make_url(self.db.url).get_backend_name() == "postgresql":
            background.append(asyncio.create_task(self._listen_loop(), name="listen"))
        if self.schedules_enabled:
            background.append(asyncio.create_task(self._schedule_loop(), name="schedules"))
        try:
            await self._claim_loop()
        finally:
            await self._drain()
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            queue.remove_local_waker(self.wake)
            with contextlib.suppress(Exception):
                await self._mark_stopped()
            if self._owns_db:
                await self.db.dispose()
            log.info("worker_stopped", worker=self.name, runs_done=self.runs_done)

    async def _claim_loop(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            free = self.concurrency - len(self.in_flight)
            claimed: list[queue.ClaimedRun] = []
            if free > 0:
                # Cleared before the claim, so a NOTIFY that arrives while it runs is not lost.
                self._wake.clear()
                try:
                    claimed = await self._claim(min(free, self.batch_size))
                    backoff = 0.2
                except Exception as exc:  # database away: keep the process, back off, try again
                    log.warning("claim_failed", worker=self.name, error=str(exc)[:300])
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
            for claim in claimed:
                if claim.id not in self.done_in_claim:
                    self.in_flight[claim.id] = asyncio.create_task(self._execute(claim), name=f"run-{claim.id}")
            self.done_in_claim.clear()
            if claimed and len(claimed) == free:
                await asyncio.sleep(0)  # more may be due: claim again as soon as a slot frees
                if len(self.in_flight) >= self.concurrency:
                    await self._wait_for_slot()
                continue
            if self.in_flight and len(self.in_flight) >= self.concurrency:
                await self._wait_for_slot()
                continue
            if not claimed:
                await self._idle()

    async def _claim(self, limit: int) -> list[queue.ClaimedRun]:
        """Claim due runs and, in the same transaction, run their database-only steps (group commit).

        Runs that finished or parked in that transaction are recorded in `done_in_claim`; the others are
        returned for one-by-one execution. If the group cannot commit, nothing of it lands (not even the
        claim) and the runs are claimed again plainly and executed one by one.
        """
        if self.tenant_slug and self.tenant_ids is None:
            async with self.db.session() as session:
                tenant_id = await tenants.id_of_slug(session, self.tenant_slug)
            self.tenant_ids = [tenant_id] if tenant_id is not None else [-1]
        workflow_keys = [self.workflow] if self.workflow else None
        now = self.clock()
        try:
            async with self.db.session() as session:
                claimed = await queue.claim_due_runs(session, owner=self.name, now=now, lease=self.lease,
                                                     limit=limit, tenant_ids=self.tenant_ids,
                                                     workflow_keys=workflow_keys)
                outcomes, _rest, finished = await self.executor.run_group(session, claimed, now)
        except Exception as exc:
            log.debug("group_commit_fallback", worker=self.name, error=str(exc)[:200])
            async with self.db.session() as session:
                return await queue.claim_due_runs(session, owner=self.name, now=self.clock(), lease=self.lease,
                                                  limit=limit, tenant_ids=self.tenant_ids,
                                                  workflow_keys=workflow_keys)
        self.executor.observe_group(finished, now)
        self.done_in_claim = set(outcomes)
        self.runs_done += len(outcomes)
        return claimed

    async def _execute(self, claim: queue.ClaimedRun) -> str:
        try:
            outcome = await self.executor.execute(claim)
            self.runs_done += 1
            return outcome
        except Exception as exc:
            # The database went away mid-run: the lease runs out and the run is claimed again.
            log.warning("run_interrupted", worker=self.name, run_id=claim.id, workflow=claim.workflow_key,
                        tenant=self.executor.known_slug(claim.tenant_id), error=str(exc)[:300])
            return "interrupted"
        finally:
            self.in_flight.pop(claim.id, None)
            self._wake.set()

    async def _wait_for_slot(self) -> None:
        if self.in_flight:
            await asyncio.wait(list(self.in_flight.values()), return_when=asyncio.FIRST_COMPLETED,
                               timeout=self.poll_interval)

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval * random.uniform(0.8, 1.2))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _drain(self) -> None:
        """Let in-flight steps finish within the grace period; release whatever is still unfinished."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        if self.in_flight:
            log.info("worker_draining", worker=self.name, in_flight=len(self.in_flight), grace_s=self.grace)
        # A batch task hands its remaining runs to new tasks, so wait until nothing is left (or time is up).
        while self.in_flight and loop.time() < deadline:
            await asyncio.wait(set(self.in_flight.values()), timeout=deadline - loop.time())
        pending = set(self.in_flight.values())
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        leftover = list(self.in_flight)
        # Runs an executor gave up between steps ("released") still carry this worker's lease: hand them all back.
        with contextlib.suppress(Exception):
            async with self.db.session() as session:
                ids = sorted({*leftover, *await runs_repository.running_run_ids(session, self.name)})
                released = await queue.release_runs(session, owner=self.name, run_ids=ids, now=self.clock())
                if released:
                    log.info("runs_released", worker=self.name, count=released)

    # -- registry and heartbeat ------------------------------------------------------------------------------
    async def _register(self) -> None:
        now = self.clock()
        async with self.db.session() as session:
            session.add(WorkerRecord(name=self.name, hostname=self.hostname, pid=os.getpid(), started_at=now,
                                     heartbeat_at=now, concurrency=self.concurrency, runs_done=0,
                                     tenant_filter=self.tenant_slug, workflow_filter=self.workflow))
        metrics.worker_heartbeat_timestamp_seconds.labels(self.name).set(now.timestamp())
        try:
            await self._learn_workflows()
        except Exception as exc:  # registered already: the next heartbeat tries again
            log.warning("learn_workflows_failed", worker=self.name, error=str(exc)[:300])

    async def _learn_workflows(self) -> None:
        """Create the metric series of every current workflow this worker may run, at zero.

        Prometheus' increase() does not count a series that first appears at 1, so without this the first
        failure of a workflow in this process would be invisible to the failure-rate alert. Called at start and
        with every heartbeat, so a newly synced workflow is known before its first run is likely to finish.
        """
        async with self.db.session() as session:
            current = await workflows_repository.current_keys_with_slugs(session, tenant_slug=self.tenant_slug,
                                                                        key=self.workflow)
        for slug, key in sorted(current - self.known_workflows):
            metrics.init_workflow_series(slug, key)
        self.known_workflows |= current

    async def _mark_stopped(self) -> None:
        async with self.db.session() as session:
            await runs_repository.worker_heartbeat(session, self.name, {
                "stopped_at": self.clock(), "heartbeat_at": self.clock(), "runs_done": self.runs_done})

    async def _heartbeat_loop(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            try:
                now = self.clock()
                async with self.db.session() as session:
                    await queue.renew_leases(session, owner=self.name, run_ids=list(self.in_flight), now=now,
                                             lease=self.lease)
                    await runs_repository.worker_heartbeat(session, self.name, {
                        "heartbeat_at": now, "runs_done": self.runs_done, "stopped_at": None})
                metrics.worker_heartbeat_timestamp_seconds.labels(self.name).set(now.timestamp())
                await self._learn_workflows()
            except Exception as exc:
                log.warning("heartbeat_failed", worker=self.name, error=str(exc)[:300])

    async def _listen_loop(self) -> None:
        import psycopg

        url = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")
                    self._wake.set()  # anything queued while we were not listening
                    async for _notify in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listen_failed", worker=self.name, error=str(exc)[:300])
                await asyncio.sleep(1.0)

    async def _schedule_loop(self) -> None:
        runner = schedules.ScheduleRunner(self.db, owner=self.name, clock=self.clock, lease=self.lease)
        while True:
            try:
                await runner.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("schedule_tick_failed", worker=self.name, error=str(exc)[:300])
            await asyncio.sleep(min(self.poll_interval * 5, 5.0))

    async def _with_retry(self, fn: object) -> None:
        delay = 0.2
        for _ in range(30):
            try:
                await fn()  # type: ignore[operator]
                return
            except Exception as exc:
                log.warning("worker_start_retry", worker=self.name, error=str(exc)[:300])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await fn()  # type: ignore[operator]
