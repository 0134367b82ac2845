"""The support outbox: vendor escalations and team notifications written with the ticket, delivered with retries.

`enqueue` writes a `Dispatch` in the caller's transaction (once per `dedupe_key`). `deliver_due`, run every minute
by the `support.dispatch` scheduled job, performs the due ones in order: a vendor that is down is retried with
exponential backoff (honouring Retry-After) up to `MAX_ATTEMPTS`, then the dispatch is `dead` and the ticket
says so; a capability that is not configured ends `skipped` with a note on the ticket, and never blocks it.
Vendor actions of one ticket go in order (a bridge is archived only after it was opened).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import job_scope
from rentguy_crm.automation.engine.step_registry import Channels
from rentguy_crm.errors import Conflict, NotFound
from rentguy_crm.integrations.base import ChannelNotConfigured, EmailMessage, PermanentDeliveryError
from rentguy_crm.integrations.escalation import Escalation, escalation_for
from rentguy_crm.integrations.registry import build_channels, channels_config
from rentguy_crm.kit import clock
from rentguy_crm.support import repository
from rentguy_crm.support.models import Dispatch, Ticket, TimelineEntry
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants, TenantScope

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_RETRY = dt.timedelta(minutes=30)
SYSTEM = "system:support"

EscalationFactory = Callable[[Tenant], Escalation]
ChannelsFactory = Callable[[Tenant], Awaitable[Channels]]

VENDOR = {"pager": "Opsgenie (pager)", "bridge": "the Slack bridge", "helpdesk": "Freshdesk (help desk)",
          "tracker": "Jira (issue tracker)", "notify": "the team's channel"}


class NotConfigured(Exception):
    """The tenant has no such capability; the dispatch is skipped with this sentence on the ticket."""


class NotYet(Exception):
    """A dispatch waits for an earlier one of the same ticket (e.g. the Freshdesk id is not known yet)."""


def _escalation(tenant: Tenant) -> Escalation:
    return escalation_for(channels_config(tenant))


async def enqueue(session: AsyncSession, ticket: Ticket, action: str, key: str,
                  payload: dict[str, Any]) -> Dispatch | None:
    """Queue `action` for the ticket once per `key` (per ticket); None when it was queued before."""
    dedupe_key = f"{ticket.id}:{key}"
    if await repository.dispatch_exists(session, job_scope(ticket.tenant_id), dedupe_key):
        return None
    row = Dispatch(tenant_id=ticket.tenant_id, ticket_id=ticket.id, action=action, dedupe_key=dedupe_key,
                   payload=payload, status="queued", attempts=0, next_attempt_at=clock.now(), result={})
    session.add(row)
    await session.flush()
    return row


def _note(session: AsyncSession, ticket: Ticket, body: str, **data: Any) -> None:
    session.add(TimelineEntry(tenant_id=ticket.tenant_id, ticket_id=ticket.id, kind="note", author=SYSTEM,
                              body=body, data=data, created_at=clock.now()))


def backoff(attempts: int, retry_after: dt.timedelta | None = None) -> dt.timedelta:
    wait = min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)
    return max(wait, retry_after) if retry_after else wait


async def deliver_due(session: AsyncSession, now: dt.datetime, *,
                      escalation_factory: EscalationFactory = _escalation,
                      channels_factory: ChannelsFactory = build_channels, limit: int = 200) -> dict[str, int]:
    """Perform every due dispatch (all tenants: an operator's job). Returns counts per outcome."""
    rows = await repository.queued_dispatches(session, AllTenants(), limit=limit)
    counts = {"done": 0, "skipped": 0, "retry": 0, "dead": 0}
    blocked: set[int] = set()
    tenants: dict[int, Tenant] = {}
    escalations: dict[int, Escalation] = {}
    channels: dict[int, Channels] = {}
    for row in rows:
        ordered = row.action != "notify"
        if row.next_attempt_at > now:
            if ordered:
                blocked.add(row.ticket_id)
            continue
        if ordered and row.ticket_id in blocked:
            continue
        scope = job_scope(row.tenant_id)
        ticket = await repository.ticket_by_id(session, scope, row.ticket_id)
        if ticket is None:
            continue
        if row.tenant_id not in tenants:
            tenants[row.tenant_id] = await repository.tenant(session, scope)
        tenant = tenants[row.tenant_id]
        row.attempts += 1
        vendor = VENDOR.get(row.action.split(".")[0], row.action)
        try:
            if row.action == "notify":
                if row.tenant_id not in channels:
                    channels[row.tenant_id] = await channels_factory(tenant)
                result = await _notify(channels[row.tenant_id], row)
            else:
                if row.tenant_id not in escalations:
                    escalations[row.tenant_id] = escalation_factory(tenant)
                result = await _perform(session, escalations[row.tenant_id], tenant, ticket, row)
        except (NotConfigured, ChannelNotConfigured) as exc:
            row.status, row.completed_at, row.last_error = "skipped", now, str(exc)[:2000]
            _note(session, ticket, f"{row.action} not sent: {exc}", dispatch_id=row.id, outcome="skipped")
            counts["skipped"] += 1
            continue
        except NotYet as exc:
            row.attempts -= 1
            row.next_attempt_at = now + FIRST_RETRY
            row.last_error = str(exc)
            blocked.add(row.ticket_id)
            continue
        except Exception as exc:
            permanent = isinstance(exc, PermanentDeliveryError)
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning("support_dispatch_failed", dispatch_id=row.id, action=row.action, attempt=row.attempts,
                        permanent=permanent)
            if permanent or row.attempts >= MAX_ATTEMPTS:
                row.status, row.completed_at = "dead", now
                _note(session, ticket, f"{row.action} via {vendor} failed after {row.attempts} attempt(s) and is "
                      f"given up: {row.last_error}. Retry by hand: crm tickets retry-dispatch {row.id}.",
                      dispatch_id=row.id, outcome="dead")
                counts["dead"] += 1
            else:
                retry_after = getattr(exc, "retry_after", None)
                row.next_attempt_at = now + backoff(row.attempts, retry_after)
                if row.attempts == 1:
                    _note(session, ticket, f"{row.action} via {vendor} failed ({row.last_error}); retrying, "
                          "nothing is lost.", dispatch_id=row.id, outcome="retry")
                counts["retry"] += 1
            if ordered:
                blocked.add(row.ticket_id)
            continue
        row.status, row.completed_at, row.last_error, row.result = "done", now, None, result
        counts["done"] += 1
    await session.flush()
    return counts


async def _notify(channels: Channels, row: Dispatch) -> dict[str, Any]:
    payload = row.payload
    key = f"support:dispatch:{row.id}"
    if payload.get("slack_channel") and channels.slack is not None:
        try:
            receipt = await channels.slack.post(payload["text"], target=payload["slack_channel"],
                                                idempotency_key=key)
        except PermanentDeliveryError:
            # A channel without its own webhook: the team's mailbox still hears of it, if it has one.
            if not (payload.get("email") and channels.mailer is not None):
                raise
        else:
            return {"channel": "slack", "target": payload["slack_channel"], "message_id": receipt.message_id}
    if payload.get("email") and channels.mailer is not None:
        receipt = await channels.mailer.send(EmailMessage(to=payload["email"], subject=payload.get("subject", ""),
                                                          text=payload["text"]), idempotency_key=key)
        return {"channel": "email", "message_id": receipt.message_id}
    raise NotConfigured(f"team {payload.get('team')} has no Slack channel or e-mail address this tenant can reach "
                        "(support.teams and channels in the tenant config)")


def _need(capability: Any, name: str, tenant: Tenant) -> Any:
    if capability is None:
        raise NotConfigured(f"{VENDOR[name]} is not configured for tenant {tenant.slug}; the escalation is kept "
                            "on this ticket only (configure it under channels in the tenant config)")
    return capability


async def _perform(session: AsyncSession, escalation: Escalation, tenant: Tenant, ticket: Ticket,
                   row: Dispatch) -> dict[str, Any]:
    p = row.payload
    refs = dict(ticket.vendor_refs or {})
    action = row.action
    if action == "pager.create":
        pager = _need(escalation.pager, "pager", tenant)
        request_id = await pager.create_alert(alias=p["alias"], message=p["message"], description=p["description"],
                                              priority=p["priority"], responders=p["responders"])
        refs.update(pager_alias=p["alias"], pager_request_id=request_id)
        result: dict[str, Any] = {"request_id": request_id}
        if p.get("schedule"):
            try:
                people = await pager.on_call(schedule=p["schedule"])
            except Exception as exc:  # who is on call is a courtesy; the page itself went out
                result["on_call_error"] = str(exc)[:300]
            else:
                on_call = ", ".join(f"{person.name} ({person.contact})" for person in people) or "nobody"
                _note(session, ticket, f"Paged engineering on-call via Opsgenie; on call now: {on_call}",
                      dispatch_id=row.id)
                result["on_call"] = len(people)
        ticket.vendor_refs = refs
        return result
    if action == "pager.close":
        pager = _need(escalation.pager, "pager", tenant)
        if not refs.get("pager_alias"):
            raise NotConfigured("no Opsgenie alert was created for this ticket, so none is closed")
        await pager.close_alert(alias=refs["pager_alias"], note=p["note"])
        return {}
    if action == "bridge.open":
        bridge = _need(escalation.bridge, "bridge", tenant)
        channel_id = await bridge.open_channel(name=p["name"], member_emails=p["member_emails"],
                                               summary=p["summary"], runbook_url=p.get("runbook_url"))
        refs["bridge_channel_id"] = channel_id
        ticket.vendor_refs = refs
        return {"channel_id": channel_id}
    if action == "bridge.archive":
        bridge = _need(escalation.bridge, "bridge", tenant)
        if not refs.get("bridge_channel_id"):
            raise NotConfigured("no Slack bridge channel was opened for this ticket, so none is archived")
        await bridge.archive_channel(channel_id=refs["bridge_channel_id"])
        return {}
    if action == "helpdesk.create":
        helpdesk = _need(escalation.helpdesk, "helpdesk", tenant)
        if not p.get("email"):
            raise NotConfigured("the ticket has no requester e-mail and support.escalation.helpdesk_fallback_email "
                                "is not set")
        freshdesk_id = await helpdesk.create_ticket(subject=p["subject"], description=p["description"],
                                                    email=p["email"], priority=p["priority"], status=p["status"])
        ticket.freshdesk_id = freshdesk_id
        refs["freshdesk_id"] = freshdesk_id
        ticket.vendor_refs = refs
        return {"freshdesk_id": freshdesk_id}
    if action == "helpdesk.update":
        helpdesk = _need(escalation.helpdesk, "helpdesk", tenant)
        if ticket.freshdesk_id is None:
            raise NotYet("the Freshdesk ticket is not created yet")
        await helpdesk.update_ticket(ticket_id=ticket.freshdesk_id, status=p["status"])
        return {}
    if action in ("tracker.retro", "tracker.bug"):
        tracker = _need(escalation.tracker, "tracker", tenant)
        if not p.get("project_key"):
            raise NotConfigured("no Jira project is configured (support.escalation.jira in the tenant config)")
        key = await tracker.create_issue(project_key=p["project_key"], issue_type=p["issue_type"],
                                         summary=p["summary"], description_adf=p["description_adf"],
                                         labels=p["labels"])
        refs["jira_retro_key" if action == "tracker.retro" else "jira_bug_key"] = key
        ticket.vendor_refs = refs
        return {"issue_key": key}
    raise PermanentDeliveryError(f"unknown support dispatch action {action!r}")



async def requeue(session: AsyncSession, scope: TenantScope, dispatch_id: int) -> Dispatch:
    """Put a dead or skipped dispatch of the tenant back in the queue, due now, with its attempts reset."""
    row = await repository.dispatch_by_id(session, scope, dispatch_id)
    if row is None:
        raise NotFound(f"Dispatch {dispatch_id} was not found.")
    if row.status in ("queued", "done"):
        raise Conflict(f"Dispatch {dispatch_id} is {row.status}; only dead or skipped ones are retried.")
    row.status, row.attempts, row.next_attempt_at, row.completed_at = "queued", 0, clock.now(), None
    await session.flush()
    return row
