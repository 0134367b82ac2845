"""Who may open a page: the session cookie from SSO or a sign-in link, the same permission table as the API.
No session: the sign-in page (htmx is told to go there). Signed in without the permission: the "not allowed" page.
A change (POST) carries the session's CSRF token, as the header htmx sends or a plain form's hidden field."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request

from rentguy_crm.auth import sessions
from rentguy_crm.auth.dependencies import READ_ONLY_METHODS, Session, session_principal
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.errors import Unauthorized
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.sections.branding import branding_of

CSRF_FIELD = "csrf_token"
FORM_TYPE = "application/x-www-form-urlencoded"


class SignInNeeded(Exception):
    """No live session: the person signs in and comes back to `next_path`."""

    def __init__(self, next_path: str, reason: str | None) -> None:
        super().__init__(reason or "unknown")
        self.next_path = next_path
        self.reason = reason


class PageNotAllowed(Exception):
    """Signed in, but the person's roles lack the permission this page or action needs."""

    def __init__(self, principal: Principal, permission: Permission) -> None:
        super().__init__(permission.value)
        self.principal = principal
        self.permission = permission


async def form_of(request: Request) -> dict[str, str]:
    """A plain form post's fields (url-encoded; the body limit middleware has bounded it). One value per name."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    fields: dict[str, str] = {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method not in READ_ONLY_METHODS and content_type == FORM_TYPE:
        body = (await request.body()).decode("utf-8", errors="replace")
        fields = {name: values[-1] for name, values in parse_qs(body, keep_blank_values=True).items()}
    request.state.form = fields
    return fields


def _return_path(request: Request) -> str:
    """Where to come back after signing in: this page, or for an htmx request the page it came from."""
    if request.headers.get("hx-request") and request.headers.get("hx-current-url"):
        current = request.headers["hx-current-url"]
        path = "/" + current.split("://", 1)[-1].split("/", 1)[-1] if "://" in current else current
        return path if path.startswith("/") and not path.startswith("//") else "/"
    if request.method not in READ_ONLY_METHODS:
        return "/"
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


async def page_principal(request: Request, session: Session) -> Principal:
    """The signed-in person of a page request, with their tenant's branding and zone on `request.state`."""
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    if not cookie:
        raise SignInNeeded(_return_path(request), None)
    sent = request.headers.get(sessions.CSRF_HEADER) or (await form_of(request)).get(CSRF_FIELD)
    try:
        principal = await session_principal(request, session, cookie, sent)
    except Unauthorized as exc:
        raise SignInNeeded(_return_path(request), exc.extra.get("reason")) from None
    request.state.principal = principal
    request.state.tenant = principal.tenant_slug  # for the access log line
    tenant = await tenants.by_id(session, principal.tenant_id)
    if tenant is not None:
        branding = branding_of(tenant.config)
        request.state.brand_name = branding.display_name or tenant.name
        request.state.brand_logo = branding.web_logo
        request.state.tenant_zone = tenant.timezone
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def require_page(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """The page's `require`: the same permission table as the API, answered with pages instead of problem JSON."""

    async def dependency(principal: PagePrincipal) -> Principal:
        if not principal.can(permission):
            raise PageNotAllowed(principal, permission)
        return principal

    return dependency


def sign_in_location(next_path: str) -> str:
    return "/sign-in?next=" + quote(next_path, safe="/")
