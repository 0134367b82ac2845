"""Screen 7, Templates (`/templates`): the tenant's message templates per channel and language; the editor with a
live preview rendered against a real lead or deal (or sample data); the diff of the newest draft against the live
version; publishing; and the clone from the library as a dry-run table before anything is written."""

from __future__ import annotations

from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import repository as crm_records
from rentguy_crm.crm import schemas as crm_schemas
from rentguy_crm.crm import service as crm
from rentguy_crm.errors import ValidationFailed
from rentguy_crm.kit import inputs
from rentguy_crm.kit.pagination import PageParams
from rentguy_crm.templates import cloning, schemas, service
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.web.access import form_of, require_page
from rentguy_crm.web.rendering import PAGE_HEADERS, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require_page(Permission.TEMPLATES_READ))]
Writer = Annotated[Principal, Depends(require_page(Permission.TEMPLATES_WRITE))]
CHANNELS: tuple[str, ...] = get_args(schemas.Channel)
LANGUAGES: tuple[str, ...] = get_args(schemas.Language)
NOTICES = ("saved", "published")
SUBJECT_CHOICES = 20  # the newest leads and deals offered to render the preview against


async def _tenant(session: Session, principal: Principal) -> Tenant:
    tenant = await tenants.by_scope(session, principal.scope)
    assert tenant is not None  # the session's tenant exists while the session lives
    return tenant


