"""Merge two contacts of a tenant: every row that references the merged-away contact moves to the kept one.

Table-driven: `references.contact_references()` reads every column that points at `contacts` from the SQLAlchemy
metadata (a foreign key to `contacts.id`, or a column named `contact_id`), and each must have a strategy in the
registry (`references.register`); a merge refuses to run while one has none.

Rows that reach the contact through a lead or a deal (runs, payments, deliveries) follow those rows; runs that
name the contact in their JSON context are re-pointed, so a waiting run continues for the kept contact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Column, MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import repository as crm_repository
from rentguy_crm.crm.models import Contact
from rentguy_crm.db import Base
from rentguy_crm.errors import ValidationFailed
from rentguy_crm.privacy import repository
from rentguy_crm.privacy.models import ContactRedirect
from rentguy_crm.privacy.references import registered, unregistered
from rentguy_crm.tenants.scope import TenantScope

Prefer = Literal["keep", "other"]

# The contact's own fields that a merge chooses between; `consent` goes along with `marketing_opt_in`.
MERGE_FIELDS = ("first_name", "last_name", "email", "phone", "company", "owner", "marketing_opt_in")


async def move(session: AsyncSession, table: Table, column: Column[Any], scope: TenantScope, keep: int,
               other: int) -> int:
    """The default strategy: point the rows at the kept contact."""
    return await repository.repoint_references(session, scope, table, column, keep, other)


@dataclass
class FieldChoice:
    field: str
    keep: Any
    other: Any
    chosen: Prefer
    conflict: bool

    @property
    def value(self) -> Any:
        return self.keep if self.chosen == "keep" else self.other


@dataclass
class MergePlan:
    keep_id: int
    other_id: int
    moves: dict[str, int]
    follows: dict[str, int]
    fields: list[FieldChoice]
    dry_run: bool
    reason: str
    result: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"keep_id": self.keep_id, "other_id": self.other_id, "dry_run": self.dry_run, "reason": self.reason,
                "moves": self.moves, "follows": self.follows,
                "fields": [{"field": f.field, "keep": f.keep, "other": f.other, "chosen": f.chosen,
                            "conflict": f.conflict} for f in self.fields],
                "result": self.result}


def _empty(value: Any) -> bool:
    return value is None or value == ""


def choose_fields(keep: Contact, other: Contact, prefer: dict[str, Prefer]) -> list[FieldChoice]:
    """Side by side. A field only the other contact has is taken from it; a conflict keeps the kept contact's
    value unless `prefer[field] == "other"`."""
    unknown = sorted(set(prefer) - set(MERGE_FIELDS))
    bad = sorted(name for name, side in prefer.items() if side not in ("keep", "other"))
    if unknown or bad:
        raise ValidationFailed(
            f"prefer: unknown fields {', '.join(unknown) or '-'}; bad sides {', '.join(bad) or '-'} "
            f"(fields: {', '.join(MERGE_FIELDS)}; sides: keep, other).",
            errors=[{"field": "prefer", "message": "name fields of a contact and the side keep or other",
                     "type": "value_error"}])
    choices = []
    for name in MERGE_FIELDS:
        mine, theirs = getattr(keep, name), getattr(other, name)
        conflict = not _empty(mine) and not _empty(theirs) and mine != theirs
        if name in prefer:
            side: Prefer = prefer[name]
        else:
            side = "other" if _empty(mine) and not _empty(theirs) else "keep"
        choices.append(FieldChoice(name, mine, theirs, side, conflict))
    return choices


def repoint(value: Any, other_id: int, keep_id: int) -> Any:
    """A JSON value with references to the merged-away contact (`contact_id`, `contact.id`) re-pointed."""
    if isinstance(value, dict):
        out = {k: repoint(v, other_id, keep_id) for k, v in value.items()}
        if out.get("contact_id") == other_id:
            out["contact_id"] = keep_id
        contact = out.get("contact")
        if isinstance(contact, dict) and contact.get("id") == other_id:
            out["contact"] = {**contact, "id": keep_id}
        return out
    if isinstance(value, list):
        return [repoint(v, other_id, keep_id) for v in value]
    return value


async def _repoint_runs(session: AsyncSession, scope: TenantScope, keep_id: int, other_id: int) -> None:
    """Active runs of the contact's leads and deals: their context names the kept contact from now on."""
    for run in await repository.active_runs_of_contact(session, scope, keep_id):
        context = repoint(run.context, other_id, keep_id)
        if context != run.context:
            run.context = context


