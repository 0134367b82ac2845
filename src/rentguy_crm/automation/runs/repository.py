"""Tenant-scoped queries on the run log `crm_automation_runs`, the pauses `crm_workflow_pauses` and the worker
registry `crm_workers`. The claim path, with its hand-written SQL, is in `queue.py`.

Every function that reads or writes tenants' rows takes the scope it may touch: a `TenantScope` (one tenant, from
an authenticated principal or a command's `--tenant`) or, where operators' commands and the workers' own jobs
look across tenants, an explicit `AllTenants()`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import Select, case, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.runs.models import ACTIVE_RUN_STATUSES, AutomationRun, WorkerRecord, WorkflowPause
from rentguy_crm.crm.models import Deal, Lead
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants, Scope, TenantScope

MANUAL_TRIGGER = "manual"


def _scoped(query: Any, scope: Scope, column: Any = AutomationRun.tenant_id) -> Any:
    """The statement limited to the scope's tenant (unchanged for `AllTenants`)."""
    return query if isinstance(scope, AllTenants) else query.where(column == scope.tenant_id)


# -- new runs ----------------------------------------------------------------------------------------------------


async def insert_runs(session: AsyncSession, rows: list[dict[str, Any]]) -> list[AutomationRun]:
    """Insert new runs; a run whose dedupe key the tenant already has (this transaction, an earlier one, or a
    concurrent one, which Postgres waits for) is left out. Returns the runs inserted. Each row names its tenant."""
    if not rows:
        return []
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (insert(AutomationRun).on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
                 .returning(AutomationRun))
    return list((await session.scalars(statement, rows)).all())


async def subject_in(session: AsyncSession, scope: TenantScope, model: type[Lead] | type[Deal],
                     record_id: int) -> Lead | Deal | None:
    """The lead or deal a new run would be about, if it is the tenant's."""
    record: Lead | Deal | None = await session.get(model, record_id)
    return record if record is not None and record.tenant_id == scope.tenant_id else None


async def tenant_of_subject(session: AsyncSession, scope: Scope, model: type[Lead] | type[Deal],
                            record_id: int) -> int | None:
    """The tenant id of a lead or deal within the scope; None when there is none."""
    query: Select[Any] = select(model.tenant_id).where(model.id == record_id)
    return await session.scalar(_scoped(query, scope, model.tenant_id))


# -- one run, a page of runs -------------------------------------------------------------------------------------


async def list_runs(session: AsyncSession, scope: Scope, *, workflow: str | None = None, status: str | None = None,
                    since: dt.datetime | None = None, lead_id: int | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[AutomationRun], int]:
    """A page of runs, newest first, and how many match in all."""
    query = _scoped(select(AutomationRun), scope)
    if workflow:
        query = query.where(AutomationRun.workflow_key == workflow)
    if status:
        query = query.where(AutomationRun.status == status)
    if since:
        query = query.where(AutomationRun.created_at >= since)
    if lead_id:
        query = query.where(AutomationRun.lead_id == lead_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(AutomationRun.id.desc()).limit(limit).offset(offset))
    return list(rows.all()), int(total)


async def get_run(session: AsyncSession, scope: Scope, run_id: int) -> AutomationRun | None:
    """The run, or None when it does not exist or belongs to a tenant outside the scope."""
    run = await session.get(AutomationRun, run_id)
    if run is None or (isinstance(scope, TenantScope) and run.tenant_id != scope.tenant_id):
        return None
    return run


async def open_runs_started_by(session: AsyncSession, scope: TenantScope, deal_id: int,
                               event_ids: Sequence[int]) -> list[int]:
    """Ids of the deal's unfinished runs (queued, waiting, running) that these events started."""
    if not event_ids:
        return []
    rows = await session.scalars(
        select(AutomationRun.id).where(AutomationRun.tenant_id == scope.tenant_id, AutomationRun.deal_id == deal_id,
                                       AutomationRun.trigger_event_id.in_(list(event_ids)),
                                       AutomationRun.status.in_(ACTIVE_RUN_STATUSES))
        .order_by(AutomationRun.id))
    return list(rows)


