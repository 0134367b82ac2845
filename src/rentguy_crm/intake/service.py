"""The one intake pipeline behind every lead route: replay checks, dedupe, store, assign, emit `lead.created`.

Normalisation and captcha happen before the transaction (the captcha is a network call); everything that
writes happens in one transaction, so a lead that got a 2xx is stored once with its event (and the runs the
event creates).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import null
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.engine import dispatch
from rentguy_crm.automation.runs import queue
from rentguy_crm.automation.runs import service as runs_service
from rentguy_crm.automation.workflows.definitions import WorkflowDefinition
from rentguy_crm.crm import assignment
from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.db import utcnow
from rentguy_crm.errors import Conflict
from rentguy_crm.events import service as events
from rentguy_crm.intake import repository
from rentguy_crm.intake.models import IdempotencyRecord
from rentguy_crm.intake.normalise import NormalisedLead, require_identity
from rentguy_crm.intake.repository import IntakeTenant
from rentguy_crm.intake.schemas import LeadCaptured
from rentguy_crm.kit import clock

IDEMPOTENCY_TTL = dt.timedelta(hours=24)


@dataclass
class IntakeRequest:
    """Everything about one submission besides its fields: who, from where, and how to recognise a retry."""

    tenant: IntakeTenant
    route: str  # public, server or typeform: also the idempotency scope
    client_ip: str
    user_agent: str | None
    request_hash: str
    idempotency_key: str | None = None
    flags: list[str] = field(default_factory=list)
    spam: bool = False
    # The Idempotency-Key was last used by a submission stored as spam: this clean one takes the key over.
    supersedes_spam_key: bool = False


@dataclass
class CaptureResult:
    status_code: int
    body: dict[str, Any]
    outcome: str  # created, duplicate, spam (metrics label)
    replayed: bool = False


def request_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def _answer(lead: Lead, *, duplicate: bool, automation: bool, spam: bool = False) -> dict[str, Any]:
    # A spam lead is answered exactly like a real one so a bot learns nothing.
    status = "new" if spam else lead.status
    return LeadCaptured(lead_id=lead.id, contact_id=lead.contact_id, status=status, duplicate=duplicate,
                        automation_triggered=automation).model_dump()


async def find_replay(session: AsyncSession, req: IntakeRequest, lead: NormalisedLead) -> CaptureResult | None:
    """A response owed to an earlier identical request (idempotency key, or the double-click window).

    A clean submission is never answered with a lead stored as spam: the honeypot (or staff) judged that
    one, not this one.
    """
    now = clock.now()
    if req.idempotency_key:
        record = await repository.idempotency_record(session, req.tenant.id, req.route, req.idempotency_key, now)
        if record is not None:
            if record.request_hash != req.request_hash:
                if not req.spam and await repository.is_spam_lead(session, req.tenant.id,
                                                                  record.response.get("lead_id")):
                    req.supersedes_spam_key = True
                    return None
                raise Conflict(
                    "This Idempotency-Key was already used with a different body. Use a new key for a new "
                    "submission.")
            return CaptureResult(record.status_code, record.response, "duplicate", replayed=True)
        return None
    window = req.tenant.config.intake.double_click_window_seconds
    if window and not lead.external_id:
        first = await repository.recent_submission(session, req.tenant.id, lead.fingerprint(req.tenant.id),
                                                   now - dt.timedelta(seconds=window), spam=req.spam)
        if first is not None:
            automation = await repository.has_automation_runs(session, first.id)
            return CaptureResult(200, _answer(first, duplicate=True, automation=automation, spam=req.spam),
                                 "duplicate", replayed=True)
    return None


async def _contact(session: AsyncSession, req: IntakeRequest, lead: NormalisedLead,
                   known: bool = False) -> tuple[Contact, bool]:
    """The tenant's one contact for this e-mail (or phone without e-mail), created if new.

    Concurrent first submissions of one person meet on the partial unique indexes: the insert of all but one
    does nothing, and they read (and lock) the winner's row instead. `known`: the caller's own insert just
    found the contact exists, so go straight to reading it.

    A clean submission treats a contact that only spam submissions made as new: it takes this submission's
    details, so a bot that used someone's address cannot name them or give consent for them.
    """
    tenant_id = req.tenant.id
    if not known:
        created = await repository.insert_contact_if_new(session, {
            "tenant_id": tenant_id, "first_name": lead.first_name, "last_name": lead.last_name,
            "email": lead.email, "phone": lead.phone})
        if created is not None:
            return created, True
    existing = await repository.contact_for(session, tenant_id, lead.email, lead.phone, lock=True)
    if existing is None:  # the row we collided with was rolled back meanwhile: let the caller retry
        raise IntegrityError("contact vanished after a conflicting insert", None, Exception("retry"))
    if not req.spam and await repository.contact_made_by_spam_only(session, tenant_id, existing.id):
        if lead.first_name or lead.last_name:  # an update by external_id may send no name at all
            existing.first_name, existing.last_name = lead.first_name, lead.last_name
        existing.phone = lead.phone or existing.phone
        existing.marketing_opt_in = False
        if existing.consent is not None:
            existing.consent = null()  # SQL NULL like a new contact's, not a JSON null
        return existing, True
    return existing, False


def _consent(req: IntakeRequest, lead: NormalisedLead, now: dt.datetime) -> dict[str, Any]:
    return {
        "marketing_opt_in": True,
        "text_version": lead.consent_text_version or req.tenant.config.intake.consent_text_version,
        "at": now.isoformat(),
        "ip": req.client_ip,
        "user_agent": (req.user_agent or "")[:500] or None,
        "source": lead.source,
    }


def _record_consent(contact: Contact, req: IntakeRequest, lead: NormalisedLead, now: dt.datetime) -> None:
    if not lead.marketing_opt_in or req.spam:  # a bot's tick is nobody's consent
        return
    contact.marketing_opt_in = True
    contact.consent = _consent(req, lead, now)


async def _run_plan(session: AsyncSession,
                    req: IntakeRequest) -> list[tuple[dispatch.CurrentWorkflow, WorkflowDefinition]] | None:
    """The workflows `lead.created` starts for this tenant when the event type alone decides that (spam starts
    none). None: a trigger condition reads the stored lead, so the one-statement store cannot be used."""
    if req.spam:
        return []
    return dispatch.unconditional_matches(await dispatch.cached_workflows(session, req.tenant.id), "lead.created")


async def _store_new_person(session: AsyncSession, req: IntakeRequest, lead: NormalisedLead, now: dt.datetime,
                            plan: list[tuple[dispatch.CurrentWorkflow, WorkflowDefinition]]) -> CaptureResult | None:
    """Postgres, a person the tenant does not know yet: contact, lead, `lead.created` and the runs it starts
    (`plan`) in one statement (see `repository.store_new_contact_lead`). None: the contact exists and nothing
    was written; the caller takes the known-contact path."""
    stamp = utcnow()
    contact = {"tenant_id": req.tenant.id, "first_name": lead.first_name, "last_name": lead.last_name,
               "email": lead.email, "phone": lead.phone, "company": None, "owner": None,
               "marketing_opt_in": bool(lead.marketing_opt_in) and not req.spam, "created_at": stamp,
               "updated_at": stamp}
    if contact["marketing_opt_in"]:  # left out otherwise: SQL NULL like the ORM path, not a JSON null
        contact["consent"] = _consent(req, lead, now)
    flags = sorted(set(req.flags) | ({"spam"} if req.spam else set()))
    values = _lead_values(req, lead)
    lead_row = {"tenant_id": req.tenant.id, "external_id": lead.external_id, "status": "spam" if req.spam else "new",
                "flags": flags, "submission_hash": lead.fingerprint(req.tenant.id), "owner": None,
                "created_at": stamp, "updated_at": stamp, **values}
    event: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = []
    if not req.spam:
        rule_pipeline = req.tenant.config.assignment.for_event_type(lead.event_type).pipeline
        pipeline = rule_pipeline or req.tenant.config.pipeline_for_event_type(lead.event_type).key
        event = {"tenant_id": req.tenant.id, "type": "lead.created", "subject_type": "lead", "occurred_at": stamp,
                 "processed_at": None,
                 "payload": {"event_type": lead.event_type, "priority": values["priority"], "team": values["team"],
                             "pipeline": pipeline, "source": lead.source, "flags": flags, "new_contact": True}}
        # Every column is given: a column left to its Python-side default would become a bind parameter named
        # after the column in each run's INSERT, and two runs in one statement would then clash.
        # The dedupe key ends in the event's (or the lead's) id, which the statement itself assigns.
        runs = [runs_service.run_values(w, d, "lead.created", "lead", stamp)
                | {"deal_id": None, "created_at": stamp, "updated_at": stamp,
                   "dedupe_key": dispatch.dedupe_prefix(w.key, d, "lead")} for w, d in plan]
    stored = await repository.store_new_contact_lead(session, contact, lead_row, event, runs,
                                                     queue.NOTIFY_CHANNEL)
    if stored is None:
        return None
    if runs:
        queue.runs_written(session)
    outcome = "spam" if req.spam else "created"
    body = LeadCaptured(lead_id=stored.lead_id, contact_id=stored.contact_id, status="new", duplicate=False,
                        automation_triggered=bool(runs)).model_dump()
    return CaptureResult(201, body, outcome)


def _fill_contact(contact: Contact, req: IntakeRequest, lead: NormalisedLead) -> None:
    """A known contact keeps what it has; empty fields are filled from the new submission (never from spam).
    Nothing is ever cleared: a submission without a phone leaves the contact's phone alone."""
    if req.spam:
        return
    if not contact.first_name and lead.first_name:
        contact.first_name = lead.first_name
    if not contact.last_name and lead.last_name:
        contact.last_name = lead.last_name
    if not contact.phone and lead.phone:
        contact.phone = lead.phone


