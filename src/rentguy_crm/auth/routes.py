"""Sign-in routes (`/api/v1/auth/…`) and the user list for administrators (`/api/v1/admin/users`). Wiring only:
the work is in `auth.sso.signin` and `auth.sessions`."""

from __future__ import annotations

import html
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from rentguy_crm.audit import service as audit
from rentguy_crm.auth import repository, sessions
from rentguy_crm.auth.dependencies import CurrentPrincipal, Session, get_database, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.auth.sessions import SignInRefused
from rentguy_crm.auth.sso import signin
from rentguy_crm.config import get_settings
from rentguy_crm.db import Database
from rentguy_crm.errors import problem_response
from rentguy_crm.kit.inputs import Text
from rentguy_crm.tenants import repository as tenants

log = structlog.get_logger(__name__)
router = APIRouter(tags=["auth"])
admin_router = APIRouter(tags=["admin"])
DB = Annotated[Database, Depends(get_database)]


def _secure_cookies() -> bool:
    return get_settings().env != "dev"


def _set_session_cookies(response: Response, raw_session: str, max_age: int) -> None:
    response.set_cookie(sessions.SESSION_COOKIE, raw_session, max_age=max_age, path="/", httponly=True,
                        secure=_secure_cookies(), samesite="lax")
    # Readable by the page's script, which echoes it in X-CSRF-Token; useless to another site that cannot read it.
    response.set_cookie(sessions.CSRF_COOKIE, sessions.csrf_token_for(raw_session), max_age=max_age, path="/",
                        httponly=False, secure=_secure_cookies(), samesite="lax")


def _refusal_page(request: Request, exc: SignInRefused) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        return problem_response(exc, request)
    body = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Sign-in refused</title></head>"
            f"<body><h1>Sign-in refused</h1><p id='reason'>{html.escape(exc.detail)}</p>"
            f"<p><small>Reason code: {html.escape(exc.reason)}</small></p></body></html>")
    return HTMLResponse(body, status_code=exc.status)


async def _audit_refusal(db: Database, exc: SignInRefused, tenant_id: int | None, door: str) -> None:
    log.info("sign_in_refused", reason=exc.reason, door=door, tenant_id=tenant_id)
    async with db.session() as session:
        await audit.record(session, actor=f"anonymous:{door}", action="sign_in.refused", entity_type="sign_in",
                                          tenant_id=tenant_id,
                           after={"reason": exc.reason, "detail": exc.detail, **({"cause": exc.cause} if exc.cause
                                                                                 else {})})


@router.get("/sso/login", summary="Start single sign-on: redirect to the tenant's identity provider")
async def sso_login(request: Request, session: Session, db: DB,
                    tenant: Annotated[Text, Query(min_length=1, max_length=64, description="Tenant slug")],
                    next: Annotated[Text | None, Query(max_length=2000, description="Path to return to")] = None,
                    ) -> Response:
    tenant_ids: list[int] = []
    try:
        url, state_cookie = await signin.begin(session, tenant, next, refused_tenant=tenant_ids)
    except SignInRefused as exc:
        await _audit_refusal(db, exc, tenant_ids[0] if tenant_ids else None, "sso")
        return _refusal_page(request, exc)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(signin.STATE_COOKIE, state_cookie, max_age=int(signin.STATE_LIFETIME.total_seconds()),
                        path="/api/v1/auth/sso", httponly=True, secure=_secure_cookies(), samesite="lax")
    return response


@router.get("/sso/callback", summary="The identity provider's redirect back: finish the sign-in")
async def sso_callback(request: Request, db: DB) -> Response:
    tenant_ids: list[int] = []
    params = {k: v[:4000] for k, v in request.query_params.items()}
    try:
        done = await signin.finish(db, request.cookies.get(signin.STATE_COOKIE), params, refused_tenant=tenant_ids)
    except SignInRefused as exc:
        await _audit_refusal(db, exc, tenant_ids[0] if tenant_ids else None, "sso")
        response = _refusal_page(request, exc)
        response.delete_cookie(signin.STATE_COOKIE, path="/api/v1/auth/sso")
        return response
    response = RedirectResponse(done.next_path, status_code=303)
    response.delete_cookie(signin.STATE_COOKIE, path="/api/v1/auth/sso")
    _set_session_cookies(response, done.raw_session,
                         int((done.session_row.expires_at - done.session_row.created_at).total_seconds()))
    return response


@router.get("/link/{token}", summary="Sign in with a one-time link (crm users login-link)")
async def link_sign_in(request: Request, token: Annotated[Text, Path(max_length=200)], db: DB) -> Response:
    try:
        async with db.session() as session:
            row, raw, _tenant = await sessions.redeem_link(session, token)
    except SignInRefused as exc:
        await _audit_refusal(db, exc, None, "link")
        return _refusal_page(request, exc)
    response = RedirectResponse(signin.DEFAULT_NEXT, status_code=303)
    _set_session_cookies(response, raw, int((row.expires_at - row.created_at).total_seconds()))
    return response


@router.get("/me", summary="Who is signed in (a session or an API key)")
async def me(request: Request, principal: CurrentPrincipal, session: Session) -> dict[str, Any]:
    body: dict[str, Any] = {"tenant": principal.tenant_slug, "roles": list(principal.roles),
                            "permissions": sorted(p.value for p in principal.permissions), "kind": principal.kind}
    if principal.user_id is not None:
        user = await repository.get_user(session, principal.tenant_id, principal.user_id)
        body.update({"user_id": principal.user_id, "session_id": principal.session_id,
                     "display_name": user.display_name if user else None, "email": user.email if user else None,
                     "csrf_token": sessions.csrf_token_for(request.cookies.get(sessions.SESSION_COOKIE, ""))})
    else:
        body["api_key_id"] = principal.api_key_id
    return body


@router.post("/logout", summary="Sign out: end this session (and the provider's session when it offers that)")
async def logout(request: Request, principal: CurrentPrincipal, session: Session) -> Response:
    end_url = None
    if principal.user_id is not None:
        await sessions.end_session(session, principal)
        tenant = await tenants.by_scope(session, principal.scope)
        if tenant is not None:
            end_url = await signin.end_session_url(session, tenant, get_settings().public_url + "/")
    response: Response = JSONResponse({"signed_out": principal.user_id is not None, "end_session_url": end_url})
    if end_url and "text/html" in request.headers.get("accept", ""):
        response = RedirectResponse(end_url, status_code=303)
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    response.delete_cookie(sessions.CSRF_COOKIE, path="/")
    return response


AdminPrincipal = Annotated[Principal, Depends(require(Permission.ADMIN))]


@admin_router.get("/users", summary="The tenant's staff users (admin)")
async def list_users(principal: AdminPrincipal, session: Session) -> list[dict[str, Any]]:
    return [user_view(u) for u in await repository.list_users(session, principal.tenant_id)]


def user_view(user: Any) -> dict[str, Any]:
    return {"id": user.id, "directory_id": user.directory_id, "object_id": user.object_id,
            "display_name": user.display_name, "email": user.email, "roles": list(user.roles or []),
            "status": "disabled" if user.disabled_at else "active",
            "last_sign_in_at": user.last_sign_in_at.isoformat() if user.last_sign_in_at else None,
            "created_at": user.created_at.isoformat() if user.created_at else None}
