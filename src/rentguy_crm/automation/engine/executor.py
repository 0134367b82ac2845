"""Execute claimed runs step by step: each step's outcome and the program counter land in one fenced transaction.

A step that talks to the outside world is announced first: a `started` step-log entry commits before its channel
is called, so an attempt whose worker died after sending is still visible (see `step_log`).

Fencing: every transaction on a run first re-reads it WHERE lease_owner = this worker AND status = 'running'
(and on Postgres locks the row), so a worker that lost its lease, or a cancelled run, changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.engine import steps  # noqa: F401  (registers the engine's own step handlers)
from rentguy_crm.automation.engine.step_registry import (
    Channels,
    ChannelsFactory,
    PermanentStepError,
    StepContext,
    StepResult,
    handler_for,
)
from rentguy_crm.automation.runs import repository, step_log, supersede
from rentguy_crm.automation.runs.queue import ClaimedRun, dialect_of
from rentguy_crm.automation.workflows import expressions
from rentguy_crm.automation.workflows import repository as workflows_repository
from rentguy_crm.automation.workflows.definitions import RetryPolicy, WorkflowDefinition, definition_of
from rentguy_crm.automation.workflows.program import Instruction, compile_program
from rentguy_crm.crm.variables import subject_variables
from rentguy_crm.db import Database
from rentguy_crm.integrations.base import DeliveryError
from rentguy_crm.kit import clock as kit_clock
from rentguy_crm.kit.rows import jsonable
from rentguy_crm.observability import metrics
from rentguy_crm.observability.logging import bind_run
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]


# Step types whose work is only database writes and quick: the steps of a claimed batch that are all of this kind
# commit together in one transaction (group commit). Steps that talk to the outside world get one transaction
# each, so a slow channel never holds other runs back.
DATABASE_ONLY_STEPS: set[str] = {"create_task", "update_record", "wait", "stop"}


def mark_database_only(step_type: str) -> None:
    """Declare that a step type's handler only writes to the database and is quick (it may be group-committed)."""
    DATABASE_ONLY_STEPS.add(step_type)


def side_effecting(instruction: Instruction | None) -> bool:
    """A step that talks to the outside world: each attempt is announced in the step log before it runs."""
    return (instruction is not None and instruction.op == "step"
            and instruction.step.type not in DATABASE_ONLY_STEPS)


class _GroupAbort(Exception):
    """A group commit could not land as a whole; its runs are executed one by one instead."""


class LeaseExpired(Exception):
    """The run's worker stopped heartbeating (killed or hung) on its last attempt."""


async def no_channels(tenant: Tenant) -> Channels:
    return Channels(tenant_slug=tenant.slug)


_default_factory: ChannelsFactory = no_channels


def set_default_channels_factory(factory: ChannelsFactory) -> None:
    """Install the factory workers use when none is passed (the integrations module calls this on import,
    so `crm workers run` and embedded workers get the tenant's configured channels)."""
    global _default_factory
    _default_factory = factory


async def default_channels(tenant: Tenant) -> Channels:
    return await _default_factory(tenant)


def retry_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> dt.timedelta:
    """Exponential backoff with equal jitter: between half and all of initial * factor^(attempt-1), capped."""
    base = policy.initial_interval.total_seconds() * policy.backoff_factor ** max(attempt - 1, 0)
    base = min(base, policy.max_interval.total_seconds())
    return dt.timedelta(seconds=base / 2 + (rng or random).uniform(0, base / 2))


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, DeliveryError):
        return exc.retryable
    # A value the step cannot use (ValueError: a line break in a mail header, bad text; TypeError: a value of
    # the wrong kind) fails the same way on every attempt: the run fails at once instead of retrying until
    # dead. Other unknown errors (a timeout, a lost connection) are retried.
    return not isinstance(exc, PermanentStepError | expressions.ExpressionError | ValueError | TypeError)


