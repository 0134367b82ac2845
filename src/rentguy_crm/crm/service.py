"""CRM logic: create and change contacts, leads, deals and activities, with audit and outbox events.

Every change is audited (before/after) and, where automations care, emitted as an event, in the caller's
transaction. Functions flush, never commit: the request (or command) owns the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import assignment, repository, schemas
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead, PipelineStage
from rentguy_crm.db import utcnow
from rentguy_crm.errors import Conflict, ValidationFailed
from rentguy_crm.events import repository as event_records
from rentguy_crm.events import service as events
from rentguy_crm.kit import rows
from rentguy_crm.kit.pagination import Page, PageParams
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.tenants.service import tenant_config

ENTITY_TYPES: dict[type, str] = {Contact: "contact", Lead: "lead", Deal: "deal", Activity: "activity"}


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}.",
                            errors=[{"field": field, "message": message, "type": "value_error"}])


def _apply(obj: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """Set the changed values; returns only those that really differ."""
    changed = {name: value for name, value in changes.items() if getattr(obj, name) != value}
    for name, value in changed.items():
        setattr(obj, name, value)
    return changed


async def _flush_unique(session: AsyncSession, what: str) -> None:
    """Flush; a unique-constraint race lost to a concurrent request becomes a 409 (the request then rolls back)."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"{what} already exists.") from None


async def _audit(session: AsyncSession, principal: Principal, action: str, obj: Any,
                 before: dict[str, Any] | None, reason: str | None = None) -> None:
    await audit.record(session, actor=principal.actor, action=action, entity_type=ENTITY_TYPES[type(obj)],
                       entity_id=obj.id, tenant_id=principal.tenant_id, before=before, after=audit.snapshot(obj),
                       reason=reason)


# ---- contacts ----

async def _check_contact_unique(session: AsyncSession, scope: TenantScope, email: str | None, phone: str | None,
                                own_id: int | None = None) -> None:
    if email:
        other = await repository.contact_by_email(session, scope, email)
        if other is not None and other.id != own_id:
            raise Conflict(f"Contact {other.id} already has the e-mail address {email}.",
                           extra={"existing_id": other.id})
    elif phone:
        other = await repository.contact_by_phone_without_email(session, scope, phone)
        if other is not None and other.id != own_id:
            raise Conflict(f"Contact {other.id} already has the phone number {phone} (and no e-mail).",
                           extra={"existing_id": other.id})


async def list_contacts(session: AsyncSession, principal: Principal, filters: schemas.ContactFilters,
                        sort: str | None, page: PageParams) -> Page[schemas.Contact]:
    window = await repository.list_contacts(session, principal.scope, filters, sort, page)
    return Page.of([schemas.Contact.model_validate(r) for r in window.rows], window, page)


async def get_contact(session: AsyncSession, principal: Principal, contact_id: int) -> Contact:
    return await repository.get_scoped(session, Contact, principal.scope, contact_id, "contact")


async def create_contact(session: AsyncSession, principal: Principal, body: schemas.ContactCreate) -> Contact:
    await _check_contact_unique(session, principal.scope, body.email, body.phone)
    contact = Contact(tenant_id=principal.tenant_id, **body.model_dump())
    session.add(contact)
    await _flush_unique(session, "A contact with this e-mail address or phone number")
    await _audit(session, principal, "contact.created", contact, None)
    return contact


async def update_contact(session: AsyncSession, principal: Principal, contact_id: int,
                         body: schemas.ContactUpdate) -> Contact:
    contact = await get_contact(session, principal, contact_id)
    changes = body.changes()
    if not body.reason and "operations" in principal.roles and changes:
        raise _field_error("reason", "a correction by operations must say why (reason)")
    email = changes.get("email", contact.email)
    phone = changes.get("phone", contact.phone)
    await _check_contact_unique(session, principal.scope, email, phone, own_id=contact.id)
    before = audit.snapshot(contact)
    if _apply(contact, changes):
        await _flush_unique(session, "A contact with this e-mail address or phone number")
        await _audit(session, principal, "contact.updated", contact, before, reason=body.reason)
    return contact


# ---- leads ----

async def list_leads(session: AsyncSession, principal: Principal, filters: schemas.LeadFilters, sort: str | None,
                     page: PageParams) -> Page[schemas.Lead]:
    window = await repository.list_leads(session, principal.scope, filters, sort, page)
    return Page.of([schemas.Lead.model_validate(r) for r in window.rows], window, page)