async def merge_contacts(session: AsyncSession, principal: Principal, keep_id: int, other_id: int, *,
                         reason: str, prefer: dict[str, Prefer] | None = None, dry_run: bool = False,
                         metadata: MetaData | None = None) -> MergePlan:
    """Merge contact `other_id` into `keep_id` (both of the principal's tenant; another tenant's is a 404).

    Returns the plan: rows moved per table, rows that follow through leads and deals, and the field choices.
    `dry_run`: nothing changes (the caller rolls back as well). Raises ValidationFailed for a missing reason,
    the same contact twice or a bad `prefer`. Audited with who, when, why and before/after; never commits."""
    metadata = metadata or Base.metadata  # complete: the app and the CLI load every model (model_registry)
    if not reason or not reason.strip():
        raise ValidationFailed("reason: say why the contacts are merged.",
                               errors=[{"field": "reason", "message": "required", "type": "missing"}])
    if keep_id == other_id:
        raise ValidationFailed("other: a contact cannot be merged into itself.",
                               errors=[{"field": "other", "message": "same as the kept contact",
                                        "type": "value_error"}])
    missing = unregistered(metadata)
    if missing:  # refuse rather than leave rows pointing at a contact about to be deleted
        raise ValidationFailed("merge: no strategy for " + ", ".join(f"{t}.{c}" for t, c in missing) + ".")
    tenant_id, scope = principal.tenant_id, principal.scope
    keep = await crm_repository.get_scoped(session, Contact, principal.scope, keep_id, "contact", lock=True)
    other = await crm_repository.get_scoped(session, Contact, principal.scope, other_id, "contact", lock=True)
    choices = choose_fields(keep, other, prefer or {})
    moves: dict[str, int] = {}
    for (table_name, column_name) in sorted(registered()):
        if table_name not in metadata.tables:
            continue
        table = metadata.tables[table_name]
        column = table.c[column_name]
        moves[f"{table_name}.{column_name}"] = await repository.count_references(session, scope, table, column,
                                                                                other_id)
    # Rows that reach the contact through its leads and deals follow without being changed.
    plan = MergePlan(keep_id, other_id, moves, await repository.follow_counts(session, scope, other_id), choices,
                     dry_run, reason.strip())
    if dry_run:
        plan.result = {f.field: audit.snapshot(keep, [f.field])[f.field] if f.chosen == "keep"
                       else audit.snapshot(other, [f.field])[f.field] for f in choices}
        return plan
    before = {"kept": audit.snapshot(keep), "merged": audit.snapshot(other)}
    for (table_name, column_name), registration in sorted(registered().items()):
        if table_name in metadata.tables:
            table = metadata.tables[table_name]
            strategy = registration.strategy or move
            await strategy(session, table, table.c[column_name], scope, keep_id, other_id)
    await _repoint_runs(session, scope, keep_id, other_id)
    values = {f.field: f.value for f in choices}
    if next(f for f in choices if f.field == "marketing_opt_in").chosen == "other":
        values["consent"] = other.consent  # the consent's provenance goes with the choice
    session.add(ContactRedirect(tenant_id=tenant_id, merged_id=other_id, kept_id=keep_id))
    await session.delete(other)
    await session.flush()  # the other contact's e-mail and phone are free before the kept one takes them
    for name, value in values.items():
        setattr(keep, name, value)
    await session.flush()
    plan.result = audit.snapshot(keep)
    await audit.record(session, actor=principal.actor, action="contact.merged", entity_type="contact",
                       entity_id=keep_id, tenant_id=tenant_id, before=before,
                       after={"kept": plan.result, "merged_id": other_id, "moved": moves,
                              "fields": {f.field: f.chosen for f in choices}}, reason=plan.reason)
    await audit.record(session, actor=principal.actor, action="contact.merged_away", entity_type="contact",
                       entity_id=other_id, tenant_id=tenant_id, before=None, after={"merged_into": keep_id},
                       reason=plan.reason)
    return plan


async def resolve_contact_id(session: AsyncSession, scope: TenantScope, contact_id: int) -> int:
    """The contact an id stands for now: a merged-away id resolves (through any chain) to the kept contact."""
    seen = {contact_id}
    current = contact_id
    while True:
        kept = await repository.kept_id_of(session, scope, current)
        if kept is None or kept in seen:
            return current
        seen.add(kept)
        current = kept