async def has_runs_of(session: AsyncSession, scope: TenantScope, workflow_key: str) -> bool:
    return await session.scalar(select(AutomationRun.id).where(
        AutomationRun.tenant_id == scope.tenant_id, AutomationRun.workflow_key == workflow_key).limit(1)) is not None


async def finished_run_ids(session: AsyncSession, scope: TenantScope, workflow_key: str, statuses: Sequence[str],
                           since: dt.datetime, limit: int) -> list[int]:
    """Ids of a workflow's runs in these statuses that finished at or after `since`, oldest first."""
    rows = await session.scalars(select(AutomationRun.id).where(
        AutomationRun.tenant_id == scope.tenant_id, AutomationRun.workflow_key == workflow_key,
        AutomationRun.status.in_(list(statuses)), AutomationRun.completed_at >= since,
    ).order_by(AutomationRun.id).limit(limit))
    return list(rows.all())


# -- pauses ------------------------------------------------------------------------------------------------------


async def pause_of(session: AsyncSession, scope: TenantScope, workflow_key: str) -> WorkflowPause | None:
    return await session.scalar(select(WorkflowPause).where(WorkflowPause.tenant_id == scope.tenant_id,
                                                            WorkflowPause.workflow_key == workflow_key))


async def delete_pause(session: AsyncSession, scope: TenantScope, workflow_key: str) -> bool:
    """Remove the pause; False when the workflow was not paused."""
    result = await session.execute(delete(WorkflowPause).where(WorkflowPause.tenant_id == scope.tenant_id,
                                                               WorkflowPause.workflow_key == workflow_key))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def pauses_with_slugs(session: AsyncSession, scope: Scope) -> list[tuple[str, WorkflowPause]]:
    query = select(Tenant.slug, WorkflowPause).join(Tenant, Tenant.id == WorkflowPause.tenant_id)
    query = _scoped(query, scope, WorkflowPause.tenant_id)
    return [(slug, pause) for slug, pause in (await session.execute(query)).all()]


async def paused_keys(session: AsyncSession) -> set[tuple[str, str]]:
    """(tenant slug, workflow key) of every paused workflow of every tenant (the /metrics scrape)."""
    return {(slug, key) for slug, key in await session.execute(
        select(Tenant.slug, WorkflowPause.workflow_key).join(Tenant, Tenant.id == WorkflowPause.tenant_id))}


# -- queue and health figures ------------------------------------------------------------------------------------


async def active_counts(session: AsyncSession, scope: Scope, now: dt.datetime,
                        ) -> tuple[list[Any], list[Any]]:
    """Active runs per tenant slug, workflow and status (`slug, workflow_key, status, n, oldest`): all of them, and
    those due by `now`."""
    base = select(Tenant.slug, AutomationRun.workflow_key, AutomationRun.status,
                  func.count().label("n"), func.min(AutomationRun.run_after).label("oldest")) \
        .join(Tenant, Tenant.id == AutomationRun.tenant_id) \
        .where(AutomationRun.status.in_(("queued", "running", "waiting")))
    base = _scoped(base, scope)
    due = base.where(AutomationRun.run_after <= now) \
        .group_by(Tenant.slug, AutomationRun.workflow_key, AutomationRun.status)
    everything = base.group_by(Tenant.slug, AutomationRun.workflow_key, AutomationRun.status)
    return list((await session.execute(everything)).all()), list((await session.execute(due)).all())


async def due_counts(session: AsyncSession, statuses: Sequence[str], now: dt.datetime,
                     ) -> list[tuple[str, str, int, Any]]:
    """Per tenant slug and workflow of every tenant: runs in `statuses` due by `now`, and the oldest due time."""
    rows = await session.execute(
        select(Tenant.slug, AutomationRun.workflow_key, func.count(), func.min(AutomationRun.run_after))
        .join(Tenant, Tenant.id == AutomationRun.tenant_id)
        .where(AutomationRun.status.in_(statuses), AutomationRun.run_after <= now)
        .group_by(Tenant.slug, AutomationRun.workflow_key)
    )
    return [(slug, key, count, oldest) for slug, key, count, oldest in rows]


