"""FastAPI dependencies: the request's session and principal, and permission checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth import sessions
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal, authenticate
from rentguy_crm.db import Database
from rentguy_crm.errors import Forbidden, Unauthorized


def get_database(request: Request) -> Database:
    return request.app.state.db


# Requests that only read; their SQLite transactions read beside the writer instead of queueing for its lock.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit when the handler returns, roll back when it raises.
    A request that may write takes SQLite's write lock at BEGIN, so it waits its turn instead of failing."""
    db: Database = request.app.state.db
    async with db.session(read_only=request.method in READ_ONLY_METHODS) as session:
        yield session


# scope="function": the commit runs before the response is sent, so a failed commit is never answered with a 2xx.
session_dependency = Depends(get_session, scope="function")
Session = Annotated[AsyncSession, session_dependency]


async def get_principal(request: Request, session: Session) -> Principal:
    """The caller: an API key (`Authorization: Bearer`) or a signed-in person's session cookie. A request that
    may change something with a session cookie must carry the session's CSRF token in `X-CSRF-Token`."""
    header = request.headers.get("authorization", "")
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    if not header and cookie:
        principal = await session_principal(request, session, cookie, request.headers.get(sessions.CSRF_HEADER))
    else:
        principal = await _key_principal(session, header)
    request.state.principal = principal
    request.state.tenant = principal.tenant_slug  # for the access log line
    return principal


async def _key_principal(session: AsyncSession, header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>', or sign in.")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <key>'.")
    principal = await authenticate(session, token.strip(), cached=True)
    if principal is None:
        raise Unauthorized("The API key is unknown or revoked.")
    return principal


SESSION_REFUSALS = {
    "unknown": "You are not signed in (the session is unknown). Sign in again.",
    "revoked": "Your session was ended (signed out or revoked). Sign in again.",
    "disabled": "Your account is disabled in this suite.",
    "expired": "Your session reached its maximum length. Sign in again.",
    "idle": "Your session ended after a period without activity. Sign in again.",
}


async def session_principal(request: Request, session: AsyncSession, cookie: str, csrf_sent: str | None) -> Principal:
    """The signed-in person of a session cookie; a change must come with the session's CSRF token (`csrf_sent`:
    the header for the API and htmx, a form's hidden field for the web app's plain forms)."""
    check = await sessions.check_session(session, cookie)
    if check.principal is None:
        raise Unauthorized(SESSION_REFUSALS.get(check.reason or "unknown", SESSION_REFUSALS["unknown"]),
                           headers={}, extra={"reason": check.reason})
    if request.method not in READ_ONLY_METHODS and not sessions.csrf_matches(cookie, csrf_sent):
        raise Forbidden(f"A change made with a session cookie needs the header {sessions.CSRF_HEADER} with the "
                        "session's CSRF token (cookie crm_csrf, or csrf_token in GET /api/v1/auth/me).",
                        extra={"reason": "csrf"})
    if check.needs_touch and check.principal.session_id is not None:
        if request.method in READ_ONLY_METHODS:
            # The request's own transaction only reads; the last-seen time is written beside it.
            db: Database = request.app.state.db
            async with db.session() as writer:
                await sessions.touch(writer, check.principal.session_id)
        else:
            await sessions.touch(session, check.principal.session_id)
    return check.principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            holder = "session" if principal.user_id else "key"
            raise Forbidden(
                f"This {holder}'s role(s) {', '.join(principal.roles)} lack the permission '{permission.value}'."
            )
        return principal

    return dependency