def _lead_values(req: IntakeRequest, lead: NormalisedLead) -> dict[str, Any]:
    rule = req.tenant.config.assignment.for_event_type(lead.event_type)
    return {
        "source": lead.source, "event_type": lead.event_type, "event_date": lead.event_date,
        "guests": lead.guests, "venue": lead.venue, "city": lead.city, "budget": lead.budget,
        "message": lead.message, "priority": rule.priority, "team": rule.team, "utm": lead.utm,
    }


async def capture(session: AsyncSession, req: IntakeRequest, lead: NormalisedLead) -> CaptureResult:
    """Store one submission (or answer a replay). Flushes, never commits: the caller owns the transaction."""
    await repository.take_write_lock(session)
    now = clock.now()
    spam_lead: Lead | None = None  # a lead stored as spam under this external_id, which this clean post replaces
    if lead.external_id:
        previous = await repository.lead_by_external_id(session, req.tenant.id, lead.external_id)
        if previous is not None and (previous.status != "spam" or req.spam):
            result = await _update_external(session, req, lead, previous, now)
            await _remember(session, req, result, now)
            return result
        spam_lead = previous
        require_identity(lead)
    if req.idempotency_key:
        # A concurrent request with the same key gets past this too, but only one can store the key's
        # record: the other's transaction fails on the unique index and is retried into a replay.
        replay = await find_replay(session, req, lead)
        if replay is not None:
            return replay
    tried_one_statement = False
    if spam_lead is None and session.get_bind().dialect.name == "postgresql":
        plan = await _run_plan(session, req)
        if plan is not None:
            tried_one_statement = True
            stored = await _store_new_person(session, req, lead, now, plan)
            if stored is not None:
                await _remember(session, req, stored, now)
                return stored
    # SQLite, a known contact, or trigger conditions that read the stored lead: step by step.
    contact, new_contact = await _contact(session, req, lead, known=tried_one_statement)
    if not new_contact:
        _fill_contact(contact, req, lead)
        if not req.idempotency_key:
            # Double click: only a known contact can have an identical earlier lead. The contact row is
            # locked now, so two identical clicks in flight make one lead.
            replay = await find_replay(session, req, lead)
            if replay is not None:
                return replay
    _record_consent(contact, req, lead, now)
    values = _lead_values(req, lead)
    flags = sorted(set(req.flags) | ({"spam"} if req.spam else set()))
    fields = {"contact_id": contact.id, "external_id": lead.external_id, "status": "spam" if req.spam else "new",
              "flags": flags, "submission_hash": lead.fingerprint(req.tenant.id), **values}
    if spam_lead is not None:
        # The external_id is taken by a lead the honeypot judged; this clean post makes it the real lead.
        new = spam_lead
        for name, value in fields.items():
            setattr(new, name, value)
    else:
        new = Lead(tenant_id=req.tenant.id, **fields)
        session.add(new)
    await session.flush()
    automation = False
    if not req.spam:
        rule_pipeline = req.tenant.config.assignment.for_event_type(lead.event_type).pipeline
        pipeline = rule_pipeline or req.tenant.config.pipeline_for_event_type(lead.event_type).key
        _event, runs = await events.emit_with_runs(
            session, req.tenant.id, "lead.created", subject_type="lead", subject_id=new.id, payload={
                "lead_id": new.id, "contact_id": contact.id, "event_type": lead.event_type,
                "priority": new.priority, "team": new.team, "pipeline": pipeline, "source": lead.source,
                "flags": flags, "new_contact": new_contact,
            })
        automation = bool(runs)
    outcome = "spam" if req.spam else ("created" if new_contact else "duplicate")
    result = CaptureResult(201, _answer(new, duplicate=not new_contact, automation=automation, spam=req.spam),
                           outcome)
    await _remember(session, req, result, now)
    return result