async def get_lead(session: AsyncSession, principal: Principal, lead_id: int) -> Lead:
    return await repository.get_scoped(session, Lead, principal.scope, lead_id, "lead")


async def create_lead(session: AsyncSession, principal: Principal, body: schemas.LeadCreate) -> Lead:
    """A lead entered by staff for a known contact; priority and team default to the tenant's assignment rules."""
    await repository.get_referenced(session, Contact, principal.scope, body.contact_id, "contact_id")
    if body.external_id and await repository.lead_by_external_id(session, principal.scope, body.external_id):
        raise Conflict(f"A lead with external_id '{body.external_id}' already exists.")
    values = body.model_dump()
    if values["priority"] is None or values["team"] is None:
        tenant = await tenants.by_scope(session, principal.scope)
        rule = tenant_config(tenant).assignment.for_event_type(body.event_type) if tenant else None
        values["priority"] = values["priority"] or (rule.priority if rule else "normal")
        values["team"] = values["team"] or (rule.team if rule else None)
    lead = Lead(tenant_id=principal.tenant_id, **values)
    session.add(lead)
    await _flush_unique(session, f"A lead with external_id '{body.external_id}'")
    await _audit(session, principal, "lead.created", lead, None)
    await events.emit(session, principal.tenant_id, "lead.created", subject_type="lead", subject_id=lead.id,
                      payload={"lead_id": lead.id, "contact_id": lead.contact_id, "event_type": lead.event_type,
                               "source": lead.source, "priority": lead.priority, "team": lead.team})
    return lead


async def update_lead(session: AsyncSession, principal: Principal, lead_id: int, body: schemas.LeadUpdate) -> Lead:
    lead = await get_lead(session, principal, lead_id)
    before = audit.snapshot(lead)
    changes = body.changes()
    changed = _apply(lead, changes)
    if "event_type" in changed:
        # Assignment follows its input; priority or team sent in the same body win.
        tenant = await tenants.by_scope(session, principal.scope)
        if tenant is not None:
            changed |= assignment.follow_event_type(lead, before["event_type"], tenant_config(tenant).assignment,
                                                    keep=frozenset(changes))
    if not changed:
        return lead
    await session.flush()
    await _audit(session, principal, "lead.updated", lead, before)
    # Runs parked on a date of this lead move with it (`automation.waits`).
    await events.emit(session, principal.tenant_id, "lead.updated", subject_type="lead", subject_id=lead.id,
                      payload={"lead_id": lead.id, "changed": sorted(changed)})
    if "status" in changed:
        await events.emit(session, principal.tenant_id, "lead.status_changed", subject_type="lead",
                          subject_id=lead.id, payload={"lead_id": lead.id, "from": before["status"],
                                                       "to": lead.status})
    return lead


# ---- deals ----

async def deal_view(session: AsyncSession, deal: Deal) -> schemas.Deal:
    pipeline_key, stage_key = await repository.deal_keys(session, deal)
    return _deal_view(deal, pipeline_key, stage_key)


def _deal_view(deal: Deal, pipeline_key: str, stage_key: str) -> schemas.Deal:
    return schemas.Deal.model_validate({**rows.public(deal), "pipeline": pipeline_key, "stage": stage_key})


async def list_deals(session: AsyncSession, principal: Principal, filters: schemas.DealFilters, sort: str | None,
                     page: PageParams) -> Page[schemas.Deal]:
    rows, total = await repository.list_deals(session, principal.scope, filters, sort, page)
    return Page(items=[_deal_view(*row) for row in rows], total=total, limit=page.limit, offset=page.offset)


async def get_deal(session: AsyncSession, principal: Principal, deal_id: int) -> Deal:
    return await repository.get_scoped(session, Deal, principal.scope, deal_id, "deal")


def _status_for(stage: PipelineStage, current: str) -> str:
    if stage.outcome in ("won", "lost"):
        return stage.outcome
    # Leaving a closing stage for an open one reopens the deal.
    return "open" if current in ("won", "lost") else current


