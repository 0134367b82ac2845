"""The `crm` command: one entry point for serving, workers, tenants, keys and the database."""

from __future__ import annotations

import typer

from rentguy_crm import (
    __version__,
    migrate,
    model_registry,  # noqa: F401  (every table in Base.metadata: merge and erasure walk it)
)
from rentguy_crm import jobs as domain_jobs
from rentguy_crm.audit.cli import release_notes_command
from rentguy_crm.auth.cli import app as apikeys_app
from rentguy_crm.auth.cli import users_app
from rentguy_crm.automation.engine import hooks as automation_hooks
from rentguy_crm.automation.engine.cli import workers_app
from rentguy_crm.automation.runs.cli import runs_app
from rentguy_crm.automation.workflows.cli import workflows_app
from rentguy_crm.config import InsecureSettingsError, get_settings
from rentguy_crm.crm.calendar_sync.cli import app as integrations_app
from rentguy_crm.errors import AppError
from rentguy_crm.integrations import announcements as integration_announcements
from rentguy_crm.integrations import vault
from rentguy_crm.integrations.vault.cli import app as secrets_app
from rentguy_crm.kit.console import CommandGroup, console, fail, register_error_explainer
from rentguy_crm.observability.cli import app as observability_app
from rentguy_crm.observability.exporter import prepare_multiprocess_dir
from rentguy_crm.observability.logging import configure_logging
from rentguy_crm.privacy.cli import contacts_app, export_app, import_app, privacy_app
from rentguy_crm.provisioning import provision_command
from rentguy_crm.quickstart import quickstart_command
from rentguy_crm.ratelimit.cli import app as ratelimit_app
from rentguy_crm.reporting.cli import app as reports_app
from rentguy_crm.reporting.cli import feedback_app
from rentguy_crm.support import report_figures as support_report_figures
from rentguy_crm.support.cli import app as tickets_app
from rentguy_crm.support.runbook_actions import register_status_report
from rentguy_crm.templates.cli import app as templates_app
from rentguy_crm.tenants.cli import app as tenants_app
from rentguy_crm.tenants.config import TenantConfigError
from rentguy_crm.web.status import collect as collect_status

app = typer.Typer(
    help="RentGuy CRM & Automation Suite. Every command has --help; most have --json.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=CommandGroup,
)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)

# Start-up of every command in this process (and of the playbook's scripts, which import this module): an emitted
# event starts the automation runs it triggers.
automation_hooks.install()
integration_announcements.install()  # break-glass links are announced to the security channel
support_report_figures.install()  # incidents and tickets in the weekly and monthly reports
domain_jobs.install()  # the domains' periodic work, run by `crm workers run` and `crm run`

tenants_app.command("provision")(provision_command)
app.add_typer(tenants_app, name="tenants")
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(users_app, name="users")
app.add_typer(db_app, name="db")
app.add_typer(workflows_app, name="workflows")
app.add_typer(workers_app, name="workers")
app.add_typer(runs_app, name="runs")
app.add_typer(ratelimit_app, name="ratelimit")
app.add_typer(integrations_app, name="integrations")
app.add_typer(secrets_app, name="secrets")
app.add_typer(templates_app, name="templates")
app.add_typer(observability_app, name="observability")
app.add_typer(contacts_app, name="contacts")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(privacy_app, name="privacy")
app.add_typer(tickets_app, name="tickets")
app.add_typer(reports_app, name="reports")
app.add_typer(feedback_app, name="feedback")
app.command("quickstart")(quickstart_command)
app.command("release-notes")(release_notes_command)


@register_error_explainer
def _suite_errors(exc: BaseException) -> str | None:
    """What the suite's own errors, the database's and Alembic's mean, in one line (no SQL, no parameters)."""
    from alembic.util import CommandError
    from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError


    if isinstance(exc, AppError):
        return exc.detail
    if isinstance(exc, TenantConfigError):
        return str(exc)
    if isinstance(exc, CommandError):
        return f"migration: {exc}"
    if isinstance(exc, IntegrityError):
        return "the change conflicts with data already stored (a duplicate or a missing reference); nothing changed"
    if isinstance(exc, DBAPIError):
        reason = (str(exc.orig).splitlines() or ["no reason given"])[0][:200]
        return f"the database is unreachable or busy ({reason}); nothing changed, try again"
    if isinstance(exc, ArgumentError):
        return f"CRM_DATABASE_URL is not a database URL the suite understands: {str(exc).splitlines()[0]}"
    return None


def _version(value: bool) -> None:
    if value:
        console.print(f"crm {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    try:
        settings = get_settings()
    except InsecureSettingsError as exc:
        raise fail(str(exc), code=2) from None
    # Log lines go to stderr as configured, never into a command's (--json) stdout.
    configure_logging(settings)
    # Runbook actions run in workers too: they attach the same /status report the API serves.
    register_status_report(collect_status)
    vault.install(settings)


@app.command("serve")
def serve(
    host: str = typer.Option(None, "--host", help="Address to bind (default CRM_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default CRM_PORT or 8000)."),
    workers: int = typer.Option(1, "--workers", help="Number of API processes."),
) -> None:
    """Serve the API. With --workers > 1 the processes share a fresh Prometheus multiprocess directory under var/."""
    import uvicorn

    settings = get_settings()
    if workers > 1:

        prepare_multiprocess_dir(settings.var_dir)
    uvicorn.run("rentguy_crm.app:create_app", factory=True, host=host or settings.host,
                port=port or settings.port, workers=workers, log_level="warning", proxy_headers=False,
                log_config=None, access_log=False)


@app.command("run")
def run(
    host: str = typer.Option(None, "--host", help="Address to bind (default CRM_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default CRM_PORT or 8000)."),
) -> None:
    """Serve the API and run the automation workers in this one process (the embedded default)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("rentguy_crm.app:create_embedded_app", factory=True, host=host or settings.host,
                port=port or settings.port, log_level="warning", proxy_headers=False, log_config=None,
                access_log=False)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision (default: head).")) -> None:
    """Migrate the database up to a revision."""
    migrate.check_revision(revision)
    migrate.upgrade(revision)
    console.print(f"database at {migrate.current() or 'base'}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. 2025_03_01_add_crm_tables.")) -> None:
    """Migrate the database down to a revision. Agree this with the DBA first (playbook §5)."""
    migrate.check_revision(revision)
    migrate.downgrade(revision)
    console.print(f"database at {migrate.current() or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision."""
    console.print(migrate.current() or "base (no tables)")


def main() -> None:
    app()
