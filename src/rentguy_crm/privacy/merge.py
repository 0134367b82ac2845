"""Merge two contacts of a tenant: every row that references the merged-away contact moves to the kept one.

Table-driven: `contact_references()` reads every column that points at `contacts` from the SQLAlchemy metadata
(a foreign key to `contacts.id`, or a column named `contact_id`), and each must have a strategy in the registry.
A new table is one line: `register("tickets")`. `tests/privacy/test_merge_registry.py` fails for a table that
references contacts and is not registered, so a merge never silently leaves rows behind.

Rows that reach the contact through a lead or a deal (runs, payments, deliveries) follow those rows; runs that
name the contact in their JSON context are re-pointed, so a waiting run continues for the kept contact.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Column, MetaData, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import Principal
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.crm import repository as crm_repository
from rentguy_crm.crm.models import Contact, Deal, Lead
from rentguy_crm.db import Base
from rentguy_crm.errors import ValidationFailed
from rentguy_crm.privacy.models import ContactRedirect
from rentguy_crm.webhooks.mollie.models import Payment

MergeStrategy = Callable[[AsyncSession, Table, Column[Any], int, int, int], Awaitable[int]]
Prefer = Literal["keep", "other"]

# The contact's own fields that a merge chooses between; `consent` goes along with `marketing_opt_in`.
MERGE_FIELDS = ("first_name", "last_name", "email", "phone", "company", "owner", "marketing_opt_in")


def _tenant_filter(table: Table, tenant_id: int) -> list[Any]:
    return [table.c.tenant_id == tenant_id] if "tenant_id" in table.c else []


async def move(session: AsyncSession, table: Table, column: Column[Any], tenant_id: int, keep: int,
               other: int) -> int:
    """The default strategy: point the rows at the kept contact."""
    result = await session.execute(update(table).where(column == other, *_tenant_filter(table, tenant_id))
                                   .values({column.name: keep}).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Registration:
    table: str
    column: str
    strategy: MergeStrategy


_REGISTRY: dict[tuple[str, str], Registration] = {}


def register(table: str, column: str = "contact_id", strategy: MergeStrategy = move) -> None:
    """Say how a merge treats `table.column`, a reference to a contact (default: move the rows)."""
    _REGISTRY[(table, column)] = Registration(table, column, strategy)


def registered() -> dict[tuple[str, str], Registration]:
    return dict(_REGISTRY)


register("leads")
register("deals")
register("activities")
register("marketing_optouts")
register("support_tickets", "requester_contact_id")  # a ticket raised by the person follows them
register("contact_redirects", "kept_id")  # a contact merged into `other` earlier now resolves to `keep`


def contact_references(metadata: MetaData) -> list[tuple[str, str]]:
    """Every (table, column) that references a contact: a foreign key to contacts.id or a `contact_id` column."""
    found: set[tuple[str, str]] = set()
    for table in metadata.tables.values():
        if table.name == "contacts":
            continue
        for column in table.columns:
            if column.name == "contact_id" or any(fk.column.table.name == "contacts" for fk in column.foreign_keys):
                found.add((table.name, column.name))
    return sorted(found)


def unregistered(metadata: MetaData) -> list[tuple[str, str]]:
    return [ref for ref in contact_references(metadata) if ref not in _REGISTRY]


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


async def _follow_counts(session: AsyncSession, tenant_id: int, other_id: int) -> dict[str, int]:
    """Rows that reach the contact through its leads and deals: they follow without being changed."""
    leads = select(Lead.id).where(Lead.tenant_id == tenant_id, Lead.contact_id == other_id)
    deals = select(Deal.id).where(Deal.tenant_id == tenant_id, Deal.contact_id == other_id)
    runs = await session.scalar(select(func.count()).select_from(AutomationRun).where(
        AutomationRun.tenant_id == tenant_id,
        AutomationRun.lead_id.in_(leads) | AutomationRun.deal_id.in_(deals)))
    payments = await session.scalar(select(func.count()).select_from(Payment).where(
        Payment.tenant_id == tenant_id, Payment.deal_id.in_(deals)))
    return {"crm_automation_runs": int(runs or 0), "payments": int(payments or 0)}


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


async def _repoint_runs(session: AsyncSession, tenant_id: int, keep_id: int, other_id: int) -> None:
    """Active runs of the contact's leads and deals: their context names the kept contact from now on."""
    leads = select(Lead.id).where(Lead.tenant_id == tenant_id, Lead.contact_id == keep_id)
    deals = select(Deal.id).where(Deal.tenant_id == tenant_id, Deal.contact_id == keep_id)
    runs = (await session.scalars(select(AutomationRun).where(
        AutomationRun.tenant_id == tenant_id, AutomationRun.status.in_(("queued", "waiting", "running")),
        AutomationRun.lead_id.in_(leads) | AutomationRun.deal_id.in_(deals)))).all()
    for run in runs:
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
    tenant_id = principal.tenant_id
    keep = await crm_repository.get_scoped(session, Contact, principal.scope, keep_id, "contact", lock=True)
    other = await crm_repository.get_scoped(session, Contact, principal.scope, other_id, "contact", lock=True)
    choices = choose_fields(keep, other, prefer or {})
    moves: dict[str, int] = {}
    for (table_name, column_name) in sorted(_REGISTRY):
        if table_name not in metadata.tables:
            continue
        table = metadata.tables[table_name]
        column = table.c[column_name]
        count = await session.scalar(select(func.count()).select_from(table).where(
            column == other_id, *_tenant_filter(table, tenant_id)))
        moves[f"{table_name}.{column_name}"] = int(count or 0)
    plan = MergePlan(keep_id, other_id, moves, await _follow_counts(session, tenant_id, other_id), choices,
                     dry_run, reason.strip())
    if dry_run:
        plan.result = {f.field: audit.snapshot(keep, [f.field])[f.field] if f.chosen == "keep"
                       else audit.snapshot(other, [f.field])[f.field] for f in choices}
        return plan
    before = {"kept": audit.snapshot(keep), "merged": audit.snapshot(other)}
    for (table_name, column_name), registration in sorted(_REGISTRY.items()):
        if table_name in metadata.tables:
            table = metadata.tables[table_name]
            await registration.strategy(session, table, table.c[column_name], tenant_id, keep_id, other_id)
    await _repoint_runs(session, tenant_id, keep_id, other_id)
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


async def resolve_contact_id(session: AsyncSession, tenant_id: int, contact_id: int) -> int:
    """The contact an id stands for now: a merged-away id resolves (through any chain) to the kept contact."""
    seen = {contact_id}
    current = contact_id
    while True:
        kept = await session.scalar(select(ContactRedirect.kept_id).where(
            ContactRedirect.tenant_id == tenant_id, ContactRedirect.merged_id == current))
        if kept is None or kept in seen:
            return current
        seen.add(kept)
        current = kept
