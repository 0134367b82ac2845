"""Screen 2, Leads (`/leads`): the inbox with filters and search (name, e-mail, phone in any notation), assigning
an owner, marking spam or not spam (not spam starts the lead's automation), and the way to the lead's page. The
list is a fragment that reloads when a lead is captured (server-sent events), so a new lead appears unasked."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rentguy_crm.auth import repository as users
from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import repository as crm_records
from rentguy_crm.crm import schemas as crm_schemas
from rentguy_crm.crm import service as crm
from rentguy_crm.crm.models import LEAD_STATUSES
from rentguy_crm.errors import ValidationFailed, field_errors
from rentguy_crm.intake import spam
from rentguy_crm.kit import inputs
from rentguy_crm.kit.pagination import PageParams, page_params
from rentguy_crm.web.access import form_of, require_page
from rentguy_crm.web.rendering import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require_page(Permission.CRM_READ))]
Writer = Annotated[Principal, Depends(require_page(Permission.CRM_WRITE))]
Paging = Annotated[PageParams, Depends(page_params)]
PRIORITIES = ("high", "medium", "normal", "low")
PAGE_SIZE = 25


class LeadFilterForm(BaseModel):
    """The inbox's filter form as the browser sends it: a field left empty filters nothing."""

    model_config = ConfigDict(extra="ignore")

    q: inputs.Text | None = Field(default=None, max_length=200)
    status: crm_schemas.LeadStatus | None = None
    priority: crm_schemas.Priority | None = None
    event_type: inputs.Text | None = Field(default=None, max_length=32)
    team: inputs.Text | None = Field(default=None, max_length=64)
    owner: inputs.Text | None = Field(default=None, max_length=200)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def lead_filters(request: Request) -> crm_schemas.LeadFilters:
    try:
        form = LeadFilterForm.model_validate(dict(request.query_params))
    except ValidationError as exc:
        errors = field_errors(list(exc.errors()))
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors) from None
    return crm_schemas.LeadFilters(status=form.status, priority=form.priority, event_type=form.event_type,
                                   team=form.team, owner=form.owner, search=form.q.strip() if form.q else None)


Filters = Annotated[crm_schemas.LeadFilters, Depends(lead_filters)]


def _query_of(filters: crm_schemas.LeadFilters) -> dict[str, str]:
    values = {"q": filters.search, "status": filters.status, "priority": filters.priority,
              "event_type": filters.event_type, "team": filters.team, "owner": filters.owner}
    return {name: value for name, value in values.items() if value}


@router.get("/leads")
async def inbox(request: Request, principal: Reader, filters: Filters) -> HTMLResponse:
    query = _query_of(filters)
    return render(request, "leads.html", {
        "active": "leads", "filters": filters, "statuses": LEAD_STATUSES, "priorities": PRIORITIES,
        "list_url": "/ui/leads/list" + (f"?{urlencode(query)}" if query else "")})


@router.get("/ui/leads/list")
async def lead_list(request: Request, principal: Reader, session: Session, filters: Filters,
                    paging: Paging) -> HTMLResponse:
    page_size = min(paging.limit, PAGE_SIZE)
    page = await crm.list_leads(session, principal, filters, "-created_at",
                                PageParams(limit=page_size, offset=paging.offset))
    people = await crm_records.contacts_by_ids(session, principal.scope, [lead.contact_id for lead in page.items])
    owners = await users.assignable_emails(session, principal.tenant_id) if principal.can(Permission.CRM_WRITE) else []
    query = _query_of(filters)
    return render(request, "fragments/lead_list.html", {
        "page": page, "people": people, "owners": owners, "query": query, "filtered": bool(query),
        "can_write": principal.can(Permission.CRM_WRITE),
        "previous_offset": max(page.offset - page_size, 0) if page.offset else None,
        "next_offset": page.offset + page_size if page.offset + page_size < page.total else None})


async def _row(request: Request, session: Session, principal: Principal, lead_id: int,
               notice: str | None = None) -> HTMLResponse:
    lead = await crm.get_lead(session, principal, lead_id)
    people = await crm_records.contacts_by_ids(session, principal.scope, [lead.contact_id])
    return render(request, "fragments/lead_row.html", {
        "lead": crm_schemas.Lead.model_validate(lead), "people": people, "notice": notice,
        "owners": await users.assignable_emails(session, principal.tenant_id), "can_write": True})


@router.post("/ui/leads/{lead_id}/assign")
async def assign(request: Request, lead_id: inputs.RecordId, principal: Writer, session: Session) -> HTMLResponse:
    owner = (await form_of(request)).get("owner", "").strip()
    if owner and owner not in await users.assignable_emails(session, principal.tenant_id):
        raise ValidationFailed(f"'{owner[:100]}' is not one of this organisation's active people.",
                               errors=[{"field": "owner", "message": "unknown person"}])
    await crm.update_lead(session, principal, lead_id, crm_schemas.LeadUpdate(owner=owner or None))
    return await _row(request, session, principal, lead_id, "assigned")


@router.post("/ui/leads/{lead_id}/spam")
async def mark_spam(request: Request, lead_id: inputs.RecordId, principal: Writer, session: Session) -> HTMLResponse:
    await spam.mark_spam(session, principal, lead_id)
    return await _row(request, session, principal, lead_id, "marked_spam")


@router.post("/ui/leads/{lead_id}/not-spam")
async def mark_not_spam(request: Request, lead_id: inputs.RecordId, principal: Writer,
                        session: Session) -> HTMLResponse:
    _lead, started = await spam.mark_not_spam(session, principal, lead_id)
    return await _row(request, session, principal, lead_id, "automation_started" if started else "not_spam")
