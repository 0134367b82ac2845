"""The staff web app's router (pages under `/`, htmx fragments under `/ui/…`) and what `app.create_app` installs for
it: pages answer a signed-out person with the sign-in page, a refused one with the "not allowed" page, and a mistake
with a page (or fragment) that says what is wrong, where the API answers problem JSON."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from rentguy_crm.errors import AppError, ValidationFailed, field_errors, problem_response
from rentguy_crm.web import (
    admin,
    assets,
    automations,
    contacts,
    deals,
    leads,
    live,
    message_templates,
    pipelines,
    reports,
    shell,
    tasks,
    tickets,
    today,
)
from rentguy_crm.web.access import PageNotAllowed, SignInNeeded, sign_in_location
from rentguy_crm.web.rendering import render

# Every router of the web app; a new screen adds its own here (and its entry in `nav.NAVIGATION`).
SCREENS: list[APIRouter] = [assets.router, shell.router, live.router, today.router, leads.router, contacts.router,
                            pipelines.router, deals.router, tasks.router, automations.router,
                            message_templates.router, tickets.router, reports.router, admin.router]
router = APIRouter(include_in_schema=False)
for screen in SCREENS:
    router.include_router(screen)

API_PREFIXES = ("/api/", "/metrics", "/status", "/health", "/static/", "/docs", "/openapi", "/redoc")


def is_page_request(request: Request) -> bool:
    """A person's browser on a page or fragment, not an API client."""
    path = request.url.path
    if path.startswith(API_PREFIXES) or path == "/ui/events":
        return False
    return bool(request.headers.get("hx-request")) or "text/html" in request.headers.get("accept", "")


def fragment_of(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


def install(app: FastAPI) -> None:
    """Mount the web app and its answers to signed-out, refused and mistaken requests."""
    app.include_router(router)
    api_error_handler = app.exception_handlers.get(AppError)
    api_validation_handler = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        location = sign_in_location(exc.next_path) + (f"&reason={exc.reason}" if exc.reason else "")
        if fragment_of(request):
            return Response(status_code=401, headers={"HX-Redirect": location})
        if not is_page_request(request):
            return JSONResponse({"title": "Authentication required", "status": 401, "sign_in": location},
                                status_code=401, media_type="application/problem+json")
        return RedirectResponse(location, status_code=303)

    @app.exception_handler(PageNotAllowed)
    async def _not_allowed(request: Request, exc: PageNotAllowed) -> Response:
        template = "fragments/not_allowed.html" if fragment_of(request) else "not_allowed.html"
        return render(request, template, {"permission": exc.permission.value}, status=403, principal=exc.principal)

    @app.exception_handler(AppError)
    async def _mistake(request: Request, exc: AppError) -> Response:
        if not is_page_request(request):
            if api_error_handler is not None:
                return await api_error_handler(request, exc)  # type: ignore[misc]
            return problem_response(exc, request)
        template = "fragments/problem.html" if fragment_of(request) else "problem.html"
        return render(request, template, {"problem": exc}, status=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_page_request(request) and api_validation_handler is not None:
            return await api_validation_handler(request, exc)  # type: ignore[misc]
        errors = field_errors(list(exc.errors()))
        return await _mistake(request, ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), errors=errors))
