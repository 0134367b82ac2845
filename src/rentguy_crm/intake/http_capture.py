"""HTTP side of lead capture shared by the lead routes and the form-vendor webhooks (`webhooks.typeform`):
parsing, tenant, CORS, rate limits, captcha, retries, metrics. The routes stay wiring; the pipeline itself is
`intake.service`."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.dependencies import get_principal
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.db import Database
from rentguy_crm.errors import (
    AppError,
    BadRequest,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    ValidationFailed,
    field_errors,
)
from rentguy_crm.intake import repository, service
from rentguy_crm.intake.normalise import NormalisedLead, normalise
from rentguy_crm.intake.repository import IntakeTenant
from rentguy_crm.intake.schemas import LeadSubmission, PublicLeadSubmission
from rentguy_crm.intake.service import CaptureResult, IntakeRequest
from rentguy_crm.intake.tally import tally
from rentguy_crm.integrations.captcha.client import CaptchaVerdict, verify
from rentguy_crm.kit.clientip import request_client_ip
from rentguy_crm.kit.ttl_cache import Missing, TtlCache
from rentguy_crm.observability.metrics import lead_capture_duration_seconds, lead_capture_requests_total
from rentguy_crm.ratelimit import service as ratelimits
from rentguy_crm.ratelimit.limiter import Limiter, RateDecision
from rentguy_crm.ratelimit.profiles import limits_for

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
log = structlog.get_logger(__name__)

EXPOSED_HEADERS = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-ID"
MAX_TRANSACTION_ATTEMPTS = 8


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def limiter_for(request: Request) -> Limiter:
    limiter: Limiter | None = getattr(request.app.state, "limiter", None)
    if limiter is None:
        limiter = Limiter(request.app.state.settings.ratelimit_storage_url)
        request.app.state.limiter = limiter
    return limiter


def request_ip(request: Request) -> str:
    return request_client_ip(request, request.app.state.settings.trusted_proxies)


def user_agent(request: Request) -> str | None:
    """The User-Agent as stored with the lead's consent record: storable text, bounded."""
    value = request.headers.get("user-agent")
    return value.replace("\x00", "")[:500] if value else None


class Outcome:
    """Times a capture request and counts its outcome in Prometheus and the shared per-minute tally."""

    def __init__(self, request: Request, route: str) -> None:
        self.request, self.route = request, route
        self._tenant = "unknown"
        self.started = time.perf_counter()

    @property
    def tenant(self) -> str:
        return self._tenant

    @tenant.setter
    def tenant(self, slug: str) -> None:
        self._tenant = slug
        self.request.state.tenant = slug  # for the access log line

    def finish(self, outcome: str) -> None:
        lead_capture_requests_total.labels(tenant=self.tenant, route=self.route, outcome=outcome).inc()
        lead_capture_duration_seconds.labels(tenant=self.tenant, route=self.route).observe(
            time.perf_counter() - self.started)
        tally.record(_db(self.request), self.tenant, self.route, outcome)


# Lead capture routes by path, for requests refused before they reach a handler (body too large, not JSON).
_ROUTE_OF_PATH = {"/api/v1/public/leads": "public", "/api/v1/leads": "server"}
_TYPEFORM_PREFIX = "/api/v1/webhooks/typeform/"


def count_refused(db: Database | None, path: str) -> None:
    """A lead post the body middleware refused is bad input: counted as rejected, like any other 4xx."""
    route = _ROUTE_OF_PATH.get(path) or ("typeform" if path.startswith(_TYPEFORM_PREFIX) else None)
    if route is None:
        return
    lead_capture_requests_total.labels(tenant="unknown", route=route, outcome="rejected").inc()
    tally.record(db, "unknown", route, "rejected")


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, TooManyRequests):
        return "rate_limited"
    if isinstance(exc, AppError) and exc.status < 500:
        return "rejected"
    return "error"


async def parse_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # depth is bounded by BodyLimitMiddleware first
        errors = [{"field": "body", "message": "not valid JSON", "type": "json_invalid"}]
        raise ValidationFailed("The request body is not valid JSON.", errors=errors) from None
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.",
                               errors=[{"field": "body", "message": "must be a JSON object", "type": "type_error"}])
    return data


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(list(exc.errors(include_url=False, include_input=False)))
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), errors=errors) from None


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200 or not key.isprintable():
        raise ValidationFailed("Idempotency-Key must be 1 to 200 printable characters.",
                               errors=[{"field": "Idempotency-Key", "message": "1 to 200 printable characters"}])
    return key


# --- CORS for the browser route ---------------------------------------------------------------------------------

def cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Expose-Headers": EXPOSED_HEADERS}


