"""Release notes of a tenant's configuration changes from the audit log (playbook runbook 2.3 step 4:
"Documenteer wijziging in release notes"): Markdown grouped by kind, in the tenant's time zone.

Only what changed is written, never who changed it or free text people typed (pause reasons, key names): release
notes are shared, and those may hold personal data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import repository
from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.tenants.scope import TenantScope

Describe = Callable[[AuditEntry, ZoneInfo], str]


def _local(value: Any, zone: ZoneInfo) -> str:
    if not value:
        return "?"
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _after(entry: AuditEntry) -> dict[str, Any]:
    return entry.after or {}


def _before(entry: AuditEntry) -> dict[str, Any]:
    return entry.before or {}


def _workflow(entry: AuditEntry, _zone: ZoneInfo) -> str:
    key = entry.entity_id or "?"
    if entry.action == "workflow.created":
        return f"workflow `{key}` toegevoegd (versie {_after(entry).get('version', '?')})"
    if entry.action == "workflow.updated":
        return (f"workflow `{key}` gesynchroniseerd naar versie {_after(entry).get('version', '?')} "
                f"(was {_before(entry).get('version', '?')})")
    if entry.action == "automation.workflow.pause":
        return f"workflow `{key}` gepauzeerd"
    return f"workflow `{key}` hervat"


def _template(entry: AuditEntry, _zone: ZoneInfo) -> str:
    after = _after(entry)
    previous = _before(entry).get("live_version")
    was = f" (was {previous})" if previous else ""
    return (f"template `{after.get('key', '?')}` ({after.get('channel', '?')}, {after.get('language', '?')}) "
            f"gepubliceerd: versie {after.get('live_version', '?')}{was}")


def _ratelimit(entry: AuditEntry, zone: ZoneInfo) -> str:
    after = _after(entry)
    if entry.action == "ratelimit.profile_reverted":
        return f"rate-limit profiel na afloop teruggezet naar `{after.get('profile', '?')}`"
    until = after.get("until")
    return (f"rate-limit profiel `{after.get('profile', '?')}` gezet "
            + (f"tot {_local(until, zone)}" if until else "(blijvend)")
            + f", was `{_before(entry).get('profile', '?')}`")


def _apikey(entry: AuditEntry, _zone: ZoneInfo) -> str:
    if entry.action == "apikey.created":
        roles = ", ".join(_after(entry).get("roles") or []) or "geen"
        return f"API-sleutel #{entry.entity_id} aangemaakt (rollen: {roles})"
    return f"API-sleutel #{entry.entity_id} ingetrokken"


def _sso(entry: AuditEntry, _zone: ZoneInfo) -> str:
    return "SSO client secret vervangen" if "secret" in entry.action else f"SSO-configuratie gewijzigd ({entry.action})"


@dataclass(frozen=True)
class ChangeKind:
    title: str
    actions: frozenset[str]
    describe: Describe
    prefixes: tuple[str, ...] = ()

    def matches(self, action: str) -> bool:
        return action in self.actions or action.startswith(self.prefixes)


# The kinds in the order the notes list them. SSO changes are audited as `sso.<...>` (e.g. `sso.secret_rotated`).
KINDS = (
    ChangeKind("SSO", frozenset(), _sso, ("sso.",)),
    ChangeKind("Workflows", frozenset({"workflow.created", "workflow.updated", "automation.workflow.pause",
                                       "automation.workflow.resume"}), _workflow),
    ChangeKind("Templates", frozenset({"template.published"}), _template),
    ChangeKind("Rate-limit profielen", frozenset({"ratelimit.profile_switched", "ratelimit.profile_reverted"}),
               _ratelimit),
    ChangeKind("API-sleutels", frozenset({"apikey.created", "apikey.revoked"}), _apikey),
)


def day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC)


async def release_notes(session: AsyncSession, scope: TenantScope, *, tenant_name: str, tenant_slug: str,
                        timezone: str, since: dt.date, until: dt.date) -> str:
    """Markdown of the tenant's configuration changes from `since` through `until` (whole days in `timezone`,
    both included), grouped by kind; a period without changes says so."""
    if until < since:
        raise ValueError("--until must not be before --since")
    zone = ZoneInfo(timezone)
    entries = await repository.entries_with_actions(
        session, scope, actions={a for kind in KINDS for a in kind.actions},
        action_prefixes=[p for kind in KINDS for p in kind.prefixes],
        start=day_start(since, zone), end=day_start(until + dt.timedelta(days=1), zone))
    lines = [f"# Release notes — {tenant_name} ({tenant_slug})", "",
             f"Configuratiewijzigingen van {since.isoformat()} tot en met {until.isoformat()} ({timezone}), "
             "uit de audit log.", ""]
    written = 0
    for kind in KINDS:
        mine = [e for e in entries if kind.matches(e.action)]
        if not mine:
            continue
        lines += [f"## {kind.title}", ""]
        lines += [f"- {_local(e.at, zone)} — {kind.describe(e, zone)}" for e in mine]
        lines.append("")
        written += len(mine)
    if not written:
        lines += ["Geen configuratiewijzigingen in deze periode.", ""]
    return "\n".join(lines)
