"""Screen 3, the contact page (`/contacts/{id}`): everything about one person on one timeline — their leads with
the form data, consent and its source; deals; the automation runs of their leads with each step's log; tasks and
notes; tickets they asked or that concern their leads and deals. Another tenant's person is not found."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.automation.runs import service as runs
from rentguy_crm.crm import schemas as crm_schemas
from rentguy_crm.crm import service as crm
from rentguy_crm.kit import inputs
from rentguy_crm.kit.pagination import PageParams
from rentguy_crm.support import repository as support_records
from rentguy_crm.support import service as support
from rentguy_crm.web.access import require_page
from rentguy_crm.web.rendering import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require_page(Permission.CRM_READ))]
SHOWN = PageParams(limit=100, offset=0)  # one person's records; more than this is a data problem, not a page


@dataclass(frozen=True)
class TimelineItem:
    at: dt.datetime
    kind: str      # lead, deal, run, note, task, ticket
    record: Any


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def _leads_of(session: Session, principal: Principal, contact_id: int) -> list[Any]:
    """The person's newest leads, as many as a page shows."""
    return (await crm.list_leads(session, principal, crm_schemas.LeadFilters(contact_id=contact_id), "-created_at",
                                 SHOWN)).items


@router.get("/contacts/{contact_id}")
async def contact_page(request: Request, contact_id: inputs.RecordId, principal: Reader,
                       session: Session) -> HTMLResponse:
    contact = await crm.get_contact(session, principal, contact_id)
    leads = await _leads_of(session, principal, contact.id)
    return render(request, "contact.html", {
        "active": "leads", "contact": contact, "leads": leads,
        "name": f"{contact.first_name} {contact.last_name}".strip() or f"#{contact.id}"})


@router.get("/ui/contacts/{contact_id}/timeline")
async def contact_timeline(request: Request, contact_id: inputs.RecordId, principal: Reader,
                           session: Session) -> HTMLResponse:
    contact = await crm.get_contact(session, principal, contact_id)
    leads = await _leads_of(session, principal, contact.id)
    deals = (await crm.list_deals(session, principal, crm_schemas.DealFilters(contact_id=contact.id),
                                  "-created_at", SHOWN)).items
    activities = (await crm.list_activities(session, principal,
                                            crm_schemas.ActivityFilters(contact_id=contact.id), "-created_at",
                                            SHOWN)).items
    items = [TimelineItem(lead.created_at, "lead", lead) for lead in leads]
    items += [TimelineItem(deal.created_at, "deal", deal) for deal in deals]
    items += [TimelineItem(a.created_at, a.kind, a) for a in activities]
    if principal.can(Permission.AUTOMATION_READ):
        for lead in leads:
            found, _total = await runs.list_runs(session, principal.scope, lead_id=lead.id, limit=SHOWN.limit)
            items += [TimelineItem(run.created_at, "run", runs.run_detail(run)) for run in found]
    if principal.can(Permission.TICKETS_READ):
        tickets = await support_records.tickets_about(session, principal.scope, contact.id,
                                                      [lead.id for lead in leads], [deal.id for deal in deals])
        items += [TimelineItem(t.created_at, "ticket", support.view(t)) for t in tickets]
    items.sort(key=lambda item: _utc(item.at), reverse=True)
    return render(request, "fragments/contact_timeline.html", {"timeline": items})
