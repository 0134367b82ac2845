"""`POST /api/v1/webhooks/typeform/{tenant}`: the Typeform fallback form's signed webhook becomes a lead through
the same capture pipeline as the website's form (`intake.http_capture`)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.errors import NotFound, ValidationFailed
from rentguy_crm.intake import repository, service
from rentguy_crm.intake.http_capture import (
    Outcome,
    Prepared,
    enforce_rate_limit,
    handle,
    parse_json,
    request_ip,
    user_agent,
    validate,
)
from rentguy_crm.intake.normalise import normalise
from rentguy_crm.intake.routes import PROBLEMS
from rentguy_crm.intake.schemas import LeadCaptured, LeadSubmission
from rentguy_crm.intake.service import CaptureResult, IntakeRequest
from rentguy_crm.webhooks.typeform import service as typeform

router = APIRouter(tags=["lead capture"])
log = structlog.get_logger(__name__)

NO_TYPEFORM_HERE = "No Typeform webhook is configured at this address."


async def receive(request: Request, tenant_name: str) -> JSONResponse:
    async def prepare(session: AsyncSession, outcome: Outcome, headers: dict[str, str]) -> Prepared:
        try:
            tenant = await repository.resolve_tenant(session, tenant_name)
        except NotFound:
            log.info("typeform_webhook_not_configured", reason="no tenant")
            raise NotFound(NO_TYPEFORM_HERE) from None
        outcome.tenant = tenant.slug
        settings = tenant.config.intake.typeform
        secret = settings.resolve() if settings is not None else None
        if settings is None or secret is None:
            # The same answer as for an unknown tenant: the caller is anonymous. What to set is for the log.
            where = settings.describe() if settings else "intake.typeform in the tenant config"
            log.warning("typeform_webhook_not_configured", tenant=tenant.slug, missing=where)
            raise NotFound(NO_TYPEFORM_HERE)
        raw = await request.body()
        typeform.check_signature(secret.get_secret_value(), raw, request.headers.get("typeform-signature"))
        await enforce_rate_limit(request, session, tenant, "typeform", None, headers)
        data = await parse_json(request)
        event_id = data.get("event_id")
        if not isinstance(event_id, str) or not event_id or len(event_id) > 200:
            raise ValidationFailed("event_id: missing or not a string",
                                   errors=[{"field": "event_id", "message": "missing or not a string"}])
        if data.get("event_type") != "form_response":
            # Partial responses and future event types are acknowledged so Typeform stops redelivering them.
            ignored = {"ignored": True, "event_type": str(data.get("event_type"))[:100]}
            return Prepared(answer=CaptureResult(200, ignored, "rejected"))
        submission = validate(LeadSubmission, typeform.to_submission(data, settings))
        lead = normalise(submission)
        req = IntakeRequest(tenant=tenant, route="typeform", client_ip=request_ip(request),
                            user_agent=user_agent(request),
                            request_hash=service.request_hash(data), idempotency_key=event_id)
        return Prepared(req, lead)

    return await handle(request, "typeform", prepare)


@router.post("/webhooks/typeform/{tenant}", status_code=201, response_model=LeadCaptured, responses=PROBLEMS,
             summary="Typeform fallback form webhook (signed)")
async def typeform_webhook(tenant: str, request: Request) -> JSONResponse:
    return await receive(request, tenant)
