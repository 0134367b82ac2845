"""Privacy and data-correction API: wiring only (docs/privacy.md).

Merge, import and CSV export: permission `data:correct` (operations, admin). Access export, erasure and
retention: `privacy:manage` (admin). The policy: `crm:read`. Unsubscribe: public, by signed token."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.config import get_settings
from rentguy_crm.crm import optout
from rentguy_crm.crm import schemas as crm_schemas
from rentguy_crm.errors import NotFound
from rentguy_crm.kit import inputs
from rentguy_crm.kit.clientip import request_client_ip
from rentguy_crm.privacy import access, erasure, export, imports, merge, retention
from rentguy_crm.privacy import schemas as s
from rentguy_crm.privacy.repository import PersonQuery
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant

router = APIRouter(tags=["privacy"])
public_router = APIRouter(tags=["privacy"])

Corrector = Annotated[Principal, Depends(require(Permission.DATA_CORRECT))]
PrivacyAdmin = Annotated[Principal, Depends(require(Permission.PRIVACY_MANAGE))]
Reader = Annotated[Principal, Depends(require(Permission.CRM_READ))]
RecordId = Annotated[inputs.RecordId, Path(description="Record id")]
Kind = Annotated[str, Path(pattern="^(contacts|leads)$", description="contacts or leads")]
Token = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9._-]+$", description="The link's signed token")]


def _outbox(principal: Principal) -> object:
    return get_settings().var_dir / "outbox" / principal.tenant_slug


async def _tenant(session: Session, principal: Principal) -> Tenant:
    tenant = await tenants.by_scope(session, principal.scope)
    if tenant is None:
        raise NotFound("The key's tenant no longer exists.")
    return tenant


@router.post("/crm/contacts/{contact_id}/merge", response_model=s.MergeAnswer,
             summary="Merge another contact into this one (dry_run shows what would move)")
async def merge_contacts(contact_id: RecordId, body: s.MergeRequest, session: Session,
                         principal: Corrector) -> object:
    plan = await merge.merge_contacts(session, principal, contact_id, body.other_id, reason=body.reason,
                                      prefer={str(k): v for k, v in body.prefer.items()}, dry_run=body.dry_run)
    return plan.as_dict()


@router.get("/crm/contacts/export.csv", summary="Contacts as CSV (the import's columns), filtered like the list",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_contacts(session: Session, principal: Corrector,
                          filters: crm_schemas.ContactFilters = Depends(crm_schemas.contact_filters)) -> Response:
    text = "".join([line async for line in export.contact_lines(session, principal.scope, filters)])
    await export.audit_export(session, principal, "contacts", text)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="contacts.csv"'})


@router.get("/crm/leads/export.csv", summary="Leads as CSV (the import's columns), filtered like the list",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_leads(session: Session, principal: Corrector,
                       filters: crm_schemas.LeadFilters = Depends(crm_schemas.lead_filters)) -> Response:
    text = "".join([line async for line in export.lead_lines(session, principal.scope, filters)])
    await export.audit_export(session, principal, "leads", text)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="leads.csv"'})


@router.post("/crm/import/{kind}", response_model=s.ImportAnswer,
             summary="Import contacts or leads from CSV text (row-by-row report; dry_run changes nothing)")
async def import_rows(kind: Kind, body: s.ImportRequest, session: Session, principal: Corrector) -> object:
    tenant = await _tenant(session, principal)
    report = await imports.import_csv(session, principal, tenant, kind, body.csv.encode("utf-8"),
                                      file_name=body.file_name, mapping=body.mapping, dry_run=body.dry_run,
                                      start_automations=body.start_automations)
    return report.as_dict()


@router.post("/privacy/access-export", summary="GDPR art. 15: a ZIP of everything stored about a person",
             response_class=Response, responses={200: {"content": {"application/zip": {}}}})
async def access_export(body: s.AccessRequest, session: Session, principal: PrivacyAdmin) -> Response:
    query = PersonQuery.of(body.email, body.phone, body.contact_id)
    data, _counts = await access.access_export(session, principal, query, outbox=_outbox(principal),  # type: ignore[arg-type]
                                               request_ref=body.request)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="access-request.zip"'})


@router.post("/privacy/erase", response_model=s.ErasureAnswer,
             summary="GDPR art. 17: erase a person's data everywhere (dry_run counts only)")
async def erase(body: s.ErasureRequest, session: Session, principal: PrivacyAdmin) -> object:
    query = PersonQuery.of(body.email, body.phone, body.contact_id)
    report = await erasure.erase(session, principal, query, request_ref=body.request,
                                 outbox=_outbox(principal), dry_run=body.dry_run)  # type: ignore[arg-type]
    return report.as_dict()


@router.post("/privacy/retention", response_model=s.RetentionAnswer,
             summary="Anonymise leads without a deal past the retention period (dry_run counts only)")
async def run_retention(body: s.RetentionRequest, session: Session, principal: PrivacyAdmin) -> object:
    from rentguy_crm.kit import clock

    tenant = await _tenant(session, principal)
    report = await retention.apply_retention(session, tenant, clock.now(), outbox=_outbox(principal),  # type: ignore[arg-type]
                                             dry_run=body.dry_run, actor=principal.actor)
    return report.as_dict()


@router.get("/privacy/policy", summary="The tenant's privacy policy as the suite applies it")
async def privacy_policy(session: Session, principal: Reader) -> dict[str, object]:
    return retention.policy(await _tenant(session, principal))


_PAGE = """<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:36em;margin:3em auto">{body}</body></html>"""


@public_router.get("/unsubscribe/{token}", response_class=HTMLResponse,
                   summary="Unsubscribe page: a button that posts the opt-out (a GET changes nothing)")
async def unsubscribe_page(token: Token) -> HTMLResponse:
    optout.parse_token(token)  # a link that is not ours is a 404 here already
    body = (f'<h1>Afmelden voor marketing / Unsubscribe</h1>'
            f'<p>Wilt u geen marketingberichten meer ontvangen? / No more marketing messages?</p>'
            f'<form method="post" action="{escape(token)}"><input type="hidden" name="List-Unsubscribe" '
            f'value="One-Click"><button type="submit">Afmelden / Unsubscribe</button></form>')
    return HTMLResponse(_PAGE.format(title="Afmelden", body=body))


@public_router.post("/unsubscribe/{token}", response_class=HTMLResponse,
                    summary="One-click unsubscribe (RFC 8058): records the objection to marketing")
async def unsubscribe(token: Token, request: Request, session: Session) -> HTMLResponse:
    await optout.record_optout(session, token, ip=request_client_ip(request, get_settings().trusted_proxies),
                               user_agent=request.headers.get("user-agent"))
    body = "<h1>Afgemeld / Unsubscribed</h1><p>U ontvangt geen marketingberichten meer. / No more marketing.</p>"
    return HTMLResponse(_PAGE.format(title="Afgemeld", body=body))
