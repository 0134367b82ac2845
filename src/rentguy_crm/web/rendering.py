"""Pages from Jinja2 templates (autoescape on) in the person's language, with the layout's context, the tenant's
zone for times, and the headers every page carries: a strict Content-Security-Policy and no caching."""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from rentguy_crm.auth import sessions
from rentguy_crm.auth.service import Principal
from rentguy_crm.web import i18n, nav

TEMPLATES = Path(__file__).parent / "templates"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages hold customers' personal data
}
DEFAULT_ZONE = "Europe/Amsterdam"
TENANT_COOKIE = "crm_tenant"  # the sign-in page offers the tenant last used in this browser

_language: ContextVar[str] = ContextVar("web_language", default=i18n.DEFAULT_LANGUAGE)


def _gettext(message: str) -> str:
    return i18n.translations(_language.get()).ugettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.translations(_language.get()).ungettext(singular, plural, n)


def translate(language: str, message: str) -> str:
    """One message in a language, for text built outside a template (a flash line, a problem's title)."""
    return i18n.translations(language).ugettext(message)


@pass_context
def local_time(context: Context, value: dt.datetime | None, style: str = "datetime") -> str:
    """A moment in the tenant's zone with the zone named (CET/CEST): staff read Amsterdam time, wherever they are."""
    if value is None:
        return "—"
    if value.tzinfo is None:  # the database keeps UTC; SQLite hands it back without a zone
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(ZoneInfo(context.get("tenant_zone") or DEFAULT_ZONE))
    pattern = {"date": "%d-%m-%Y", "time": "%H:%M %Z"}.get(style, "%d-%m-%Y %H:%M %Z")
    return local.strftime(pattern)


def iso_time(value: dt.datetime | None) -> str:
    """The machine-readable form for `<time datetime=…>`."""
    if value is None:
        return ""
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                          extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
environment.install_gettext_callables(gettext=_gettext, ngettext=_ngettext, newstyle=True)  # type: ignore[attr-defined]
environment.filters["local_time"] = local_time
environment.filters["iso_time"] = iso_time


def base_context(request: Request, principal: Principal | None) -> dict[str, Any]:
    """What the layout needs: language, CSRF token, navigation, branding and zone (set by `web.access`)."""
    raw_session = request.cookies.get(sessions.SESSION_COOKIE, "")
    language = i18n.language_of(request)
    return {
        "request": request,
        "principal": principal,
        "language": language,
        "languages": [(code, i18n.LANGUAGE_NAMES[code]) for code in i18n.LANGUAGES],
        "csrf_token": sessions.csrf_token_for(raw_session) if principal and raw_session else "",
        "navigation": nav.entries_for(principal) if principal else [],
        "brand_name": getattr(request.state, "brand_name", None) or "RentGuy CRM",
        "brand_logo": getattr(request.state, "brand_logo", None),
        "tenant_zone": getattr(request.state, "tenant_zone", None) or DEFAULT_ZONE,
        "current_path": request.url.path,
    }


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
           principal: Principal | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page or an htmx fragment (a template whose name starts with `fragments/` has no layout)."""
    principal = principal or getattr(request.state, "principal", None)
    values = {**base_context(request, principal), **(context or {})}
    token = _language.set(values["language"])
    try:
        body = environment.get_template(template).render(values)
    finally:
        _language.reset(token)
    response = HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
    if principal is not None and request.cookies.get(TENANT_COOKIE) != principal.tenant_slug:
        response.set_cookie(TENANT_COOKIE, principal.tenant_slug, max_age=400 * 24 * 3600, path="/",
                            httponly=True, samesite="lax")
    return response