class RunExecutor:
    def __init__(self, db: Database, owner: str, *, lease: dt.timedelta = dt.timedelta(seconds=30),
                 channels_factory: ChannelsFactory | None = None, clock: Clock = kit_clock.now,
                 rng: random.Random | None = None) -> None:
        self.db = db
        self.owner = owner
        self.lease = lease
        self.channels_factory = channels_factory or default_channels
        self.clock = clock
        self.rng = rng or random.Random()
        self.stopping = False  # set on SIGTERM: finish the step in flight, then release the run
        self._programs: dict[int, tuple[WorkflowDefinition, list[Instruction]]] = {}
        self._tenants: dict[int, Tenant] = {}
        self._channels: dict[int, Channels] = {}
        self._slugs: dict[int, str] = {}
        # Finished runs whose metrics are recorded once their transaction committed (run id -> observation).
        self._finished: dict[int, tuple[str, dt.datetime | None, dt.datetime, bool]] = {}
        # Runs whose next step the claim's group commit announced: that step runs even if a stop comes first.
        self._announced: set[int] = set()

    def known_slug(self, tenant_id: int) -> str:
        return self._slugs.get(tenant_id, str(tenant_id))

    async def slug_of(self, tenant_id: int) -> str:
        """The tenant's slug (metric label, log field), looked up once per tenant and process."""
        slug = self._slugs.get(tenant_id)
        if slug is None:
            async with self.db.session() as session:
                slug = await tenants.slug_of(session, tenant_id) or str(tenant_id)
            self._slugs[tenant_id] = slug
        return slug

    async def execute(self, claim: ClaimedRun) -> str:
        """Run a claimed run until it finishes, parks, fails, or this worker must let go. Returns the outcome.

        Every log line written meanwhile carries the run id, tenant and workflow.
        """
        with bind_run(claim.id, await self.slug_of(claim.tenant_id), claim.workflow_key):
            return await self._execute(claim)

    async def _execute(self, claim: ClaimedRun) -> str:
        if claim.attempt > claim.max_attempts:
            return await self._record_failure(claim, None, LeaseExpired(
                f"attempt {claim.attempt - 1} of {claim.max_attempts} did not finish before its lease expired"),
                retryable=False, dead=True)
        announced = claim.id in self._announced
        self._announced.discard(claim.id)
        while True:
            # An announced attempt runs even when stopping: its `started` entry says the channel is being called.
            if self.stopping and not announced:
                return "released"
            outcome = await self._advance(claim)
            announced = outcome == "announced"
            if outcome not in ("continue", "announced"):
                return outcome

    def _groupable(self, instruction: Instruction) -> bool:
        if instruction.op == "step":
            return instruction.step.type in DATABASE_ONLY_STEPS and handler_for(instruction.step.type) is not None
        return True  # jump and branch (a condition that raises makes the group fall back to one by one)

    async def execute_group(self, claims: list[ClaimedRun]) -> tuple[dict[int, str], list[ClaimedRun]]:
        """Run the database-only steps of a claimed batch in one transaction with one fenced write.

        Returns the outcomes of the runs that got to a stop (finished or parked) and the runs still to execute
        one by one (their next step talks to the outside world, or the group could not commit as a whole).
        """
        if self.stopping or not claims:
            return {}, list(claims)
        now = self.clock()
        try:
            async with self.db.session() as session:
                outcomes, rest, finished = await self.run_group(session, claims, now)
        except Exception as exc:
            log.debug("group_commit_fallback", error=str(exc)[:200], runs=len(claims))
            return {}, list(claims)
        self.observe_group(finished, now)
        return outcomes, rest

    async def run_group(self, session: AsyncSession, claims: list[ClaimedRun], now: dt.datetime,
                        ) -> tuple[dict[int, str], list[ClaimedRun], list[ClaimedRun]]:
        """The group commit inside the caller's transaction (which may be the claim's own). Raises when any
        step fails or a run lost its lease: the caller rolls back and executes the runs one by one."""
        outcomes: dict[int, str] = {}
        rest: list[ClaimedRun] = []
        writes: list[dict[str, Any]] = []
        finished: list[ClaimedRun] = []
        for claim in claims:
            slug = self._slugs.get(claim.tenant_id) or (await self._tenant(session, claim.tenant_id))[0].slug
            with bind_run(claim.id, slug, claim.workflow_key):
                row = await self._group_one(session, claim, now)
            if row is None:
                rest.append(claim)
                continue
            writes.append(row)
            if row["status"] == "running":
                rest.append(claim)
            else:
                outcomes[claim.id] = "succeeded" if row["status"] == "succeeded" else "waiting"
                if row["status"] == "succeeded":
                    finished.append(claim)
        if writes and await self._write_group(session, writes, now) != len(writes):
            raise _GroupAbort("a run of the group lost its lease")
        return outcomes, rest, finished

    def observe_group(self, finished: list[ClaimedRun], now: dt.datetime) -> None:
        """Metrics of the runs a group commit finished; call after that transaction committed."""
        for claim in finished:
            self._observe_finished(claim, "succeeded", claim.created_at, now,
                                   breached=_late(claim.sla_due_at, claim.sla_breached, now))

    async def _group_one(self, session: AsyncSession, claim: ClaimedRun, now: dt.datetime) -> dict[str, Any] | None:
        if claim.attempt > claim.max_attempts:
            return None
        definition, program = await self._program(session, claim.workflow_id)
        if definition.on_new_run == "supersede":
            return None  # one by one: each step first checks whether a newer run replaced this one
        pc = claim.current_step
        if pc < len(program) and not self._groupable(program[pc]) and (
                self.stopping or self._announcement(claim, program, pc, claim.step_log, now) is None):
            return None  # nothing to do in the group; a side-effecting first step is announced below
        tenant, channels = await self._tenant(session, claim.tenant_id)
        entries, context = list(claim.step_log), dict(claim.context)
        variables: dict[str, Any] | None = None
        park_until: dt.datetime | None = None
        while pc < len(program) and self._groupable(program[pc]):
            instruction = program[pc]
            started = time.perf_counter()
            if instruction.op == "jump":
                pc = instruction.target  # type: ignore[assignment]
                continue
            if variables is None:
                variables = await subject_variables(session, tenant, lead_id=claim.lead_id, deal_id=claim.deal_id)
                variables["run"] = {"id": claim.id, "workflow": claim.workflow_key, "attempt": claim.attempt}
            variables["steps"] = context.get("steps", {})
            if instruction.op == "branch":
                holds = bool(expressions.evaluate(instruction.step.condition, variables, now=now))
                entries.append(self._entry(pc, instruction, claim, now, started, "done", {"condition": holds}))
                pc = pc + 1 if holds else instruction.target  # type: ignore[assignment]
                continue
            step = instruction.step
            handler = handler_for(step.type)
            assert handler is not None
            ctx = StepContext(session=session, tenant=tenant, run_id=claim.id, step_number=pc,
                              idempotency_key=step_log.idempotency_key(claim.id, pc), variables=variables,
                              channels=channels, now=now)
            result = await handler(ctx, step)
            output = jsonable(result.output)
            if output:
                context.setdefault("steps", {})[str(step.name or pc)] = output
            entries.append(self._entry(pc, instruction, claim, now, started, _outcome(result.status, output), output))
            if result.status == "stop":
                pc = len(program)
                break
            pc += 1
            if result.status == "wait" and result.run_after is not None and result.run_after > now:
                park_until = result.run_after
                break
        row: dict[str, Any] = {"id": claim.id, "current_step": pc, "step_log": entries, "context": context,
                               "completed_at": None, "duration_ms": None}
        if pc >= len(program):
            started_at = claim.started_at or now
            row.update(status="succeeded", completed_at=now, lease_owner=None, lease_expires_at=None, run_after=now,
                       duration_ms=int((now - started_at).total_seconds() * 1000),
                       sla_breached=claim.sla_breached or _late(claim.sla_due_at, False, now))
        elif park_until is not None:
            row.update(status="waiting", lease_owner=None, lease_expires_at=None, run_after=park_until,
                       sla_due_at=_sla_after_wait(park_until, definition))
        else:
            row.update(status="running", lease_owner=self.owner, lease_expires_at=now + self.lease,
                       run_after=now + self.lease)
            # Announcing the next step here saves it a transaction of its own: this write commits before it runs.
            if not self.stopping and (announcement := self._announcement(claim, program, pc, entries, now)):
                entries.append(announcement)
                self._announced.add(claim.id)
        return row

    def _announcement(self, claim: ClaimedRun, program: list[Instruction], pc: int, entries: list[Any],
                      now: dt.datetime) -> dict[str, Any] | None:
        """The `started` entry step `pc` needs before it runs: it talks to the outside world and this attempt
        has not announced it yet. None when there is nothing to announce."""
        if pc >= len(program):
            return None
        instruction = program[pc]
        if not side_effecting(instruction) or handler_for(instruction.step.type) is None:
            return None
        if step_log.announced(entries, pc, claim.attempt, self.owner):
            return None
        return step_log.started(pc, instruction, run_id=claim.id, attempt=claim.attempt, worker=self.owner, at=now,
                                unfinished=step_log.unfinished_attempts(entries, pc))

    async def _write_group(self, session: AsyncSession, rows: list[dict[str, Any]], now: dt.datetime) -> int:
        """One fenced write for the whole group; returns how many runs it landed on."""
        rows = sorted(rows, key=lambda r: r["id"])
        if dialect_of(session) != "postgresql":
            landed = 0
            for row in rows:
                values = {k: v for k, v in row.items() if k != "id"}
                landed += await repository.write_fenced(session, row["id"], self.owner, {"updated_at": now, **values})
            return landed
        rows = [{"sla_breached": None, "sla_due_at": None, **r} for r in rows]  # completions / parked runs set them
        payload = json.dumps([jsonable(r) for r in rows])
        return await repository.write_group_as_json(session, payload, self.owner, now)

    async def _program(self, session: AsyncSession, workflow_id: int | None) -> tuple[WorkflowDefinition,
                                                                                        list[Instruction]]:
        if workflow_id is None:
            raise PermanentStepError("the run's workflow version no longer exists")
        cached = self._programs.get(workflow_id)
        if cached is None:
            workflow = await workflows_repository.by_id(session, workflow_id)
            if workflow is None:
                raise PermanentStepError(f"workflow version {workflow_id} no longer exists")
            try:
                definition = definition_of(workflow)
            except ValidationError as exc:
                # A stored version the current code no longer accepts would fail the same way on every retry.
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                raise PermanentStepError(f"the stored definition of {workflow.key} v{workflow.version} is not valid "
                                         f"any more: {where}: {first['msg']}") from None
            cached = (definition, compile_program(definition))
            self._programs[workflow_id] = cached
            slug = self._slugs.get(workflow.tenant_id) or await tenants.slug_of(
                session, workflow.tenant_id) or str(workflow.tenant_id)
            self._slugs[workflow.tenant_id] = slug
            metrics.init_workflow_series(slug, workflow.key)
        return cached

    async def _tenant(self, session: AsyncSession, tenant_id: int) -> tuple[Tenant, Channels]:
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            tenant = await tenants.by_id(session, tenant_id)
            assert tenant is not None
            self._slugs[tenant_id] = tenant.slug
            # Detached so a rolled-back step (which expires the session's objects) leaves the cached copy intact.
            session.expunge(tenant)
            self._tenants[tenant_id] = tenant
            self._channels[tenant_id] = await self.channels_factory(tenant)
        return tenant, self._channels[tenant_id]

    async def _fence(self, session: AsyncSession, run_id: int) -> Any:
        return await repository.fence(session, run_id, self.owner)

    async def _advance(self, claim: ClaimedRun) -> str:
        try:
            outcome = await self._advance_in_transaction(claim)
        finally:
            observation = self._finished.pop(claim.id, None)
        if observation is not None:  # committed: only now does the run count as finished
            status, created_at, now, breached = observation
            self._observe_finished(claim, status, created_at, now, breached=breached)
        return outcome

    async def _advance_in_transaction(self, claim: ClaimedRun) -> str:
        started = time.perf_counter()
        now = self.clock()
        pc: int | None = None
        try:
            async with self.db.session() as session:
                row = await self._fence(session, claim.id)
                if row is None:
                    return "lost"
                definition, program = await self._program(session, claim.workflow_id)
                pc = row.current_step
                log_entries = list(row.step_log or [])
                context = dict(row.context or {})
                if pc >= len(program):
                    await self._finish(session, claim, row, log_entries, context, pc, "succeeded", now)
                    return "succeeded"
                if definition.on_new_run == "supersede" and (successor := await supersede.newer_run(
                        session, TenantScope(claim.tenant_id), claim.id, claim.workflow_key, row.trigger_type,
                        claim.lead_id, claim.deal_id)) is not None:
                    # Replaced while this worker held it (a step was in flight): it stops before its next step.
                    entry = supersede.cancelled_entry(pc, successor, attempt=claim.attempt, worker=self.owner, at=now)
                    await self._write(session, claim, status="cancelled", step_log=[*log_entries, entry],
                                      completed_at=now, lease_owner=None, lease_expires_at=None,
                                      last_error_type=supersede.SUPERSEDED_ERROR_TYPE,
                                      last_error_message=supersede.reason(successor))
                    self._finished[claim.id] = ("cancelled", None, now, False)
                    return "cancelled"
                instruction = program[pc]
                if instruction.op == "jump":
                    await self._write(session, claim, current_step=instruction.target)
                    return "continue"
                if (announcement := self._announcement(claim, program, pc, log_entries, now)) is not None:
                    # Committed before the channel is called: a crash after sending leaves this entry behind.
                    await self._write(session, claim, step_log=[*log_entries, announcement])
                    return "announced"
                unfinished = (step_log.unfinished_attempts(log_entries, pc, skip_last=True)
                              if side_effecting(instruction) else [])
                tenant, channels = await self._tenant(session, claim.tenant_id)
                variables = await subject_variables(session, tenant, lead_id=claim.lead_id, deal_id=claim.deal_id)
                variables["steps"] = context.get("steps", {})
                variables["run"] = {"id": claim.id, "workflow": claim.workflow_key, "attempt": claim.attempt}
                if instruction.op == "branch":
                    holds = bool(expressions.evaluate(instruction.step.condition, variables, now=now))
                    entry = self._entry(pc, instruction, claim, now, started, "done", {"condition": holds})
                    next_pc = pc + 1 if holds else int(instruction.target or 0)
                    return await self._continue(session, claim, row, program, [*log_entries, entry], context,
                                                next_pc, now, None, False)
                step = instruction.step
                handler = handler_for(step.type)
                if handler is None:
                    raise PermanentStepError(
                        f"no implementation is registered for step type '{step.type}' (step {pc}, "
                        f"'{instruction.label}'); the module that provides it is not installed in this worker")
                ctx = StepContext(session=session, tenant=tenant, run_id=claim.id, step_number=pc,
                                  idempotency_key=step_log.idempotency_key(claim.id, pc), variables=variables,
                                  channels=channels, now=now, unfinished_attempts=tuple(unfinished))
                result: StepResult = await handler(ctx, step)
                output = jsonable(result.output)
                if output:
                    context.setdefault("steps", {})[str(step.name or pc)] = output
                entry = self._entry(pc, instruction, claim, now, started, _outcome(result.status, output), output)
                if unfinished:
                    entry["unfinished_attempts"] = unfinished
                next_pc = len(program) if result.status == "stop" else pc + 1
                park_until = result.run_after if result.status == "wait" else None
                return await self._continue(session, claim, row, program, [*log_entries, entry], context, next_pc,
                                            now, park_until, result.status == "stop")
        except Exception as exc:  # the step's transaction rolled back; record the failure in a new one
            self._finished.pop(claim.id, None)
            if pc is None and not isinstance(exc, PermanentStepError):
                raise  # the database itself failed before any step ran: the worker's loop backs off
            return await self._record_failure(claim, pc, exc, retryable=is_retryable(exc), started=started)

    def _entry(self, pc: int, instruction: Instruction, claim: ClaimedRun, now: dt.datetime, started: float,
               status: str, output: dict[str, Any]) -> dict[str, Any]:
        return step_log.entry(
            pc, step_log.describe(instruction), status=status, attempt=claim.attempt, worker=self.owner, at=now,
            duration_ms=round((time.perf_counter() - started) * 1000, 2), output=output or None,
            idempotency_key=step_log.idempotency_key(claim.id, pc) if side_effecting(instruction) else None)

    async def _continue(self, session: AsyncSession, claim: ClaimedRun, row: Any, program: list[Instruction],
                        entries: list[Any], context: dict[str, Any], next_pc: int, now: dt.datetime,
                        park_until: dt.datetime | None, stopped: bool) -> str:
        """Record a step's outcome and move on; a side-effecting next step is announced in the same write."""
        announcement = None
        # Not when this worker is stopping: an announced step runs, and a stopping worker starts no new step.
        if not stopped and not self.stopping and (park_until is None or park_until <= now):
            announcement = self._announcement(claim, program, next_pc, entries, now)
        if announcement is not None:
            entries = [*entries, announcement]
        outcome = await self._after_step(session, claim, row, entries, context, next_pc, len(program), now,
                                         park_until, stopped)
        return "announced" if announcement is not None and outcome == "continue" else outcome

    async def _after_step(self, session: AsyncSession, claim: ClaimedRun, row: Any, entries: list[Any],
                          context: dict[str, Any], next_pc: int, length: int, now: dt.datetime,
                          park_until: dt.datetime | None, stopped: bool) -> str:
        if next_pc >= length or stopped:
            await self._finish(session, claim, row, entries, context, next_pc, "succeeded", now)
            return "succeeded"
        if park_until is not None and park_until > now:
            definition, _program = await self._program(session, claim.workflow_id)
            await self._write(session, claim, current_step=next_pc, step_log=entries, context=context,
                              status="waiting", run_after=park_until, lease_owner=None, lease_expires_at=None,
                              sla_due_at=_sla_after_wait(park_until, definition))
            return "waiting"
        expires = now + self.lease
        await self._write(session, claim, current_step=next_pc, step_log=entries, context=context,
                          lease_expires_at=expires, run_after=expires)
        return "continue"

    async def _write(self, session: AsyncSession, claim: ClaimedRun, **values: Any) -> None:
        # Under the row lock taken by _fence; the WHERE repeats the fence for SQLite and for safety.
        values["updated_at"] = self.clock()
        await repository.write_fenced(session, claim.id, self.owner, values)

    async def _finish(self, session: AsyncSession, claim: ClaimedRun, row: Any, entries: list[Any],
                      context: dict[str, Any], pc: int, status: str, now: dt.datetime) -> None:
        started_at = row.started_at or now
        # Finished after its due time: a breach. The SLA job marks runs still open (or failed) past it; one that
        # succeeds late between two of its checks is marked here, so the breach counter matches the SLA view.
        late = _late(row.sla_due_at, row.sla_breached, now)
        await self._write(session, claim, status=status, current_step=pc, step_log=entries, context=context,
                          completed_at=now, duration_ms=int((now - started_at).total_seconds() * 1000),
                          lease_owner=None, lease_expires_at=None, **({"sla_breached": True} if late else {}))
        self._finished[claim.id] = (status, row.created_at, now, late)

    def _observe_finished(self, claim: ClaimedRun, status: str, created_at: dt.datetime | None,
                          now: dt.datetime, *, breached: bool = False) -> None:
        slug = self._slugs.get(claim.tenant_id, str(claim.tenant_id))
        metrics.automation_runs_finished_total.labels(slug, claim.workflow_key, status).inc()
        if created_at is not None:
            metrics.automation_run_duration_seconds.labels(slug, claim.workflow_key).observe(
                max((now - created_at).total_seconds(), 0.0))
        if breached:
            metrics.automation_sla_breaches_total.labels(slug, claim.workflow_key).inc()

    async def _record_failure(self, claim: ClaimedRun, pc: int | None, exc: BaseException, *, retryable: bool,
                              started: float | None = None, dead: bool = False) -> str:
        now = self.clock()
        async with self.db.session() as session:
            row = await self._fence(session, claim.id)
            if row is None:
                return "lost"
            entries = list(row.step_log or [])
            error = {"type": type(exc).__name__, "message": str(exc)[:2000]}
            definition: WorkflowDefinition | None = None
            program: list[Instruction] | None = None
            try:
                definition, program = await self._program(session, claim.workflow_id)
            except PermanentStepError:
                pass  # the entry then names the workflow definition, which is what failed
            step_no = row.current_step if pc is None else pc
            instruction = program[step_no] if program is not None and step_no < len(program) else None
            entry = step_log.entry(
                step_no, step_log.at_position(program, step_no), status="failed", attempt=claim.attempt,
                worker=self.owner, at=now, error=error, retryable=retryable,
                duration_ms=None if started is None else round((time.perf_counter() - started) * 1000, 2),
                idempotency_key=step_log.idempotency_key(claim.id, step_no) if side_effecting(instruction) else None)
            entries.append(entry)
            common = {"step_log": entries, "last_error_type": error["type"], "last_error_message": error["message"],
                      "lease_owner": None, "lease_expires_at": None}
            if retryable and not dead and row.attempt < claim.max_attempts:
                policy = definition.retry if definition is not None else RetryPolicy()
                delay = retry_delay(policy, row.attempt, self.rng)
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(retry_after, dt.timedelta) and retry_after > delay:
                    delay = retry_after
                entry["retry_at"] = (now + delay).isoformat()
                await self._write(session, claim, status="queued", run_after=now + delay, **common)
                outcome = "retry"
            else:
                outcome = "dead" if (retryable or dead) else "failed"
                started_at = row.started_at or now
                await self._write(session, claim, status=outcome, completed_at=now,
                                  duration_ms=int((now - started_at).total_seconds() * 1000), **common)
        # Committed: now the metrics and the log line (a failure to commit leaves the lease to expire instead).
        if outcome == "retry":
            metrics.automation_run_retries_total.labels(self._slugs.get(claim.tenant_id, str(claim.tenant_id)),
                                                        claim.workflow_key).inc()
            log.info("run_retry_scheduled", run_id=claim.id, workflow=claim.workflow_key, attempt=row.attempt,
                     delay_s=round(delay.total_seconds(), 3), error=error["type"])
            return outcome
        # Failed runs past their SLA are marked (and counted) by the SLA job, with their event.
        self._observe_finished(claim, outcome, row.created_at, now)
        log.warning("run_" + outcome, run_id=claim.id, workflow=claim.workflow_key, attempt=row.attempt,
                    error_type=error["type"], error=error["message"])
        return outcome


def _outcome(result_status: str, output: dict[str, Any]) -> str:
    """The step-log status of a step's result; a step that chose not to act (no address, no consent) skipped."""
    if result_status == "done":
        return "skipped" if "skipped" in output else "done"
    return {"wait": "waiting", "stop": "stopped"}[result_status]


def _late(due: dt.datetime | None, already_marked: bool, now: dt.datetime) -> bool:
    """A run completing now after its SLA due time, not yet marked breached."""
    if due is None or already_marked:
        return False
    due = due if due.tzinfo else due.replace(tzinfo=dt.UTC)
    return now > due


def _sla_after_wait(wakes: dt.datetime, definition: WorkflowDefinition) -> dt.datetime:
    """Time parked in a wait does not count against the SLA: its clock starts again when the run wakes."""
    return wakes + definition.sla
