"""The frame around the screens: the sign-in page, signing out, the language switch and the tenant's stylesheet."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from rentguy_crm.auth import sessions
from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.sso import signin
from rentguy_crm.config import get_settings
from rentguy_crm.errors import BadRequest
from rentguy_crm.kit.inputs import Text
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.sections.branding import Branding, branding_of
from rentguy_crm.web import i18n
from rentguy_crm.web.access import PagePrincipal, SignInNeeded, form_of, page_principal
from rentguy_crm.web.rendering import PAGE_HEADERS, TENANT_COOKIE, render

router = APIRouter(include_in_schema=False)
NextPath = Annotated[Text | None, Query(max_length=2000)]
LANGUAGE_COOKIE_AGE = 400 * 24 * 3600  # a year and a bit: browsers cap cookies at 400 days


def _safe_next(value: str | None) -> str:
    try:
        return signin.safe_next(value) if value else "/"
    except BadRequest:
        return "/"


@router.get("/sign-in")
async def sign_in_page(request: Request, next: NextPath = None, reason: NextPath = None) -> Response:
    """Offers single sign-on for the tenant last used in this browser (or the one typed in)."""
    return render(request, "sign_in.html", {"next_path": _safe_next(next), "reason": reason,
                                            "tenant_slug": request.cookies.get(TENANT_COOKIE, "")})


@router.post("/sign-out")
async def sign_out(request: Request, principal: PagePrincipal, session: Session) -> Response:
    """Ends this session (and the provider's, when the tenant wants that), then back to the sign-in page."""
    await sessions.end_session(session, principal)
    tenant = await tenants.by_id(session, principal.tenant_id)
    after = get_settings().public_url + "/sign-in"
    end_url = await signin.end_session_url(session, tenant, after) if tenant is not None else None
    response = RedirectResponse(end_url or "/sign-in", status_code=303)
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    response.delete_cookie(sessions.CSRF_COOKIE, path="/")
    return response


@router.post("/ui/language")
async def choose_language(request: Request, session: Session) -> Response:
    """Remembers the person's language in a cookie. Signed in, the form carries the CSRF token like any other."""
    if request.cookies.get(sessions.SESSION_COOKIE):
        try:
            await page_principal(request, session)
        except SignInNeeded:
            pass  # an ended session may still choose the language of the sign-in page
    form = await form_of(request)
    language = form.get("language", "")
    if language not in i18n.LANGUAGES:
        raise BadRequest(f"Choose a language: {', '.join(i18n.LANGUAGES)} (got '{language[:20]}').",
                         errors=[{"field": "language", "message": "unknown language"}])
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    response.set_cookie(i18n.LANGUAGE_COOKIE, language, max_age=LANGUAGE_COOKIE_AGE, path="/", samesite="lax",
                        httponly=True, secure=get_settings().env != "dev")
    return response


def branding_css(branding: Branding) -> str:
    # Colours are validated as #rrggbb, so nothing else can reach the stylesheet.
    return (":root {\n"
            f"  --brand-primary: {branding.primary_color};\n"
            f"  --brand-accent: {branding.accent_color};\n"
            f"  --pico-primary: {branding.primary_color};\n"
            f"  --pico-primary-background: {branding.primary_color};\n"
            f"  --pico-primary-border: {branding.primary_color};\n"
            f"  --pico-primary-underline: {branding.primary_color};\n"
            "}\n")


@router.get("/ui/branding.css")
async def tenant_stylesheet(request: Request, session: Session) -> Response:
    """The signed-in person's tenant colours as CSS custom properties (no inline style under the CSP)."""
    branding = Branding()
    try:
        principal = await page_principal(request, session)
    except SignInNeeded:
        principal = None
    if principal is not None:
        tenant = await tenants.by_id(session, principal.tenant_id)
        branding = branding_of(tenant.config if tenant else None)
    return Response(branding_css(branding), media_type="text/css",
                    headers={"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff",
                             "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"]})