def origin_refused(origin: str) -> Forbidden:
    return Forbidden(f"Origin '{origin[:200]}' may not post leads for this tenant.", headers={"Vary": "Origin"})


def check_origin(request: Request, tenant: IntakeTenant, headers: dict[str, str]) -> None:
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a browser cross-origin request (server, curl): CORS does not apply
    if origin not in tenant.config.intake.allowed_origins:
        raise origin_refused(origin)
    headers.update(cors_headers(origin))


# Every origin any tenant allows, under one key.
_origins: TtlCache[str, frozenset[str]] = TtlCache("intake allowed origins", repository.TENANT_CACHE_SECONDS)


async def allowed_origins(db: Database) -> frozenset[str]:
    """Every origin any tenant allows (a preflight carries no body, so no tenant yet). Cached briefly."""
    hit = _origins.get("*")
    if isinstance(hit, Missing):
        async with db.session() as session:
            hit = _origins.put("*", await repository.allowed_origins(session))
    return hit


async def preflight(request: Request) -> JSONResponse:
    origin = request.headers.get("origin", "")
    if not origin or origin not in await allowed_origins(_db(request)):
        raise Forbidden(f"Origin '{origin[:200]}' is not allowed to post leads here.", headers={"Vary": "Origin"})
    headers = cors_headers(origin) | {
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Idempotency-Key, X-Request-ID",
        "Access-Control-Max-Age": "600",
    }
    return JSONResponse(None, status_code=204, headers=headers)


# --- limits, captcha, transaction ---------------------------------------------------------------------------------

async def enforce_rate_limit(request: Request, session: AsyncSession, tenant: IntakeTenant, route: str,
                             ip: str | None, headers: dict[str, str]) -> None:
    """Count the request against the tenant's effective profile: per client IP (browser route) and per tenant."""
    profile = await ratelimits.cached_profile(session, tenant.tenant, tenant.config.rate_limit.default_profile)
    limits = limits_for(profile.profile, tenant.config.rate_limit)
    checks: list[tuple[RateLimitItem, tuple[str, ...]]] = (
        [(item, ("lead", tenant.slug, "ip", ip)) for item in limits.per_ip] if ip else [])
    checks += [(item, ("lead", tenant.slug, "tenant")) for item in limits.per_tenant]
    decision: RateDecision | None = await limiter_for(request).hit(checks)
    if decision is None:
        return
    headers.update(decision.headers())
    if not decision.allowed:
        raise TooManyRequests(
            f"Too many lead submissions; try again in {max(decision.reset_seconds, 1)} seconds.",
            headers=dict(headers))


async def check_captcha(tenant: IntakeTenant, submission: LeadSubmission, ip: str, req: IntakeRequest) -> None:
    settings = tenant.config.intake.captcha
    if settings is None:
        return
    if not submission.captcha_token:
        raise BadRequest("captcha_token is required for this form.",
                         errors=[{"field": "captcha_token", "message": "required"}])
    verdict = await verify(settings, submission.captcha_token, ip)
    if verdict is CaptchaVerdict.REJECTED:
        raise BadRequest("The captcha was not solved; please try again.",
                         errors=[{"field": "captcha_token", "message": "rejected by the verifier"}])
    if verdict is CaptchaVerdict.UNAVAILABLE:
        if settings.policy == "fail_closed":
            raise ServiceUnavailable("The captcha check is unavailable right now; please try again shortly.",
                                     headers={"Retry-After": "30"})
        req.flags.append("captcha_unverified")


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        return True  # a unique-index race (idempotency key, external_id, contact): the next try sees the winner
    if isinstance(exc, DBAPIError):
        text = str(exc.orig).lower()
        code = getattr(exc.orig, "sqlstate", None)
        return code in ("40001", "40P01") or "locked" in text or "busy" in text
    return False


