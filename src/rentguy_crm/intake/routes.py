"""Lead capture routes: the public form and the website backend (Typeform: `webhooks.typeform`). Wiring only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rentguy_crm.intake import http_capture
from rentguy_crm.intake.schemas import LeadCaptured, LeadSubmission, PublicLeadSubmission

router = APIRouter(tags=["lead capture"])

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

