"""The engine's own step types: create_task, update_record, wait, stop. Channel steps live with the templates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import inspect

from rentguy_crm.automation.engine import repository
from rentguy_crm.automation.engine.step_fields import render_fields
from rentguy_crm.automation.engine.step_registry import PermanentStepError, StepContext, StepResult, register_step
from rentguy_crm.automation.workflows import expressions
from rentguy_crm.automation.workflows.definitions import CreateTask, Stop, UpdateRecord, Wait
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead
from rentguy_crm.events import service as events
from rentguy_crm.kit import wallclock


def _permanent(message: str) -> Exception:
    return PermanentStepError(message)


@register_step("create_task")
async def create_task(ctx: StepContext, step: CreateTask) -> StepResult:
    existing = await repository.task_by_idempotency_key(ctx.session, ctx.idempotency_key)
    if existing is not None:  # the step ran before and its commit landed: do not make a second task
        return StepResult.done(task_id=existing.id)
    step = render_fields(ctx, step)
    lead = ctx.variables.get("lead") or {}
    deal = ctx.variables.get("deal") or {}
    contact = ctx.variables.get("contact") or {}
    # A field that renders empty (`{{ deal.owner }}` on a deal without owner) falls back like an absent one.
    team = (step.team or "").strip() or lead.get("team")
    owner = (step.owner or "").strip() or deal.get("owner") or lead.get("owner")
    task = Activity(tenant_id=ctx.tenant.id, kind="task", title=step.title.strip()[:300], lead_id=lead.get("id"),
                    deal_id=deal.get("id"), contact_id=contact.get("id"), due_at=_due(ctx, step.due_in),
                    team=team[:64] if team else None, owner=owner[:200] if owner else None,
                    body=step.description or None, status="open", idempotency_key=ctx.idempotency_key)
    ctx.session.add(task)
    await ctx.session.flush()
    return StepResult.done(task_id=task.id)


def _due(ctx: StepContext, due_in: dt.timedelta) -> dt.datetime:
    # `due_in: 1 day` is tomorrow at the same local clock time, also across a summer-time switch.
    return wallclock.shift(ctx.now, due_in, ctx.tenant.timezone)


_RECORDS: dict[str, Any] = {"lead": Lead, "deal": Deal, "contact": Contact}
_PROTECTED = {"id", "tenant_id", "contact_id", "lead_id", "pipeline_id", "created_at", "updated_at",
              "submission_hash", "consent", "external_id"}


@register_step("update_record")
async def update_record(ctx: StepContext, step: UpdateRecord) -> StepResult:
    model = _RECORDS[step.record]
    subject = ctx.variables.get(step.record)
    if not subject:
        raise _permanent(f"update_record: this run has no {step.record} to update")
    columns = {attr.key for attr in inspect(model).mapper.column_attrs}
    if step.field not in columns or step.field in _PROTECTED:
        allowed = ", ".join(sorted(columns - _PROTECTED))
        raise _permanent(f"update_record: '{step.field}' is not a field of {step.record} that steps may change "
                         f"(allowed: {allowed})")
    record = await repository.subject_record(ctx.session, model, subject["id"])
    if record is None or record.tenant_id != ctx.tenant.id:
        raise _permanent(f"update_record: {step.record} {subject['id']} no longer exists")
    value = _column_value(model, step.field, render_fields(ctx, step).value, ctx.tenant.timezone)
    before = getattr(record, step.field)
    if value == before:
        return StepResult.done(field=step.field, before=before, after=value)
    setattr(record, step.field, value)
    await ctx.session.flush()
    # Like every door that changes a record: runs parked on its dates move with it (`automation.waits`).
    await events.emit(ctx.session, ctx.tenant.id, f"{step.record}.updated", subject_type=step.record,
                      subject_id=record.id, payload={f"{step.record}_id": record.id, "changed": [step.field]})
    return StepResult.done(field=step.field, before=before, after=value)


def _column_value(model: Any, field: str, value: Any, timezone: str) -> Any:
    """A rendered field (text) as the column's type: empty is nothing where the column allows it; '2027-03-27'
    for a date column is a date (the databases do not take text for dates alike); a time without an offset is
    the tenant's local time; numbers and the like are validated."""
    if not isinstance(value, str):
        return value
    column = inspect(model).mapper.columns[field]
    if not value.strip() and column.nullable:
        return None
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # JSON and custom types say nothing
        return value
    if python_type is str:
        return value
    try:
        if python_type is dt.datetime:
            return wallclock.in_zone(dt.datetime.fromisoformat(value.strip()), timezone).astimezone(dt.UTC)
        if python_type is dt.date:
            return dt.date.fromisoformat(value.strip())
        return TypeAdapter(python_type).validate_python(value.strip())
    except (ValueError, ValidationError):
        raise _permanent(f"update_record: '{field}' is {value!r}, which is not a {python_type.__name__} "
                         "(dates and times as ISO 8601, e.g. 2027-03-27)") from None


@register_step("wait")
async def wait(ctx: StepContext, step: Wait) -> StepResult:
    # Counted on the tenant's calendar: `wait 2 days` ends at the same local clock time, summer time or not.
    if step.duration is not None:
        return StepResult.wait(wallclock.shift(ctx.now, step.duration, ctx.tenant.timezone))
    if step.until:
        until = expressions.resolve_until(step.until, ctx.variables, ctx.tenant.timezone, now=ctx.now)
        if until is None:
            raise _permanent(f"wait until '{step.until}': the date it names is empty for this run's "
                             f"{'/'.join(sorted(expressions.referenced_names(step.until)))}")
        # The run parks until then; `automation.waits` moves it when the record the expression reads changes.
        return StepResult.wait(until, resumes_at=until.isoformat())
    raise _permanent("wait needs a duration or an until")


@register_step("stop")
async def stop(ctx: StepContext, step: Stop) -> StepResult:
    return StepResult.stop(render_fields(ctx, step).reason)