async def due_queued_by_workflow(session: AsyncSession, scope: Scope, now: dt.datetime,
                                 ) -> list[tuple[str, int, Any]]:
    """Per workflow: queued runs due by `now`, and the oldest due time (the status page's queue check)."""
    rows = await session.execute(_scoped(
        select(AutomationRun.workflow_key, func.count(), func.min(AutomationRun.run_after))
        .where(AutomationRun.status == "queued", AutomationRun.run_after <= now), scope)
        .group_by(AutomationRun.workflow_key))
    return [(key, count, oldest) for key, count, oldest in rows]


async def finished_counts_by_slug(session: AsyncSession, scope: Scope, finished: Sequence[str],
                                  failed: Sequence[str], since: dt.datetime, until: dt.datetime,
                                  ) -> list[tuple[str, str, int, int | None]]:
    """Per tenant slug and workflow: runs finished in (since, until], and how many of them in `failed`."""
    failures = func.sum(case((AutomationRun.status.in_(failed), 1), else_=0))
    query = (select(Tenant.slug, AutomationRun.workflow_key, func.count(), failures)
             .join(Tenant, Tenant.id == AutomationRun.tenant_id)
             .where(AutomationRun.status.in_(finished), AutomationRun.completed_at > since,
                    AutomationRun.completed_at <= until))
    query = _scoped(query, scope).group_by(Tenant.slug, AutomationRun.workflow_key)
    return [(slug, key, total, failures) for slug, key, total, failures in await session.execute(query)]


async def finished_counts_by_tenant(session: AsyncSession, scope: Scope, finished: Sequence[str],
                                    failed: Sequence[str], since: dt.datetime, until: dt.datetime,
                                    ) -> dict[tuple[int, str], tuple[int, int]]:
    """Per (tenant id, workflow): runs finished in (since, until] and how many of them in `failed`."""
    failures = func.sum(case((AutomationRun.status.in_(failed), 1), else_=0))
    query = (select(AutomationRun.tenant_id, AutomationRun.workflow_key, func.count(), failures)
             .where(AutomationRun.status.in_(finished),
                    AutomationRun.completed_at > since, AutomationRun.completed_at <= until))
    rows = await session.execute(_scoped(query, scope).group_by(AutomationRun.tenant_id, AutomationRun.workflow_key))
    return {(tenant_id, key): (int(total), int(failures or 0)) for tenant_id, key, total, failures in rows}


async def dead_counts(session: AsyncSession, scope: Scope, since: dt.datetime) -> list[tuple[str, str, int]]:
    """Per tenant slug and workflow: runs that died after `since`."""
    query = (select(Tenant.slug, AutomationRun.workflow_key, func.count())
             .join(Tenant, Tenant.id == AutomationRun.tenant_id)
             .where(AutomationRun.status == "dead", AutomationRun.completed_at > since))
    query = _scoped(query, scope).group_by(Tenant.slug, AutomationRun.workflow_key)
    return [(slug, key, count) for slug, key, count in await session.execute(query)]


async def retrying_counts(session: AsyncSession, scope: Scope) -> list[tuple[str, str, int]]:
    """Per tenant slug and workflow: queued runs that have spent an attempt (waiting for their retry)."""
    query = (select(Tenant.slug, AutomationRun.workflow_key, func.count())
             .join(Tenant, Tenant.id == AutomationRun.tenant_id)
             .where(AutomationRun.status == "queued", AutomationRun.attempt > 0))
    query = _scoped(query, scope).group_by(Tenant.slug, AutomationRun.workflow_key)
    return [(slug, key, count) for slug, key, count in await session.execute(query)]


# -- superseding -------------------------------------------------------------------------------------------------


def _same_subject(scope: TenantScope, run_id: int, workflow_key: str, lead_id: int | None,
                  deal_id: int | None) -> Select[Any]:
    query = select(AutomationRun).where(AutomationRun.tenant_id == scope.tenant_id,
                                        AutomationRun.workflow_key == workflow_key,
                                        AutomationRun.trigger_type != MANUAL_TRIGGER,
                                        AutomationRun.id != run_id)
    if deal_id is not None:
        return query.where(AutomationRun.deal_id == deal_id)
    return query.where(AutomationRun.lead_id == lead_id, AutomationRun.deal_id.is_(None))