async def create_deal(session: AsyncSession, principal: Principal, body: schemas.DealCreate) -> Deal:
    tenant_id = principal.tenant_id
    contact_id = body.contact_id
    if contact_id is not None:
        await repository.get_referenced(session, Contact, principal.scope, contact_id, "contact_id")
    if body.lead_id is not None:
        lead = await repository.get_referenced(session, Lead, principal.scope, body.lead_id, "lead_id")
        if contact_id is None:
            contact_id = lead.contact_id
        elif lead.contact_id != contact_id:
            raise _field_error("lead_id", f"lead {lead.id} belongs to contact {lead.contact_id}, not {contact_id}")
    pipeline = await repository.pipeline_by_key(session, principal.scope, body.pipeline)
    if pipeline is None:
        raise _field_error("pipeline", f"no pipeline '{body.pipeline}'")
    stages = await repository.stages_of(session, principal.scope, pipeline.id)
    if not stages:
        raise _field_error("pipeline", f"pipeline '{body.pipeline}' has no stages")
    stage = stages[0] if body.stage is None else next((s for s in stages if s.key == body.stage), None)
    if stage is None:
        raise _field_error("stage", f"pipeline '{pipeline.key}' has no stage '{body.stage}'; "
                                    f"its stages are {', '.join(s.key for s in stages)}")
    values = {**body.model_dump(exclude={"pipeline", "stage"}), "contact_id": contact_id}
    deal = Deal(tenant_id=tenant_id, pipeline_id=pipeline.id, stage_id=stage.id, status=_status_for(stage, "open"),
                stage_changed_at=utcnow(), **values)
    session.add(deal)
    await session.flush()
    await _audit(session, principal, "deal.created", deal, None)
    await events.emit(session, tenant_id, "deal.created", subject_type="deal", subject_id=deal.id,
                      payload={"deal_id": deal.id, "pipeline": pipeline.key, "stage": stage.key})
    return deal


async def update_deal(session: AsyncSession, principal: Principal, deal_id: int, body: schemas.DealUpdate) -> Deal:
    deal = await get_deal(session, principal, deal_id)
    before = audit.snapshot(deal)
    changed = _apply(deal, body.changes())
    if changed:
        await session.flush()
        await _audit(session, principal, "deal.updated", deal, before)
        # Runs parked on this deal's event date (post-event care) move with it (`automation.waits`).
        await events.emit(session, principal.tenant_id, "deal.updated", subject_type="deal", subject_id=deal.id,
                          payload={"deal_id": deal.id, "changed": sorted(changed)})
    return deal


async def move_deal(session: AsyncSession, principal: Principal, deal_id: int, body: schemas.StageMove) -> Deal:
    """Advance (or move back) a deal within its pipeline; emits `deal.stage.changed` and `deal.stage.<key>`.

    Moving to the stage the deal is already in changes nothing and emits nothing, so a retried call is harmless.
    The deal's row is held while it moves, so two identical moves at once make one change.
    """
    deal = await repository.get_scoped(session, Deal, principal.scope, deal_id, "deal", lock=True)
    stages = await repository.stages_of(session, principal.scope, deal.pipeline_id)
    target = next((s for s in stages if s.key == body.stage), None)
    if target is None:
        raise _field_error("stage", f"the deal's pipeline has no stage '{body.stage}'; "
                                    f"its stages are {', '.join(s.key for s in stages)}")
    if target.id == deal.stage_id:
        return deal
    pipeline_key, from_key = await repository.deal_keys(session, deal)
    before = audit.snapshot(deal)
    deal.stage_id = target.id
    deal.status = _status_for(target, deal.status)
    deal.stage_changed_at = utcnow()
    await session.flush()
    await _audit(session, principal, "deal.stage_changed", deal, before)
    payload = {"deal_id": deal.id, "pipeline": pipeline_key, "from": from_key, "to": target.key,
               "status": deal.status, "automation_flow": target.automation_flow}
    changed = await events.emit(session, principal.tenant_id, "deal.stage.changed", subject_type="deal",
                                subject_id=deal.id, payload=payload)
    # The same move under its stage's name: a workflow reached through both events starts once for the move.
    await events.emit(session, principal.tenant_id, f"deal.stage.{target.key}", subject_type="deal",
                      subject_id=deal.id, payload=payload, change=f"event:{changed.id}")
    return deal


