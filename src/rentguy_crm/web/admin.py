"""Screen 10, Admin (`/admin`, permission `admin`): the tenant's people and their roles, the SSO group → role
mapping (read-only: it lives in the tenant's config file and changes with a provisioning), API keys (a new key is
shown once, never again), the rate-limit profile switched for a while, and the organisation's settings. Changes go
through the same audited services as `crm apikeys` and `crm ratelimit`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from rentguy_crm.auth import repository as people
from rentguy_crm.auth import service as keys
from rentguy_crm.auth import sessions
from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import ROLES, Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.errors import AppError, NotFound, ValidationFailed
from rentguy_crm.kit import inputs
from rentguy_crm.kit.durations import parse_duration
from rentguy_crm.ratelimit import service as rate_limits
from rentguy_crm.ratelimit.profiles import PROFILES
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.service import tenant_config
from rentguy_crm.web.access import form_of, require_page
from rentguy_crm.web.desk_view import form_model
from rentguy_crm.web.rendering import render

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require_page(Permission.ADMIN))]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LONGEST_SWITCH = dt.timedelta(days=7)  # a longer change of limits is a config change, not an incident measure


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: Annotated[str, Field(min_length=1, max_length=200), inputs.SingleLine]
    roles: list[str] = Field(min_length=1)


async def _tenant(session: Session, principal: Principal) -> Tenant:
    tenant = await tenants.by_id(session, principal.tenant_id)
    if tenant is None:
        raise NotFound("This organisation no longer exists.")
    return tenant


@router.get("/admin")
async def admin_page(request: Request, principal: Admin) -> HTMLResponse:
    return render(request, "admin/index.html", {"active": "admin"})


@router.get("/ui/admin/people")
async def people_and_mapping(request: Request, principal: Admin, session: Session) -> HTMLResponse:
    tenant = await _tenant(session, principal)
    return render(request, "admin/fragments/people.html", {
        "users": await people.list_users(session, principal.tenant_id), "sso": sessions.sso_settings(tenant)})


async def _keys(request: Request, session: Session, principal: Principal, *, new_key: str | None = None,
                problem: AppError | None = None) -> HTMLResponse:
    return render(request, "admin/fragments/keys.html", {
        "keys": await keys.list_keys(session, principal.scope), "roles": list(ROLES), "new_key": new_key,
        "problem": problem}, status=problem.status if problem else 200)


async def _refusable(session: Session, change: Callable[[], Awaitable[Any]],
                     shown: Callable[[AppError | None], Awaitable[HTMLResponse]]) -> HTMLResponse:
    """A refused change is undone (a savepoint) and named above the section, which stays on screen."""
    try:
        async with session.begin_nested():
            await change()
    except AppError as exc:
        return await shown(exc)
    return await shown(None)


@router.get("/ui/admin/keys")
async def key_list(request: Request, principal: Admin, session: Session) -> HTMLResponse:
    return await _keys(request, session, principal)


@router.post("/ui/admin/keys")
async def create_key(request: Request, principal: Admin, session: Session) -> HTMLResponse:
    fields = await form_of(request)
    made: list[str] = []

    async def change() -> None:
        body = form_model(KeyRequest, {"name": fields.get("name", ""),
                                       "roles": [role for role in ROLES if fields.get(f"role_{role}")]})
        tenant = await _tenant(session, principal)
        _key, raw = await keys.create_key(session, tenant, name=body.name, roles=body.roles, actor=principal.actor)
        made.append(raw)

    return await _refusable(session, change, lambda problem: _keys(
        request, session, principal, new_key=made[0] if made and not problem else None, problem=problem))


@router.post("/ui/admin/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: inputs.RecordId, principal: Admin, session: Session) -> HTMLResponse:
    await keys.revoke_key(session, key_id, actor=principal.actor, scope=principal.scope)
    return await _keys(request, session, principal)


async def _rate_limit(request: Request, session: Session, principal: Principal,
                      problem: AppError | None = None) -> HTMLResponse:
    tenant = await _tenant(session, principal)
    return render(request, "admin/fragments/rate_limit.html", {
        "current": await rate_limits.current(session, tenant), "profiles": PROFILES, "problem": problem},
        status=problem.status if problem else 200)


@router.get("/ui/admin/settings")
async def organisation_settings(request: Request, principal: Admin, session: Session) -> HTMLResponse:
    """Shown, not edited. Every setting of the tenant row is provisioned from `configs/tenants/<slug>.json`
    (`crm tenants provision`), reviewed like code and kept true by tests (auth/sso_mrdj.md): an edit here would be
    undone silently by the next provisioning. What staff may change while the suite runs has its own audited,
    timed switch: the rate-limit profile above, and pausing a workflow on the automation screens."""
    tenant = await _tenant(session, principal)
    config = tenant_config(tenant)
    return render(request, "admin/fragments/settings.html", {
        "tenant": tenant, "working_hours": config.support.working_hours, "sla": config.support.sla,
        "working_days": [(day, config.support.working_hours.days[day]) for day in WEEKDAYS
                         if day in config.support.working_hours.days],
        "default_profile": config.rate_limit.default_profile})


@router.get("/ui/admin/rate-limit")
async def rate_limit(request: Request, principal: Admin, session: Session) -> HTMLResponse:
    return await _rate_limit(request, session, principal)


def _switch_length(text: str) -> dt.timedelta:
    """How long the switch lasts: a duration such as 30m or 2h, at most a week."""
    try:
        length = parse_duration(text, unit_required=True)
    except ValueError as exc:
        raise ValidationFailed(f"Duration: {exc}.", errors=[{"field": "duration", "message": str(exc)}]) from None
    if length <= dt.timedelta(0) or length > LONGEST_SWITCH:
        raise ValidationFailed("Duration: give a time between 1 minute and 7 days (e.g. 30m, 2h).",
                               errors=[{"field": "duration", "message": "between 1m and 7d"}])
    return length


@router.post("/ui/admin/rate-limit")
async def switch_rate_limit(request: Request, principal: Admin, session: Session) -> HTMLResponse:
    fields = await form_of(request)

    async def change() -> None:
        profile = fields.get("profile", "")
        if profile not in PROFILES:
            raise ValidationFailed(f"Profile: choose one of {', '.join(PROFILES)}.",
                                   errors=[{"field": "profile", "message": "unknown profile"}])
        length = _switch_length(fields.get("duration", ""))
        await rate_limits.set_profile(session, await _tenant(session, principal), profile, actor=principal.actor,
                                      duration=length)

    return await _refusable(session, change, lambda problem: _rate_limit(request, session, principal, problem))