async def _update_external(session: AsyncSession, req: IntakeRequest, lead: NormalisedLead, previous: Lead,
                           now: dt.datetime) -> CaptureResult:
    """The website backend re-posted a lead it already sent (`external_id`): the fields it sent change, the
    others keep their values; priority and team follow a changed event type. `lead.updated` is emitted when
    something changed. A spam re-post changes nothing and is answered like a success."""
    if req.spam:
        automation = await repository.has_automation_runs(session, previous.id)
        return CaptureResult(200, _answer(previous, duplicate=True, automation=automation, spam=True), "spam")
    if lead.email or lead.phone:  # the person may be another contact now (or a new one)
        contact, _new = await _contact(session, req, lead)
    else:
        contact = await repository.contact_by_id(session, req.tenant.id, previous.contact_id, lock=True)
    _fill_contact(contact, req, lead)
    _record_consent(contact, req, lead, now)
    before_event_type = previous.event_type
    changed = {name: value for name, value in lead.sent_lead_values(previous.utm or {}).items()
               if getattr(previous, name) != value}
    if previous.contact_id != contact.id:
        changed["contact_id"] = contact.id
    for name, value in changed.items():
        setattr(previous, name, value)
    changed |= assignment.follow_event_type(previous, before_event_type, req.tenant.config.assignment)
    runs: list[Any] = []
    if changed:
        await session.flush()
        _event, runs = await events.emit_with_runs(
            session, req.tenant.id, "lead.updated", subject_type="lead", subject_id=previous.id,
            payload={"lead_id": previous.id, "contact_id": contact.id, "source": previous.source,
                     "changed": sorted(changed)})
    # The lead's earlier runs count too (its `lead.created` may have started them).
    automation = bool(runs) or await repository.has_automation_runs(session, previous.id)
    return CaptureResult(200, _answer(previous, duplicate=True, automation=automation), "duplicate")


async def _remember(session: AsyncSession, req: IntakeRequest, result: CaptureResult, now: dt.datetime) -> None:
    if not req.idempotency_key:
        return
    if req.supersedes_spam_key:
        await repository.forget_idempotency_record(session, req.tenant.id, req.route, req.idempotency_key)
    session.add(IdempotencyRecord(tenant_id=req.tenant.id, scope=req.route, key=req.idempotency_key,
                                  request_hash=req.request_hash, status_code=result.status_code,
                                  response=result.body, created_at=now, expires_at=now + IDEMPOTENCY_TTL))
    await session.flush()