async def undo_stage_move(session: AsyncSession, principal: Principal, deal_id: int,
                          move_id: int) -> tuple[Deal, list[int]]:
    """Take a deal back to the stage a move (its `deal.stage.changed` event `move_id`) took it from: the undo of an
    accidental drop on the board. Audited; reported as `deal.updated`, so the stage left starts no automation again.

    Only the deal's last move can be undone, and only while the deal is still where that move put it. Answers the
    deal and the ids of the move's events, so the caller can stop what the move set off."""
    deal = await repository.get_scoped(session, Deal, principal.scope, deal_id, "deal", lock=True)
    found = await event_records.stage_moves_since(session, principal.scope, deal.id, move_id)
    move = found[0] if found and found[0].id == move_id and found[0].type == "deal.stage.changed" else None
    if move is None:
        raise _field_error("move", f"deal {deal.id} has no stage move {move_id}")
    later = [e for e in found[1:] if e.type == "deal.stage.changed"]
    _pipeline_key, current_key = await repository.deal_keys(session, deal)
    if later or current_key != move.payload.get("to"):
        raise Conflict(f"Deal {deal.id} has moved since (it is in '{current_key}' now); only its last move can be "
                       "undone, while the deal is still where that move put it.")
    stages = await repository.stages_of(session, principal.scope, deal.pipeline_id)
    target = next((s for s in stages if s.key == move.payload.get("from")), None)
    if target is None:
        raise Conflict(f"The stage deal {deal.id} came from no longer exists in its pipeline.")
    before = audit.snapshot(deal)
    deal.stage_id = target.id
    deal.status = _status_for(target, deal.status)
    deal.stage_changed_at = utcnow()
    await session.flush()
    await _audit(session, principal, "deal.stage_move_undone", deal, before, reason=f"undo of stage move {move_id}")
    await events.emit(session, principal.tenant_id, "deal.updated", subject_type="deal", subject_id=deal.id,
                      payload={"deal_id": deal.id, "changed": ["stage_id", "status"], "undone_move": move_id})
    change = f"event:{move_id}"
    return deal, [e.id for e in found if e.id == move_id or (e.payload or {}).get("change") == change]


# ---- activities ----

async def list_activities(session: AsyncSession, principal: Principal, filters: schemas.ActivityFilters,
                          sort: str | None, page: PageParams) -> Page[schemas.Activity]:
    window = await repository.list_activities(session, principal.scope, filters, sort, page)
    return Page.of([schemas.Activity.model_validate(r) for r in window.rows], window, page)


async def get_activity(session: AsyncSession, principal: Principal, activity_id: int) -> Activity:
    return await repository.get_scoped(session, Activity, principal.scope, activity_id, "activity")


async def create_activity(session: AsyncSession, principal: Principal, body: schemas.ActivityCreate) -> Activity:
    tenant_id = principal.tenant_id
    for field, model in (("contact_id", Contact), ("lead_id", Lead), ("deal_id", Deal)):
        record_id = getattr(body, field)
        if record_id is not None:
            await repository.get_referenced(session, model, principal.scope, record_id, field)
    activity = Activity(tenant_id=tenant_id, **body.model_dump())
    if activity.status == "done":
        activity.completed_at = utcnow()
    session.add(activity)
    await session.flush()
    await _audit(session, principal, "activity.created", activity, None)
    return activity


def _set_status(activity: Activity, status: str) -> None:
    activity.status = status
    activity.completed_at = (activity.completed_at or utcnow()) if status == "done" else None


async def update_activity(session: AsyncSession, principal: Principal, activity_id: int,
                          body: schemas.ActivityUpdate) -> Activity:
    activity = await get_activity(session, principal, activity_id)
    before = audit.snapshot(activity)
    changes = body.changes()
    status = changes.pop("status", None)
    changed = bool(_apply(activity, changes))
    if status is not None and status != activity.status:
        _set_status(activity, status)
        changed = True
    if changed:
        await session.flush()
        await _audit(session, principal, "activity.updated", activity, before)
    return activity


async def complete_activity(session: AsyncSession, principal: Principal, activity_id: int) -> Activity:
    """Mark a task done. Completing a done task again is harmless; a note or a cancelled task is a 409."""
    activity = await get_activity(session, principal, activity_id)
    if activity.kind != "task":
        raise Conflict(f"Activity {activity.id} is a {activity.kind}; only tasks can be completed.")
    if activity.status == "cancelled":
        raise Conflict(f"Task {activity.id} is cancelled; reopen it (PATCH status=open) before completing it.")
    if activity.status == "done":
        return activity
    before = audit.snapshot(activity)
    _set_status(activity, "done")
    await session.flush()
    await _audit(session, principal, "activity.completed", activity, before)
    return activity