def _choice(value: str | None, allowed: tuple[str, ...], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise ValidationFailed(f"{field} must be one of {', '.join(allowed)}; got '{value[:20]}'.",
                               errors=[{"field": field, "message": "unknown value"}])
    return value


@router.get("/templates")
async def templates_page(request: Request, principal: Reader,
                         channel: Annotated[inputs.Text | None, Query(max_length=16)] = None,
                         language: Annotated[inputs.Text | None, Query(max_length=8)] = None) -> HTMLResponse:
    filters = {"channel": _choice(channel, CHANNELS, "channel"), "language": _choice(language, LANGUAGES, "language")}
    query = {name: value for name, value in filters.items() if value}
    return render(request, "message_templates/index.html", {
        "active": "templates", "filters": filters, "channels": CHANNELS, "template_languages": LANGUAGES,
        "can_write": principal.can(Permission.TEMPLATES_WRITE),
        "list_url": "/ui/templates/list" + (f"?{urlencode(query)}" if query else "")})


@router.get("/ui/templates/list")
async def template_list(request: Request, principal: Reader, session: Session,
                        channel: Annotated[inputs.Text | None, Query(max_length=16)] = None,
                        language: Annotated[inputs.Text | None, Query(max_length=8)] = None) -> HTMLResponse:
    channel, language = _choice(channel, CHANNELS, "channel"), _choice(language, LANGUAGES, "language")
    found = await service.list_summaries(session, await _tenant(session, principal), channel=channel,
                                         language=language)
    by_channel: dict[str, list[schemas.TemplateSummary]] = {}
    for summary in found:
        by_channel.setdefault(summary.channel, []).append(summary)
    return render(request, "message_templates/fragments/list.html", {
        "by_channel": by_channel, "filtered": bool(channel or language)})


async def _subjects(session: Session, principal: Principal) -> dict[str, list[tuple[str, str]]]:
    """The newest leads and deals to render a preview against: (value, label) per kind."""
    if not principal.can(Permission.CRM_READ):
        return {"leads": [], "deals": []}
    newest = PageParams(limit=SUBJECT_CHOICES, offset=0)
    leads = (await crm.list_leads(session, principal, crm_schemas.LeadFilters(), "-created_at", newest)).items
    deals = (await crm.list_deals(session, principal, crm_schemas.DealFilters(), "-created_at", newest)).items
    people = await crm_records.contacts_by_ids(session, principal.scope,
                                               [lead.contact_id for lead in leads if lead.contact_id])
    def person(contact_id: int | None) -> str:
        contact = people.get(contact_id) if contact_id else None
        return f"{contact.first_name or ''} {contact.last_name or ''}".strip() if contact else ""

    return {"leads": [(f"lead:{lead.id}", f"#{lead.id} {person(lead.contact_id)} {lead.event_type or ''}".strip())
                      for lead in leads],
            "deals": [(f"deal:{deal.id}", f"#{deal.id} {deal.title}") for deal in deals]}


@router.get("/templates/clone")
async def clone_page(request: Request, principal: Writer) -> HTMLResponse:
    return render(request, "message_templates/clone.html", {"active": "templates"})


@router.get("/templates/{template_id}")
async def editor_page(request: Request, template_id: inputs.RecordId, principal: Reader, session: Session,
                      notice: Annotated[inputs.Text | None, Query(max_length=16)] = None) -> HTMLResponse:
    detail = await service.detail(session, await _tenant(session, principal), template_id)
    drafts = [v for v in detail.versions if v.status == "draft"]
    live = next((v for v in detail.versions if v.status == "live"), None)
    editing = max(drafts, key=lambda v: v.version) if drafts else live or (detail.versions[-1] if detail.versions
                                                                           else None)
    return render(request, "message_templates/editor.html", {
        "active": "templates", "template": detail, "editing": editing, "live": live,
        "notice": notice if notice in NOTICES else None,
        "can_write": principal.can(Permission.TEMPLATES_WRITE), "subjects": await _subjects(session, principal),
        "versions": sorted(detail.versions, key=lambda v: v.version, reverse=True)})


def _preview_request(subject: str) -> schemas.PreviewRequest:
    kind, _, number = subject.partition(":")
    if not subject:
        return schemas.PreviewRequest()
    if kind not in ("lead", "deal") or not number.isdigit() or not 0 < int(number) < 2**31:
        raise ValidationFailed(f"Render against a lead or a deal (lead:12, deal:7); got '{subject[:30]}'.",
                               errors=[{"field": "subject", "message": "not a lead or deal"}])
    return schemas.PreviewRequest(**{f"{kind}_id": int(number)})


def _unsaved(form: dict[str, str]) -> schemas.TemplateUpdate:
    """The editor's fields as a change; bad ones are named the way the API names them."""
    values: dict[str, Any] = {name: form[name] for name in ("subject", "text_body", "html_body") if name in form}
    if "html_body" in values and not values["html_body"].strip():
        values["html_body"] = None
    try:
        return schemas.TemplateUpdate(**values)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "form"
        raise ValidationFailed(f"{field}: {first['msg']}", errors=[{"field": field, "message": first["msg"]}]) from None


@router.post("/ui/templates/versions/{version_id}/preview")
async def preview(request: Request, version_id: inputs.RecordId, principal: Reader, session: Session) -> HTMLResponse:
    form = await form_of(request)
    body = _preview_request(form.get("subject_record", ""))
    rendered = await service.preview(session, await _tenant(session, principal), principal.scope, version_id, body,
                                     unsaved=_unsaved(form))
    return render(request, "message_templates/fragments/preview.html", {"preview": rendered})


def _redirect_to(template_id: int, notice: str) -> Response:
    """After a change the editor reloads (htmx follows HX-Redirect; a plain form follows the 303)."""
    location = f"/templates/{template_id}?{urlencode({'notice': notice})}"
    return Response(status_code=303, headers={**PAGE_HEADERS, "Location": location, "HX-Redirect": location})


@router.post("/ui/templates/versions/{version_id}/save")
async def save(request: Request, version_id: inputs.RecordId, principal: Writer, session: Session) -> Response:
    template, _version = await service.edit(session, await _tenant(session, principal), version_id,
                                            _unsaved(await form_of(request)), principal.name)
    return _redirect_to(template.id, "saved")


@router.post("/ui/templates/versions/{version_id}/publish")
async def publish(request: Request, version_id: inputs.RecordId, principal: Writer, session: Session) -> Response:
    tenant = await _tenant(session, principal)
    version = await service.publish(session, tenant, version_id, principal.name)
    return _redirect_to(version.template_id, "published")


@router.get("/ui/templates/{template_id}/diff")
async def diff(request: Request, template_id: inputs.RecordId, principal: Reader, session: Session) -> HTMLResponse:
    found = await service.diff(session, await _tenant(session, principal), template_id)
    return render(request, "message_templates/fragments/diff.html", {"diff": found})


@router.get("/ui/templates/clone-plan")
async def clone_plan(request: Request, principal: Writer, session: Session) -> HTMLResponse:
    tenant = await _tenant(session, principal)
    report = await cloning.clone(session, tenant.slug, dry_run=True, actor=principal.name)
    return render(request, "message_templates/fragments/clone.html", {"report": report})


@router.post("/ui/templates/clone")
async def clone(request: Request, principal: Writer, session: Session) -> HTMLResponse:
    form = await form_of(request)
    publish_now = form.get("publish", "") == "yes"
    tenant = await _tenant(session, principal)
    report = await cloning.clone(session, tenant.slug, publish=publish_now, force=form.get("force", "") == "yes",
                                 actor=principal.name)
    return render(request, "message_templates/fragments/clone.html", {"report": report})
