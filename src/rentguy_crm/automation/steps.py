"""The engine's own step types: create_task, update_record, wait, stop. Channel steps live with the templates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import inspect, select

from rentguy_crm.automation import expressions
from rentguy_crm.automation.definitions import CreateTask, Stop, UpdateRecord, Wait
from rentguy_crm.automation.steps_api import StepContext, StepResult, register_step
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead
from rentguy_crm.templates.fields import render_fields


def _permanent(message: str) -> Exception:
    from rentguy_crm.automation.engine import PermanentStepError

    return PermanentStepError(message)


@register_step("create_task")
async def create_task(ctx: StepContext, step: CreateTask) -> StepResult:
    existing = await ctx.session.scalar(select(Activity).where(Activity.idempotency_key == ctx.idempotency_key))
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
                    deal_id=deal.get("id"), contact_id=contact.get("id"), due_at=ctx.now + step.due_in,
                    team=team[:64] if team else None, owner=owner[:200] if owner else None,
                    body=step.description or None, status="open", idempotency_key=ctx.idempotency_key)
    ctx.session.add(task)
    await ctx.session.flush()
    return StepResult.done(task_id=task.id)


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
    record = await ctx.session.get(model, subject["id"])
    if record is None or record.tenant_id != ctx.tenant.id:
        raise _permanent(f"update_record: {step.record} {subject['id']} no longer exists")
    value = step.value
    rendered = render_fields(ctx, step).value
    if rendered != value:
        value = _as_column_value(model, step.field, rendered)
    before = getattr(record, step.field)
    setattr(record, step.field, value)
    await ctx.session.flush()
    return StepResult.done(field=step.field, before=before, after=value)


def _as_column_value(model: Any, field: str, rendered: Any) -> Any:
    """A rendered template is text; the column may want a date, a number or nothing at all."""
    column = inspect(model).columns[field]
    if isinstance(rendered, str) and not rendered.strip() and column.nullable:
        return None
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return rendered
    if python_type is str or not isinstance(rendered, str):
        return rendered
    try:
        return TypeAdapter(python_type).validate_python(rendered.strip())
    except ValidationError:
        raise _permanent(f"update_record: '{field}' rendered as {rendered!r}, which is not a "
                         f"{python_type.__name__}") from None


@register_step("wait")
async def wait(ctx: StepContext, step: Wait) -> StepResult:
    if step.duration is not None:
        return StepResult.wait(ctx.now + step.duration)
    if step.until:
        resolve = getattr(expressions, "resolve_until", None)
        if resolve is None:
            raise _permanent(f"wait until '{step.until}' needs the expression language, which is not installed")
        until = resolve(step.until, ctx.variables)
        if isinstance(until, dt.date) and not isinstance(until, dt.datetime):
            until = dt.datetime.combine(until, dt.time(0), tzinfo=dt.UTC)
        if not isinstance(until, dt.datetime):
            raise _permanent(f"wait until '{step.until}' did not give a date/time")
        return StepResult.wait(until if until.tzinfo else until.replace(tzinfo=dt.UTC))
    raise _permanent("wait needs a duration or an until")


@register_step("stop")
async def stop(ctx: StepContext, step: Stop) -> StepResult:
    return StepResult.stop(render_fields(ctx, step).reason)
