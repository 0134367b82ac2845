"""`crm secrets`: check that every secret reference of a tenant resolves, and write a Vault secret."""

from __future__ import annotations

import sys

import typer
from pydantic import SecretStr

from rentguy_crm.audit import service as audit
from rentguy_crm.db import one_off_session
from rentguy_crm.integrations.vault import client as vault
from rentguy_crm.kit import secrets
from rentguy_crm.kit.console import JsonOption, cli_actor, emit, fail, run_async
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.config import parse_config

app = typer.Typer(help="Secret references (env:, file:, vault:) of the tenants; values are never shown.",
                  no_args_is_help=True)


def check_references(fields: list[tuple[str, str]]) -> list[dict[str, str]]:
    """One row per reference: field, reference, `ok` or `failed` and the reason (never the value)."""
    rows = []
    for field, reference in fields:
        try:
            secrets.resolve(reference)
        except secrets.SecretUnavailable as exc:
            rows.append({"field": field, "reference": reference, "status": "failed", "reason": str(exc)})
        else:
            rows.append({"field": field, "reference": reference, "status": "ok", "reason": ""})
    return rows


@app.command("check")
def check(
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug, e.g. mrdj."),
    as_json: bool = JsonOption,
) -> None:
    """List every secret reference in the tenant's config and whether it resolves here. Exit code 1 when any
    does not (the reason says what to do); the values are never printed."""

    async def stored() -> tuple[str, dict[str, object]]:
        async with one_off_session(read_only=True) as session:
            row = await tenants.get(session, tenant)
            return row.slug, dict(row.config or {})

    slug, raw = run_async(stored)
    config = parse_config(raw, f"tenant {slug} (as provisioned)")
    rows = check_references(secrets.references_in(config))
    emit(rows, as_json=as_json, columns=["field", "reference", "status", "reason"], title=f"secrets of {slug}",
         noun="references")
    failed = sum(1 for r in rows if r["status"] != "ok")
    if failed:
        raise fail(f"{failed} of {len(rows)} secret reference(s) of {slug} do not resolve", code=1)


@app.command("put")
def put(
    reference: str = typer.Argument(..., help="Where to write, e.g. vault:crm/mrdj/azure#client_secret."),
    tenant: str = typer.Option(None, "--tenant", help="Tenant the secret belongs to (for the audit log)."),
    by: str = typer.Option(None, "--by", help="Who is writing (for the audit log); default cli:<user>."),
    as_json: bool = JsonOption,
) -> None:
    """Write one field of a Vault secret (KV v2), keeping its other fields. The value is read from standard input
    (piped) or asked for without echo, never from the command line (it would land in the shell history).
    The write is in the audit log (reference and version, never the value)."""
    try:
        secrets.parse_vault(reference)
    except secrets.SecretUnavailable as exc:
        raise fail(str(exc), code=2) from None
    if sys.stdin.isatty():
        value = typer.prompt(f"value for {reference}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read().strip()
    if not value.strip():
        raise fail(f"no value given for {reference}; nothing was written", code=2)
    try:
        version = vault.store(reference).put(reference, SecretStr(value.strip()))
    except secrets.SecretUnavailable as exc:
        raise fail(str(exc)) from None
    secrets.invalidate(reference)

    async def record() -> None:
        async with one_off_session() as session:
            tenant_id = (await tenants.get(session, tenant)).id if tenant else None
            await audit.record(session, actor=cli_actor(by), action="secret.written", entity_type="secret",
                               entity_id=reference, tenant_id=tenant_id, after={"version": version})

    run_async(record)
    emit({"reference": reference, "version": version, "status": "written"}, as_json=as_json,
         columns=["reference", "version", "status"], title="secret written")