async def in_transaction(db: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in its own transaction, again from the start when it lost a race to a concurrent one."""
    for attempt in range(MAX_TRANSACTION_ATTEMPTS):
        try:
            async with db.session() as session:
                return await work(session)
        except DBAPIError as exc:
            if attempt == MAX_TRANSACTION_ATTEMPTS - 1 or not _retryable(exc):
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * 2 ** attempt))
    raise AssertionError("unreachable")


# --- the three entry points -------------------------------------------------------------------------------------

@dataclass
class Prepared:
    """A submission checked up to the point of storing it (or an answer that needs no storing)."""

    req: IntakeRequest | None = None
    lead: NormalisedLead | None = None
    submission: LeadSubmission | None = None  # set when a captcha may apply
    answer: CaptureResult | None = None


Prepare = Callable[[AsyncSession, Outcome, dict[str, str]], Awaitable[Prepared]]


def _needs_captcha(p: Prepared) -> bool:
    return (p.submission is not None and p.req is not None and not p.req.spam
            and p.req.tenant.config.intake.captcha is not None)


async def _run(request: Request, outcome: Outcome, headers: dict[str, str], prepare: Prepare) -> CaptureResult:
    """Prepare and store in one transaction (the common case: one connection, one commit). With a captcha,
    the network call happens between two transactions; after a lost race the store is retried alone."""
    db = _db(request)
    p: Prepared | None = None
    try:
        async with db.session() as session:
            await repository.take_write_lock(session)
            p = await prepare(session, outcome, headers)
            if p.answer is not None:
                return p.answer
            assert p.req is not None and p.lead is not None
            if not _needs_captcha(p):
                return await service.capture(session, p.req, p.lead)
    except DBAPIError as exc:
        if p is None or p.req is None or not _retryable(exc):
            raise
    assert p is not None and p.req is not None and p.lead is not None
    req, lead = p.req, p.lead
    if _needs_captcha(p) and p.submission is not None:
        # The captcha token is single-use: answer a retry from what is stored before spending it again.
        async with db.session() as session:
            replay = await service.find_replay(session, req, lead)
        if replay is not None:
            return replay
        await check_captcha(req.tenant, p.submission, req.client_ip, req)
    return await in_transaction(db, lambda session: service.capture(session, req, lead))


def _respond(result: CaptureResult, headers: dict[str, str]) -> JSONResponse:
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(result.body, status_code=result.status_code, headers=headers)


async def handle(request: Request, route: str, prepare: Prepare) -> JSONResponse:
    outcome = Outcome(request, route)
    headers: dict[str, str] = {}
    try:
        result = await _run(request, outcome, headers, prepare)
    except AppError as exc:
        outcome.finish(outcome_of(exc))
        exc.headers = {**headers, **exc.headers}
        raise
    except BaseException:
        outcome.finish("error")
        raise
    outcome.finish(result.outcome)
    return _respond(result, headers)


async def public_lead(request: Request) -> JSONResponse:
    async def prepare(session: AsyncSession, outcome: Outcome, headers: dict[str, str]) -> Prepared:
        data = await parse_json(request)
        name = data.get("tenant")
        if not isinstance(name, str) or not name.strip():
            raise ValidationFailed("tenant: give the tenant slug (for example 'mrdj')",
                                   errors=[{"field": "tenant", "message": "required", "type": "missing"}])
        ip = request_ip(request)
        try:
            tenant = await repository.resolve_tenant(session, name)
        except NotFound:
            origin = request.headers.get("origin")
            if origin is not None:
                # A browser's post for a name no tenant has is refused like a known tenant refuses a foreign
                # origin, so the form's answers do not tell which tenants exist.
                raise origin_refused(origin) from None
            raise
        outcome.tenant = tenant.slug
        check_origin(request, tenant, headers)
        await enforce_rate_limit(request, session, tenant, "public", ip, headers)
        submission = validate(PublicLeadSubmission, data)
        lead = normalise(submission)
        req = IntakeRequest(tenant=tenant, route="public", client_ip=ip,
                            user_agent=user_agent(request),
                            request_hash=service.request_hash(data), idempotency_key=idempotency_key(request),
                            spam=bool(submission.website))
        return Prepared(req, lead, submission)

    return await handle(request, "public", prepare)


async def server_lead(request: Request) -> JSONResponse:
    async def prepare(session: AsyncSession, outcome: Outcome, headers: dict[str, str]) -> Prepared:
        principal = await get_principal(request, session)
        if not principal.can(Permission.LEADS_SUBMIT):
            raise Forbidden(f"This key's role(s) {', '.join(principal.roles)} lack the permission "
                            f"'{Permission.LEADS_SUBMIT.value}'.")
        tenant = await repository.resolve_tenant_id(session, principal.scope)
        outcome.tenant = tenant.slug
        # The website backend posts from one address for everyone: only the per-tenant limit applies.
        await enforce_rate_limit(request, session, tenant, "server", None, headers)
        data = await parse_json(request)
        submission = validate(LeadSubmission, data)
        if submission.tenant and submission.tenant.lower() not in (tenant.slug, *tenant.config.aliases):
            raise ValidationFailed("tenant: does not match the API key's tenant",
                                   errors=[{"field": "tenant", "message": "does not match the API key's tenant"}])
        lead = normalise(submission)
        req = IntakeRequest(tenant=tenant, route="server", client_ip=request_ip(request),
                            user_agent=user_agent(request),
                            request_hash=service.request_hash(data), idempotency_key=idempotency_key(request),
                            spam=bool(submission.website))
        return Prepared(req, lead, submission)

    return await handle(request, "server", prepare)
