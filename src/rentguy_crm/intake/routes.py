"""Lead capture routes: the public form, the website backend (Typeform: `webhooks.typeform`), and staff judging a
lead spam or not. Wiring only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm.schemas import Lead
from rentguy_crm.intake import http_capture, spam
from rentguy_crm.intake.schemas import LeadCaptured, LeadSubmission, PublicLeadSubmission
from rentguy_crm.kit import inputs

router = APIRouter(tags=["lead capture"])
Writer = Annotated[Principal, Depends(require(Permission.CRM_WRITE))]
RecordId = Annotated[inputs.RecordId, Path(description="Record id")]

PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/problem+json": {}}} for code, text in {
        400: "captcha missing or rejected", 401: "bad API key or signature", 404: "unknown tenant",
        409: "Idempotency-Key reused with another body", 413: "body too large", 415: "body is not JSON",
        422: "invalid field (named in `errors`)", 429: "rate limited (see Retry-After)",
        503: "captcha verifier unavailable and the tenant fails closed",
    }.items()
}


def _body(model: type[Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


@router.post("/public/leads", status_code=201, response_model=LeadCaptured, responses=PROBLEMS,
             openapi_extra=_body(PublicLeadSubmission), summary="Lead from the website form (no key)")
async def capture_public_lead(request: Request) -> JSONResponse:
    return await http_capture.public_lead(request)


@router.options("/public/leads", status_code=204, include_in_schema=False)
async def preflight_public_lead(request: Request) -> JSONResponse:
    return await http_capture.preflight(request)


@router.post("/leads", status_code=201, response_model=LeadCaptured, responses=PROBLEMS,
             openapi_extra=_body(LeadSubmission), summary="Lead from the website backend (API key, leads:submit)")
async def capture_server_lead(request: Request) -> JSONResponse:
    return await http_capture.server_lead(request)



@router.post("/crm/leads/{lead_id}/spam", response_model=Lead, summary="Mark a lead as spam (crm:write)")
async def mark_spam(lead_id: RecordId, session: Session, principal: Writer) -> object:
    return await spam.mark_spam(session, principal, lead_id)


@router.post("/crm/leads/{lead_id}/not-spam", response_model=Lead,
             summary="A lead taken for spam is real: status new, and its automation starts (lead.created)")
async def mark_not_spam(lead_id: RecordId, session: Session, principal: Writer) -> object:
    lead, _runs = await spam.mark_not_spam(session, principal, lead_id)
    return lead
