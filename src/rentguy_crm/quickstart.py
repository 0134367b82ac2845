"""`crm quickstart`: migrate, provision the default tenant, make a development key and print a one-time sign-in
link (what `make run` does)."""

from __future__ import annotations

from pathlib import Path

import typer

from rentguy_crm import migrate, provisioning
from rentguy_crm.auth import service as keys
from rentguy_crm.auth.cli import issue_login_link
from rentguy_crm.config import PROJECT_ROOT, get_settings
from rentguy_crm.db import one_off_session
from rentguy_crm.kit.console import console, fail, run_async
from rentguy_crm.tenants import repository
from rentguy_crm.tenants import service as tenants
from rentguy_crm.tenants.config import TenantConfigError, load_config

DEV_KEY_NAME = "development key (make run)"
# Who the development sign-in link signs in: no identity provider is needed on a laptop.
DEV_SIGN_IN_EMAIL = "developer@{slug}.localhost"


def _dev_key_file() -> Path:
    return get_settings().var_dir / "dev-api-key"


async def ensure_dev_key(slug: str, *, new: bool) -> tuple[str, bool]:
    """Reuse the development key kept in var/ while it is still active; make one otherwise."""
    path = _dev_key_file()
    async with one_off_session() as session:
        if path.exists() and not new:
            raw = path.read_text().strip()
            if await keys.is_active(session, raw):
                return raw, False
        tenant = await repository.get(session, slug)
        _key, raw = await keys.create_key(session, tenant, name=DEV_KEY_NAME, roles=["admin"],
                                          actor="quickstart")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(raw + "\n")
    path.chmod(0o600)
    return raw, True


def quickstart_command(
    config_file: Path = typer.Option(PROJECT_ROOT / "configs" / "tenants" / "mrdj.json", "--config",
                                     help="Tenant config to provision."),
    new_key: bool = typer.Option(False, "--new-key", help="Make a fresh development key even if one exists."),
) -> None:
    """Prepare the embedded default: migrate, provision the tenant and its workflows, print the URL and a key."""
    settings = get_settings()
    if settings.env != "dev":
        raise fail(f"quickstart makes a development key and is only for CRM_ENV=dev (now {settings.env}).")
    try:
        config = load_config(config_file)
    except TenantConfigError as exc:
        raise fail(str(exc)) from None
    migrate.upgrade("head")

    async def provision() -> tuple[tenants.ProvisionReport, str]:
        async with one_off_session() as session:
            # Workflows synced and the base templates live, as `crm tenants provision` leaves every tenant;
            # copies the tenant changed since are left alone.
            setup = await provisioning.provision(session, config, actor="quickstart")
            return setup.tenant, setup.templates.summary if setup.templates else "left out"

    report, templates_summary = run_async(provision)
    raw, created = run_async(lambda: ensure_dev_key(config.slug, new=new_key))
    link = run_async(lambda: issue_login_link(config.slug, DEV_SIGN_IN_EMAIL.format(slug=config.slug), ["admin"],
                                              actor="quickstart", announce=False))
    url = settings.public_url
    console.print(f"[bold]RentGuy CRM[/bold] — database {settings.database_url}")
    state = "provisioned" if report.created else "updated" if report.changed else "up to date"
    console.print(f"tenant {config.slug}: {state}; templates: {templates_summary}")
    console.print(f"URL:      {url}   (API docs: {url}/docs)")
    console.print(f"API key:  {raw}   ({'new' if created else 'reused'}; kept in {_dev_key_file()})",
                  highlight=False, soft_wrap=True)
    console.print(f"Sign in:  {link['url']}   (one-time link, valid 15 minutes; a new one: crm quickstart, "
                  f"or crm users login-link --tenant {config.slug} --email … --role admin)",
                  highlight=False, soft_wrap=True)
    console.print(f"Mail and chat notices land in {settings.var_dir / 'outbox' / config.slug}/ "
                  "(no SMTP or Slack is configured).", highlight=False, soft_wrap=True)
    console.print("Try:", highlight=False)
    console.print(f"  curl -s -H 'Authorization: Bearer {raw}' {url}/api/v1/crm/pipelines", highlight=False,
                  soft_wrap=True)
    console.print(f"""  curl -s -X POST {url}/api/v1/public/leads -H 'Content-Type: application/json' """
                  """-d '{"tenant": "mrdj", "first_name": "Anna", "last_name": "de Vries", """
                  """"email": "anna@example.nl", "event_type": "bruiloft", "event_date": "2027-06-12"}'""",
                  highlight=False, soft_wrap=True)