async def earlier_open_runs(session: AsyncSession, scope: TenantScope, run_id: int, workflow_key: str,
                            lead_id: int | None, deal_id: int | None) -> list[AutomationRun]:
    """Queued or waiting runs of the workflow for the same subject created before `run_id`, locked, oldest first
    (manual runs excepted)."""
    query = (_same_subject(scope, run_id, workflow_key, lead_id, deal_id)
             .where(AutomationRun.id < run_id, AutomationRun.status.in_(("queued", "waiting")))
             .order_by(AutomationRun.id).with_for_update())
    return list((await session.scalars(query)).all())


async def first_newer_run(session: AsyncSession, scope: TenantScope, run_id: int, workflow_key: str,
                          lead_id: int | None, deal_id: int | None) -> int | None:
    """The id of the first run created after `run_id` for the same workflow and subject (manual runs excepted)."""
    query = (_same_subject(scope, run_id, workflow_key, lead_id, deal_id)
             .where(AutomationRun.id > run_id).order_by(AutomationRun.id).limit(1))
    return await session.scalar(query.with_only_columns(AutomationRun.id))


# -- the executor's fenced writes --------------------------------------------------------------------------------


async def fence(session: AsyncSession, run_id: int, owner: str) -> Any | None:
    """The run's state while `owner` holds its lease and it is running, row-locked on Postgres; else None."""
    stmt = (select(AutomationRun.current_step, AutomationRun.step_log, AutomationRun.context,
                   AutomationRun.attempt, AutomationRun.started_at, AutomationRun.created_at,
                   AutomationRun.sla_due_at, AutomationRun.sla_breached, AutomationRun.trigger_type)
            .where(AutomationRun.id == run_id, AutomationRun.lease_owner == owner,
                   AutomationRun.status == "running")
            .with_for_update())
    return (await session.execute(stmt)).first()


