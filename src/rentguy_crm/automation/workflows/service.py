"""Workflow versions of a tenant: sync from the library, inspection, and which workflows an event starts.

A sync stores a definition as a new version only when its checksum changed; older versions stay so a run
keeps the version it started with, and `is_current` moves to the new one. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.automation.workflows import expressions, library, repository
from rentguy_crm.automation.workflows.definitions import WorkflowDefinition
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.automation.workflows.program import compile_program
from rentguy_crm.errors import BadRequest, NotFound
from rentguy_crm.kit.durations import format_duration
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import TenantScope


@dataclass
class SyncReport:
    tenant: str
    created: list[str] = field(default_factory=list)  # "lead_intake v1"
    updated: list[str] = field(default_factory=list)  # "lead_intake v2 (was v1)"
    unchanged: list[str] = field(default_factory=list)
    not_in_library: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "not_in_library": self.not_in_library, "changed": self.changed}


def definition_of(workflow: Workflow) -> WorkflowDefinition:
    """The typed definition of a stored version."""
    return WorkflowDefinition.model_validate(workflow.definition)


async def sync(session: AsyncSession, tenant_slug: str, *, source: library.Library | None = None,
               actor: str = "cli") -> SyncReport:
    """Store changed library workflows as new versions for the tenant. Refuses a library with errors."""
    tenant = await tenants.get(session, tenant_slug)
    loaded = source or library.load_library()
    if loaded.errors:
        listing = "\n".join(str(p) for p in loaded.errors)
        raise BadRequest(f"the workflow library has {len(loaded.errors)} error(s); nothing was synced:\n{listing}",
                         errors=[p.as_dict() for p in loaded.errors])
    # Two syncs of one tenant at once would both pick the same next version number; serialise them on the
    # tenant row (Postgres; SQLite serialises writers anyway).
    await tenants.lock(session, tenant.id)
    scope = TenantScope(tenant.id)
    report = SyncReport(tenant=tenant.slug)
    for item in loaded.workflows:
        definition, digest = item.definition, item.checksum
        current = await repository.get(session, scope, definition.key)
        if current is not None and current.checksum == digest:
            report.unchanged.append(f"{definition.key} v{current.version}")
            continue
        version = await repository.latest_version_number(session, scope, definition.key) + 1
        if current is not None:
            current.is_current = False
            await session.flush()
        row = Workflow(tenant_id=tenant.id, key=definition.key, version=version, name=definition.name,
                       triggers=[t.model_dump(mode="json") for t in definition.triggers],
                       definition=library.stored_form(definition), checksum=digest, is_current=True,
                       enabled=definition.enabled)
        session.add(row)
        await session.flush()
        after = {"version": version, "checksum": digest, "file": item.file}
        if current is None:
            report.created.append(f"{definition.key} v{version}")
            await audit.record(session, actor=actor, action="workflow.created", entity_type="workflow",
                               entity_id=definition.key, tenant_id=tenant.id, after=after)
        else:
            report.updated.append(f"{definition.key} v{version} (was v{current.version})")
            await audit.record(session, actor=actor, action="workflow.updated", entity_type="workflow",
                               entity_id=definition.key, tenant_id=tenant.id,
                               before={"version": current.version, "checksum": current.checksum}, after=after)
    library_keys = {w.definition.key for w in loaded.workflows}
    for row in await repository.current_versions(session, scope):
        if row.key not in library_keys:
            report.not_in_library.append(f"{row.key} v{row.version}")
    return report


# --- what the engine asks -------------------------------------------------------------------------------------

async def current_workflows_for_event(session: AsyncSession, scope: TenantScope, event_type: str) -> list[Workflow]:
    """The current, enabled versions of the tenant's workflows with a trigger on this event type.

    Conditions are not evaluated here (they need the event's variables): use `trigger_matches`.
    """
    rows = await repository.current_versions(session, scope)
    return [row for row in rows if row.enabled and any(t.get("event") == event_type for t in row.triggers or [])]


def trigger_matches(definition: WorkflowDefinition | Workflow, event_type: str,
                    variables: Mapping[str, Any]) -> bool:
    """Whether some trigger of the workflow is this event type and its condition (if any) is true."""
    typed = definition_of(definition) if isinstance(definition, Workflow) else definition
    for trigger in typed.triggers:
        if trigger.event != event_type:
            continue
        if trigger.condition is None or expressions.is_true(trigger.condition, variables):
            return True
    return False


async def tenant_stage_keys(session: AsyncSession, tenant_slug: str) -> list[str]:
    tenant = await tenants.get(session, tenant_slug)
    return await repository.stage_keys(session, TenantScope(tenant.id))


# --- inspection ----------------------------------------------------------------------------------------------

def _triggers_text(definition: WorkflowDefinition) -> list[str]:
    return [t.event + (f" if {t.condition}" if t.condition else "") for t in definition.triggers]


def summary(row: Workflow) -> dict[str, Any]:
    definition = definition_of(row)
    return {"key": row.key, "version": row.version, "name": row.name, "triggers": _triggers_text(definition),
            "sla": format_duration(definition.sla), "enabled": row.enabled, "checksum": row.checksum,
            "updated_at": row.created_at}


async def list_for_tenant(session: AsyncSession, tenant_slug: str) -> list[dict[str, Any]]:
    tenant = await tenants.get(session, tenant_slug)
    loaded = library.load_library()
    rows = []
    for row in await repository.current_versions(session, TenantScope(tenant.id)):
        item = loaded.get(row.key)
        state = "missing" if item is None else ("in sync" if item.checksum == row.checksum else "differs")
        rows.append({**summary(row), "library": state if not loaded.errors else "library has errors"})
    return rows


def list_library() -> list[dict[str, Any]]:
    loaded = library.load_library()
    return [{"key": w.definition.key, "file": w.file, "name": w.definition.name,
             "triggers": _triggers_text(w.definition), "sla": format_duration(w.definition.sla),
             "enabled": w.definition.enabled} for w in loaded.workflows]


def describe(definition: WorkflowDefinition) -> dict[str, Any]:
    """Triggers, retry policy, SLA and the flattened program with the step numbers runs refer to."""
    retry = definition.retry
    program = []
    for number, instruction in enumerate(compile_program(definition)):
        step = instruction.step
        entry: dict[str, Any] = {"step": number, "op": instruction.op, "type": None, "label": instruction.label,
                                 "detail": None, "next_if_false": None, "jump_to": None}
        if instruction.op == "step":
            entry.update(type=step.type, detail=_detail(step))
        elif instruction.op == "branch":
            entry.update(type="branch", detail=f"if {step.condition}", next_if_false=instruction.target)
        else:
            entry.update(jump_to=instruction.target)
        program.append(entry)
    return {
        "key": definition.key, "name": definition.name, "description": definition.description,
        "enabled": definition.enabled, "sla": format_duration(definition.sla), "once_per": definition.once_per,
        "on_new_run": definition.on_new_run,
        "triggers": [t.model_dump(mode="json") for t in definition.triggers],
        "retry": {"max_attempts": retry.max_attempts, "initial_interval": format_duration(retry.initial_interval),
                  "backoff_factor": retry.backoff_factor, "max_interval": format_duration(retry.max_interval)},
        "program": program,
    }


def _detail(step: Any) -> str:
    if step.type in ("send_email", "send_whatsapp"):
        return f"template {step.template}"
    if step.type == "notify":
        return f"{step.channel} {step.target or '(ops channel)'}: template {step.template}"
    if step.type == "create_task":
        return f"'{step.title}' for {step.owner or step.team or 'the subject owner'}, due in " \
               f"{format_duration(step.due_in)}"
    if step.type == "wait":
        return f"until {step.until}" if step.until else f"for {format_duration(step.duration)}"
    if step.type == "update_record":
        return f"{step.record}.{step.field} = {step.value!r}"
    if step.type == "http_webhook":
        return f"POST {step.url}"
    if step.type == "stop":
        return step.reason or ""
    return ""


async def describe_stored(session: AsyncSession, tenant_slug: str, key: str,
                          version: int | None = None) -> dict[str, Any]:
    tenant = await tenants.get(session, tenant_slug)
    return await describe_for_tenant(session, TenantScope(tenant.id), key, version)


async def describe_for_tenant(session: AsyncSession, scope: TenantScope, key: str,
                              version: int | None = None) -> dict[str, Any]:
    row = await repository.get(session, scope, key, version)
    if row is None:
        which = f"version {version} of " if version is not None else ""
        raise NotFound(f"No {which}workflow '{key}'. See the stored ones with: crm workflows list --tenant <slug>")
    return {**describe(definition_of(row)), "version": row.version, "is_current": row.is_current,
            "checksum": row.checksum, "enabled": row.enabled,
            "versions": await repository.version_numbers(session, scope, key)}


def describe_library(key: str) -> dict[str, Any]:
    loaded = library.load_library()
    item = loaded.get(key)
    if item is None:
        raise NotFound(f"No workflow '{key}' in the library ({', '.join(loaded.files) or 'no files'}).")
    return {**describe(item.definition), "file": item.file, "checksum": item.checksum}
