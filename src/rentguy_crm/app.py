"""The ASGI application: routers, middleware and the one place errors become problem JSON."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from rentguy_crm import (
    __version__,
    model_registry,  # noqa: F401  (every table in Base.metadata: merge and erasure walk it)
    openapi,
)
from rentguy_crm import jobs as domain_jobs
from rentguy_crm.audit.routes import audit_router
from rentguy_crm.auth.dependencies import require, session_dependency
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.routes import admin_router as users_admin_router
from rentguy_crm.auth.routes import router as auth_router
from rentguy_crm.automation.engine import hooks as automation_hooks
from rentguy_crm.automation.engine.worker import Worker, load_plugins
from rentguy_crm.automation.runs.routes import router as automation_router
from rentguy_crm.automation.workflows.routes import router as workflow_router
from rentguy_crm.config import Settings, get_settings
from rentguy_crm.crm.routes import router as crm_router
from rentguy_crm.db import Database
from rentguy_crm.errors import install_error_handlers
from rentguy_crm.health import router as health_router
from rentguy_crm.intake.http_capture import count_refused
from rentguy_crm.intake.routes import router as intake_router
from rentguy_crm.intake.tally import flush_on_shutdown as flush_lead_tally
from rentguy_crm.integrations import vault
from rentguy_crm.kit.http import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    RequestIdMiddleware,
    UnhandledErrorMiddleware,
)
from rentguy_crm.observability import exporter
from rentguy_crm.observability.logging import configure_logging
from rentguy_crm.observability.routes import router as metrics_router
from rentguy_crm.privacy.routes import public_router as unsubscribe_router
from rentguy_crm.privacy.routes import router as privacy_router
from rentguy_crm.reporting.routes import feedback_router
from rentguy_crm.reporting.routes import router as reports_router
from rentguy_crm.support import report_figures as support_report_figures
from rentguy_crm.support.inbound import install_webhook_handlers
from rentguy_crm.support.routes import router as support_router
from rentguy_crm.support.runbook_actions import register_status_report
from rentguy_crm.templates.routes import router as templates_router
from rentguy_crm.web import routes as web_app
from rentguy_crm.web.live import stop as stop_live_updates
from rentguy_crm.web.status import collect as collect_status
from rentguy_crm.web.status import router as status_router
from rentguy_crm.webhooks.alertmanager.routes import router as alertmanager_router
from rentguy_crm.webhooks.freshdesk.routes import router as freshdesk_router
from rentguy_crm.webhooks.mollie.routes import router as mollie_router
from rentguy_crm.webhooks.opsgenie.routes import router as opsgenie_router
from rentguy_crm.webhooks.typeform.routes import router as typeform_router

# Routes whose bodies are not JSON or are verified byte-for-byte by their own handler.
# Mollie posts its webhook form-encoded (id=tr_...); the route checks the media type itself.
# One-click unsubscribe (RFC 8058) posts `List-Unsubscribe=One-Click` form-encoded.
NON_JSON_PREFIXES: tuple[str, ...] = ("/api/v1/webhooks/mollie/", "/api/v1/unsubscribe/")


def json_only(path: str) -> bool:
    """The API speaks JSON; the web app's pages and fragments post forms (url-encoded)."""
    return path.startswith("/api/") and not path.startswith(NON_JSON_PREFIXES)
# Stricter body limits for public routes, by path prefix.
BODY_LIMITS: dict[str, int] = {"/api/v1/public/": 64 * 1024, "/api/v1/webhooks/mollie/": 4 * 1024,
                               "/api/v1/webhooks/opsgenie/": 256 * 1024, "/api/v1/webhooks/freshdesk/": 16 * 1024,
                               "/api/v1/unsubscribe/": 4 * 1024}


