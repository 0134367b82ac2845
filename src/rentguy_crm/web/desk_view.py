"""What the ticket screens show beside the ticket itself: the SLA clock counted in the tenant's working time, the
RACI badges of its activity, its runbook as a checklist and the escalation paths the desk offers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as ModelInvalid

from rentguy_crm.errors import ValidationFailed
from rentguy_crm.support import runbooks, schemas
from rentguy_crm.support.working_time import WorkingCalendar, working_time_between
from rentguy_crm.tenants.sections.support import SupportSettings

# The desk's escalation paths are its priorities (support.escalation_paths.on_open): raising or lowering a ticket
# to one of them queues that path's dispatch once per ticket.
ESCALATIONS = (("P1", "Page engineering on-call"), ("P2", "Open an incident bridge"),
               ("P3", "Register in Freshdesk"))
Form = TypeVar("Form", bound=BaseModel)
STATUS_ACTIONS = {"open": "Reopen", "pending": "Wait for the customer", "resolved": "Resolve", "closed": "Close"}


@dataclass(frozen=True)
class SlaClock:
    target: str              # first_response or resolution
    due: dt.datetime
    remaining: dt.timedelta  # working time; negative once breached
    paused: bool             # pending: the clock stands still

    @property
    def breached(self) -> bool:
        return self.remaining < dt.timedelta(0)

    @property
    def words(self) -> str:
        """`3h 20m`, in working time, without the sign."""
        minutes = int(abs(self.remaining).total_seconds() // 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def sla_clock(ticket: schemas.Ticket, calendar: WorkingCalendar, now: dt.datetime) -> SlaClock | None:
    """The target running now (first response until someone replied, then resolution); none once resolved."""
    if ticket.status in ("resolved", "closed"):
        return None
    if ticket.first_responded_at is None and ticket.first_response_due_at is not None:
        target, due = "first_response", ticket.first_response_due_at
    elif ticket.resolution_due_at is not None:
        target, due = "resolution", ticket.resolution_due_at
    else:
        return None
    due = due if due.tzinfo else due.replace(tzinfo=dt.UTC)
    return SlaClock(target, due, working_time_between(calendar, now, due), ticket.status == "pending")


@dataclass(frozen=True)
class RaciBadges:
    responsible: list[str]
    accountable: str | None
    consulted: list[str]
    informed: list[str]


def raci_of(ticket: schemas.Ticket, settings: SupportSettings) -> RaciBadges:
    row = settings.row(ticket.activity)
    return RaciBadges(responsible=ticket.queue, accountable=ticket.accountable_team,
                      consulted=list(row.consulted) if row else [], informed=list(row.informed) if row else [])


@dataclass(frozen=True)
class ChecklistStep:
    step: runbooks.RunbookStep
    ticked: schemas.Tick | None
    command: str | None


def checklist(detail: schemas.TicketDetail, tenant_slug: str) -> tuple[runbooks.Runbook | None, list[ChecklistStep]]:
    if not detail.runbook_key or detail.runbook_key not in runbooks.runbooks():
        return None, []
    book = runbooks.load_runbook(detail.runbook_key)
    ticks = {t.step_number: t for t in detail.runbook_ticks if t.runbook_key == book.key}
    return book, [ChecklistStep(step, ticks.get(step.number), step.command_for(tenant_slug)) for step in book.steps]


def form_model(model: type[Form], fields: dict[str, object]) -> Form:
    """A form's fields as the API's request body: a bad one is a 422 naming the field, as the API would say."""
    try:
        return model.model_validate(fields)
    except ModelInvalid as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "form", "message": e["msg"]}
                  for e in exc.errors()]
        named = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ValidationFailed(f"The form is not filled in right ({named}).", errors=errors) from None