async def write_fenced(session: AsyncSession, run_id: int, owner: str, values: dict[str, Any]) -> int:
    """Write `values` to the run if `owner` still holds its lease and it is running; returns the rows written."""
    result = await session.execute(update(AutomationRun)
                                   .where(AutomationRun.id == run_id, AutomationRun.lease_owner == owner,
                                          AutomationRun.status == "running").values(**values)
                                   .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def write_group_as_json(session: AsyncSession, payload: str, owner: str, now: dt.datetime) -> int:
    """Postgres: one fenced UPDATE for a group of runs given as a JSON array of rows (id, status, current_step,
    step_log, context, run_after, lease_owner, lease_expires_at, completed_at, duration_ms, sla_breached,
    sla_due_at; null SLA fields keep the stored value). Returns how many runs it landed on."""
    result = await session.execute(text(
        "UPDATE crm_automation_runs AS r SET status = v.status, current_step = v.current_step, "
        "step_log = v.step_log, context = v.context, run_after = v.run_after, lease_owner = v.lease_owner, "
        "lease_expires_at = v.lease_expires_at, completed_at = v.completed_at, duration_ms = v.duration_ms, "
        "sla_breached = COALESCE(v.sla_breached, r.sla_breached), "
        "sla_due_at = COALESCE(v.sla_due_at, r.sla_due_at), updated_at = :now "
        "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id bigint, status varchar, current_step integer, "
        "step_log jsonb, context jsonb, run_after timestamptz, lease_owner varchar, lease_expires_at timestamptz, "
        "completed_at timestamptz, duration_ms bigint, sla_breached boolean, sla_due_at timestamptz) "
        "WHERE r.id = v.id AND r.lease_owner = :owner AND r.status = 'running' RETURNING r.id"),
        {"rows": payload, "owner": owner, "now": now})
    return len(result.all())


async def running_run_ids(session: AsyncSession, owner: str) -> list[int]:
    """Runs that still carry `owner`'s lease and are running."""
    rows = await session.execute(
        text("SELECT id FROM crm_automation_runs WHERE lease_owner = :owner AND status = 'running'"),
        {"owner": owner})
    return [r.id for r in rows]


# -- waits and SLA -----------------------------------------------------------------------------------------------


async def parked_runs_of(session: AsyncSession, scope: TenantScope, kind: Literal["deal", "lead"],
                         record_id: int) -> list[Any]:
    """The `waiting` runs of a deal (or of a lead and its deals), locked, oldest first."""
    # A deal's runs read its lead too, so a changed lead also moves the waits of its deals' runs.
    whose = (AutomationRun.deal_id == record_id if kind == "deal" else
             or_(AutomationRun.lead_id == record_id,
                 AutomationRun.deal_id.in_(select(Deal.id).where(Deal.tenant_id == scope.tenant_id,
                                                                 Deal.lead_id == record_id))))
    return list((await session.execute(
        select(AutomationRun.id, AutomationRun.workflow_id, AutomationRun.workflow_key, AutomationRun.lead_id,
               AutomationRun.deal_id, AutomationRun.current_step, AutomationRun.run_after, AutomationRun.attempt,
               AutomationRun.context)
        .where(AutomationRun.tenant_id == scope.tenant_id, AutomationRun.status == "waiting", whose)
        .order_by(AutomationRun.id).with_for_update())).all())


async def retime_waiting_run(session: AsyncSession, run_id: int, run_after: dt.datetime, sla_due_at: dt.datetime,
                             now: dt.datetime) -> bool:
    """Move a run's wake-up time if it is still waiting; False when a worker claimed it meanwhile."""
    result = await session.execute(
        update(AutomationRun).where(AutomationRun.id == run_id, AutomationRun.status == "waiting")
        .values(run_after=run_after, sla_due_at=sla_due_at, updated_at=now)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def overdue_unmarked(session: AsyncSession, scope: Scope, now: dt.datetime, statuses: Iterable[str],
                           limit: int) -> list[Any]:
    """Runs in `statuses` past their SLA due time and not yet marked breached, oldest first."""
    query = (select(AutomationRun.id, AutomationRun.tenant_id, AutomationRun.workflow_key, AutomationRun.lead_id,
                    AutomationRun.deal_id, AutomationRun.status, AutomationRun.sla_due_at)
             .where(AutomationRun.sla_breached.is_(False), AutomationRun.sla_due_at < now,
                    AutomationRun.status.in_(tuple(statuses))))
    return list((await session.execute(_scoped(query, scope).order_by(AutomationRun.id).limit(limit))).all())


async def mark_breached(session: AsyncSession, run_id: int) -> bool:
    """Mark the run's SLA breached; False when it already was (another worker's check)."""
    marked = await session.execute(update(AutomationRun).where(AutomationRun.id == run_id,
                                                               AutomationRun.sla_breached.is_(False))
                                   .values(sla_breached=True).execution_options(synchronize_session=False))
    return bool(marked.rowcount)  # type: ignore[attr-defined]


# -- the worker registry (not tenants' rows) ---------------------------------------------------------------------


async def workers_seen_since(session: AsyncSession, since: dt.datetime) -> list[WorkerRecord]:
    return list((await session.scalars(select(WorkerRecord).where(WorkerRecord.heartbeat_at >= since)
                                       .order_by(WorkerRecord.started_at))).all())


async def worker_heartbeat(session: AsyncSession, name: str, values: dict[str, Any]) -> None:
    await session.execute(update(WorkerRecord).where(WorkerRecord.name == name).values(**values))


# -- live updates of the web app ----------------------------------------------------------------------------------


async def finished_after(session: AsyncSession, scope: TenantScope, after: dt.datetime,
                         limit: int = 100) -> list[AutomationRun]:
    """The tenant's runs that finished (completed_at set) after `after`, oldest first."""
    rows = await session.scalars(
        select(AutomationRun).where(AutomationRun.tenant_id == scope.tenant_id, AutomationRun.completed_at > after)
        .order_by(AutomationRun.completed_at, AutomationRun.id).limit(limit))
    return list(rows)