def create_app(settings: Settings | None = None, db: Database | None = None, *, embedded: bool = False) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    vault.install(settings)
    automation_hooks.install()  # an event emitted by a request starts the runs it triggers
    support_report_figures.install()  # incidents and tickets in the weekly and monthly reports
    domain_jobs.install()  # the embedded workers of `crm run` carry the domains' periodic work

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = db is None
        app.state.db = db or Database(settings)
        exporter.sweep_dead_processes()
        workers = await _start_embedded_workers(app) if app.state.embedded else None
        try:
            yield
        finally:
            if getattr(app.state, "live_feed", None) is not None:
                await stop_live_updates(app.state.live_feed)
            await flush_lead_tally(app.state.db)
            if workers is not None:
                await _stop_embedded_workers(*workers)
            exporter.mark_this_process_dead()
            if owned:
                await app.state.db.dispose()

    app = FastAPI(
        title="RentGuy CRM & Automation Suite",
        version=__version__,
        description="Lead capture, CRM records and automations per tenant. Errors are RFC 9457 problem JSON.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.embedded = embedded
    if db is not None:
        app.state.db = db
    install_error_handlers(app)
    openapi.install(app)
    register_status_report(collect_status)
    install_webhook_handlers()

    def limit_for(path: str) -> int:
        for prefix, limit in BODY_LIMITS.items():
            if path.startswith(prefix):
                return limit
        return settings.max_body_bytes

    # Outermost last: the request id is set first, the access line sees the final status (a 500 included).
    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for,
                       json_only=json_only,
                       on_refused=lambda scope, _status: count_refused(getattr(app.state, "db", None), scope["path"]))
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)

    app.include_router(health_router)
    app.include_router(metrics_router)
    # Before the CRM router: /crm/contacts/export.csv must not be read as /crm/contacts/{contact_id}.
    app.include_router(privacy_router, prefix="/api/v1")
    app.include_router(unsubscribe_router, prefix="/api/v1")
    app.include_router(auth_router, prefix="/api/v1/auth")
    app.include_router(users_admin_router, prefix="/api/v1/admin")
    app.include_router(crm_router, prefix="/api/v1/crm")
    app.include_router(workflow_router, prefix="/api/v1/automation")
    app.include_router(audit_router(session_dependency, Depends(require(Permission.AUDIT_READ))),
                       prefix="/api/v1/audit")
    app.include_router(intake_router, prefix="/api/v1")
    app.include_router(typeform_router, prefix="/api/v1")
    app.include_router(status_router)
    app.include_router(automation_router, prefix="/api/v1/automation")
    app.include_router(templates_router, prefix="/api/v1/templates")
    app.include_router(support_router, prefix="/api/v1/support")
    app.include_router(reports_router, prefix="/api/v1/reports")
    app.include_router(feedback_router, prefix="/api/v1/feedback")
    app.include_router(alertmanager_router, prefix="/api/v1/webhooks")
    app.include_router(mollie_router, prefix="/api/v1/webhooks")
    app.include_router(opsgenie_router, prefix="/api/v1/webhooks")
    app.include_router(freshdesk_router, prefix="/api/v1/webhooks")
    web_app.install(app)  # the staff web app: pages under /, fragments under /ui
    return app


async def _start_embedded_workers(app: FastAPI) -> tuple[Any, asyncio.Task[None]]:
    """Automation workers inside the API process (embedded mode): woken by the commit that queues a run."""
    load_plugins()
    worker = Worker(url=app.state.db.url, concurrency=4, poll_interval=0.5, grace=5.0)
    task = asyncio.create_task(worker.run(), name="embedded-workers")
    app.state.workers = worker
    return worker, task


async def _stop_embedded_workers(worker: Any, task: asyncio.Task[None]) -> None:
    worker.request_stop()
    try:
        await asyncio.wait_for(task, timeout=worker.grace + 5)
    except (TimeoutError, asyncio.CancelledError):
        task.cancel()


def create_embedded_app() -> FastAPI:
    """The API with the automation workers in the same process: what `crm run` and `make run` serve."""
    return create_app(embedded=True)
