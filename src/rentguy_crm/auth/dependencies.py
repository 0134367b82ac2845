"""FastAPI dependencies: the request's session and principal, and permission checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

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
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_principal(request: Request, session: Session) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <key>'.")
    principal = await authenticate(session, token.strip(), cached=True)
    if principal is None:
        raise Unauthorized("The API key is unknown or revoked.")
    request.state.principal = principal
    request.state.tenant = principal.tenant_slug  # for the access log line
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise Forbidden(
                f"This key's role(s) {', '.join(principal.roles)} lack the permission '{permission.value}'."
            )
        return principal

    return dependency
