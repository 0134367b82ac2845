"""Tenant-scoped queries of lead capture, and the short per-process cache of tenant look-ups."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    FromClause,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import lead_door_scope
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead
from rentguy_crm.errors import NotFound
from rentguy_crm.events.models import Event
from rentguy_crm.intake.models import IdempotencyRecord, LeadCaptureTally
from rentguy_crm.kit.ttl_cache import Missing, TtlCache
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.config import SLUG, TenantConfig
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope

TENANT_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class IntakeTenant:
    tenant: Tenant  # detached copy: read its columns, never lazy-load
    config: TenantConfig
    scope: TenantScope  # the rows a lead door of this tenant writes (`auth.service.lead_door_scope`)

    @property
    def id(self) -> int:
        return self.tenant.id

    @property
    def slug(self) -> str:
        return self.tenant.slug


# Slug or alias (or `#<id>`) → tenant with its parsed config; None: no such tenant (known absent, briefly).
_tenants: TtlCache[str, IntakeTenant | None] = TtlCache("intake tenants", TENANT_CACHE_SECONDS, max_entries=1000)


async def resolve_tenant(session: AsyncSession, slug_or_alias: str) -> IntakeTenant:
    """Slug or alias to tenant with its parsed config; unknown → 404. Cached briefly per process."""
    name = slug_or_alias.strip().lower()
    if not SLUG.match(name):
        # Not a possible slug (NUL bytes, surrogates, 2 KB of emoji...): unknown, without asking the database.
        name = ""
    hit = _tenants.get(name)
    if isinstance(hit, Missing):
        tenant = await tenants.find(session, name) if name else None
        found = None
        if tenant is not None:
            session.expunge(tenant)
            found = IntakeTenant(tenant, TenantConfig.model_validate(tenant.config), lead_door_scope(tenant.id))
        hit = _tenants.put(name, found)  # names come from the public: the cache bounds itself
    if hit is None:
        shown = slug_or_alias[:64].encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
        raise NotFound(f"No tenant '{shown}' accepts leads here. Check the 'tenant' field "
                       "(a tenant slug such as 'mrdj' or one of its aliases).")
    return hit


async def resolve_tenant_id(session: AsyncSession, scope: TenantScope) -> IntakeTenant:
    """The tenant an authenticated principal acts for, with its parsed config. Cached briefly per process."""
    hit = _tenants.get(f"#{scope.tenant_id}")
    if not isinstance(hit, Missing) and hit is not None:
        return hit
    tenant = await tenants.by_scope(session, scope)
    if tenant is None:
        raise NotFound("The API key's tenant no longer exists.")
    found = await resolve_tenant(session, tenant.slug)
    _tenants.put(f"#{scope.tenant_id}", found)
    return found


async def allowed_origins(session: AsyncSession) -> frozenset[str]:
    """Every browser origin any tenant allows to post its public form. A CORS preflight carries no body, so it
    is answered before any tenant is known: the one read across tenants on the public path (origins only)."""
    configs = (await session.scalars(select(Tenant.config))).all()
    return frozenset(o for c in configs for o in TenantConfig.model_validate(c).intake.allowed_origins)


def forget_tenants() -> None:
    _tenants.clear()


async def take_write_lock(session: AsyncSession) -> None:
    """On SQLite, start the transaction as a writer so it waits for others instead of failing on a stale
    snapshot later. Postgres needs nothing: its row locks and unique indexes do the ordering."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("UPDATE lead_capture_tallies SET count = count WHERE 1 = 0"))


async def idempotency_record(session: AsyncSession, scope: TenantScope, route: str, key: str,
                             now: dt.datetime) -> IdempotencyRecord | None:
    record = await session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.tenant_id == scope.tenant_id, IdempotencyRecord.scope == route,
        IdempotencyRecord.key == key))
    if record is not None and record.expires_at <= now:
        await session.delete(record)
        await session.flush()
        return None
    return record


async def contact_for(session: AsyncSession, scope: TenantScope, email: str | None, phone: str | None,
                      *, lock: bool = False) -> Contact | None:
    stmt = select(Contact).where(Contact.tenant_id == scope.tenant_id)
    if email:
        stmt = stmt.where(Contact.email == email)
    else:
        stmt = stmt.where(Contact.email.is_(None), Contact.phone == phone)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def insert_contact_if_new(session: AsyncSession, values: dict[str, object]) -> Contact | None:
    """INSERT the contact unless the tenant already has one for this e-mail (or phone without e-mail).

    One statement for the common case of a new person; a concurrent insert of the same person waits for the
    other transaction and then does nothing, so the caller reads the winner's row. None: it existed.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Contact).values(**values)
    if values.get("email"):
        stmt = stmt.on_conflict_do_nothing(index_elements=["tenant_id", "email"],
                                           index_where=Contact.email.is_not(None))
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["tenant_id", "phone"],
                                           index_where=and_(Contact.email.is_(None), Contact.phone.is_not(None)))
    return (await session.scalars(stmt.returning(Contact))).first()


@dataclass(frozen=True)
class StoredNew:
    contact_id: int
    lead_id: int
    event_id: int | None


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def _params(table: Table, prefix: str, names: tuple[str, ...]) -> list[ColumnElement[Any]]:
    return [bindparam(f"{prefix}{name}", type_=table.c[name].type).label(name) for name in names]


Shape = tuple[bool, tuple[str, ...], tuple[str, ...], tuple[str, ...] | None, tuple[tuple[str, ...], ...]]
_statements: dict[Shape, Select[Any]] = {}


def _one_statement(shape: Shape, notify_channel: str) -> Select[Any]:
    """The statement for one shape of submission (which columns are given, how many runs), built once per
    process: constructing a statement of four CTEs costs more Python time than executing it."""
    stmt = _statements.get(shape)
    if stmt is not None:
        return stmt
    by_email, contact_cols, lead_cols, event_cols, run_cols = shape
    contacts = _table(Contact)
    new_contact = pg_insert(contacts).values(
        {name: bindparam(f"c_{name}", type_=contacts.c[name].type) for name in contact_cols})
    if by_email:
        new_contact = new_contact.on_conflict_do_nothing(index_elements=["tenant_id", "email"],
                                                         index_where=Contact.email.is_not(None))
    else:
        new_contact = new_contact.on_conflict_do_nothing(
            index_elements=["tenant_id", "phone"],
            index_where=and_(Contact.email.is_(None), Contact.phone.is_not(None)))
    c = new_contact.returning(contacts.c.id).cte("new_contact")
    leads = _table(Lead)
    l_ = (insert(leads).from_select([*lead_cols, "contact_id"], select(*_params(leads, "l_", lead_cols), c.c.id))
          .returning(leads.c.id, leads.c.contact_id).cte("new_lead"))
    ctes: list[CTE] = [c, l_]
    columns: list[ColumnElement[Any]] = [l_.c.contact_id, l_.c.id]
    source: FromClause = l_
    if event_cols is not None:
        events = _table(Event)
        ids = func.jsonb_build_object("lead_id", l_.c.id, "contact_id", l_.c.contact_id)
        payload = cast(bindparam("e_payload", type_=JSONB), JSONB).op("||")(ids)
        e = (insert(events).from_select(
            [*event_cols, "subject_id", "payload"], select(*_params(events, "e_", event_cols), l_.c.id, payload))
            .returning(events.c.id, events.c.subject_id).cte("new_event"))
        ctes.append(e)
        columns.append(e.c.id)
        source = l_.join(e, e.c.subject_id == l_.c.id)
        runs_table = _table(AutomationRun)
        for n, cols in enumerate(run_cols):
            # `dedupe_key:event` / `dedupe_key:subject`: the key's prefix is a parameter, its last part the id of
            # the event or of the lead inserted above (see `dispatch.dedupe_prefix`).
            keyed = [c for c in cols if c.startswith("dedupe_key:")]
            plain = tuple(c for c in cols if not c.startswith("dedupe_key:"))
            values: list[ColumnElement[Any]] = [*_params(runs_table, f"r{n}_", plain), e.c.id, e.c.subject_id]
            names = [*plain, "trigger_event_id", "lead_id"]
            if keyed:
                part = e.c.id if keyed[0] == "dedupe_key:event" else e.c.subject_id
                values.append(bindparam(f"r{n}_dedupe_prefix", type_=String()).concat(cast(part, String())))
                names.append("dedupe_key")
            ctes.append(insert(runs_table).from_select(names, select(*values))
                        .returning(runs_table.c.id).cte(f"new_run_{n}"))
        if run_cols:
            # Delivered at commit like the runs themselves; evaluated only when a row (a new lead) comes back.
            columns.append(func.pg_notify(notify_channel, ""))
    stmt = select(*columns).select_from(source).add_cte(*ctes)
    if len(_statements) > 100:
        _statements.clear()
    _statements[shape] = stmt
    return stmt


def _run_columns(run: dict[str, Any]) -> dict[str, Any]:
    """A run's values with its pending dedupe key `(prefix, "event" | "subject")` as `dedupe_key:<part>` (part of
    the statement's shape) holding the prefix (a parameter)."""
    values = dict(run)
    pending = values.pop("dedupe_key", None)
    if pending is not None:
        prefix, part = pending
        values[f"dedupe_key:{part}"] = prefix
    return values


async def store_new_contact_lead(session: AsyncSession, contact: dict[str, Any], lead: dict[str, Any],
                                 event: dict[str, Any] | None, runs: list[dict[str, Any]],
                                 notify_channel: str) -> StoredNew | None:
    """Postgres: a new person's contact, their lead, its event and the runs it starts in ONE statement.

    Each INSERT is a data-modifying CTE fed by the one before (`contact → lead → event → runs`), so one round
    trip does what would otherwise take four or five. The event payload gets the new ids from the CTEs
    (`payload || {"lead_id", "contact_id"}`). When the tenant already has the contact, the first insert does
    nothing (ON CONFLICT on the partial unique index), so nothing else is inserted and None comes back: the
    caller then takes the known-contact path (lock the row, double-click check, ...).
    """
    event_values = dict(event) if event is not None else None
    payload = event_values.pop("payload") if event_values is not None else None
    runs = [_run_columns(run) for run in runs]
    shape: Shape = (bool(contact.get("email")), tuple(contact), tuple(lead),
                    tuple(event_values) if event_values is not None else None,
                    tuple(tuple(run) for run in runs) if event_values is not None else ())
    params: dict[str, Any] = {f"c_{k}": v for k, v in contact.items()}
    params.update({f"l_{k}": v for k, v in lead.items()})
    if event_values is not None:
        params.update({f"e_{k}": v for k, v in event_values.items()})
        params["e_payload"] = payload
        for n, run in enumerate(runs):
            params.update({f"r{n}_dedupe_prefix" if k.startswith("dedupe_key:") else f"r{n}_{k}": v
                           for k, v in run.items()})
    row = (await session.execute(_one_statement(shape, notify_channel), params)).first()
    if row is None:
        return None
    return StoredNew(contact_id=row[0], lead_id=row[1], event_id=row[2] if event is not None else None)


async def recent_submission(session: AsyncSession, scope: TenantScope, submission_hash: str,
                            since: dt.datetime, *, spam: bool = False) -> Lead | None:
    """The first lead with this fingerprint since `since`. A clean submission matches only leads not judged
    spam, a spam one only spam leads: the fingerprint leaves out the honeypot, so both can share it."""
    judged = Lead.status == "spam" if spam else Lead.status != "spam"
    return await session.scalar(
        select(Lead).where(Lead.tenant_id == scope.tenant_id, Lead.submission_hash == submission_hash,
                           Lead.created_at >= since, judged).order_by(Lead.id).limit(1))


async def is_spam_lead(session: AsyncSession, scope: TenantScope, lead_id: object) -> bool:
    if not isinstance(lead_id, int):
        return False
    status = await session.scalar(select(Lead.status).where(Lead.tenant_id == scope.tenant_id, Lead.id == lead_id))
    return status == "spam"


async def forget_idempotency_record(session: AsyncSession, scope: TenantScope, route: str, key: str) -> None:
    """Drop a key's record before another takes the key (flushed now: the new record has the same key)."""
    await session.execute(delete(IdempotencyRecord).where(
        IdempotencyRecord.tenant_id == scope.tenant_id, IdempotencyRecord.scope == route,
        IdempotencyRecord.key == key))


async def contact_made_by_spam_only(session: AsyncSession, scope: TenantScope, contact_id: int) -> bool:
    """The contact exists only because of spam submissions: it has spam leads and nothing else (no other
    lead, deal or activity)."""
    def linked(model: type[Any], *where: ColumnElement[bool]) -> Any:
        return exists().where(model.tenant_id == scope.tenant_id, model.contact_id == contact_id, *where)

    # Leads first (indexed by contact, and almost always decisive); deals and activities only for the rare
    # contact whose leads are all spam.
    if not await session.scalar(select(linked(Lead, Lead.status == "spam") & ~linked(Lead, Lead.status != "spam"))):
        return False
    return not await session.scalar(select(linked(Deal) | linked(Activity)))


async def contact_by_id(session: AsyncSession, scope: TenantScope, contact_id: int, *, lock: bool = False) -> Contact:
    stmt = select(Contact).where(Contact.tenant_id == scope.tenant_id, Contact.id == contact_id)
    if lock:
        stmt = stmt.with_for_update()
    contact = await session.scalar(stmt)
    if contact is None:
        raise NotFound(f"Contact {contact_id} does not exist.")
    return contact


async def lead_by_external_id(session: AsyncSession, scope: TenantScope, external_id: str) -> Lead | None:
    return await session.scalar(select(Lead).where(Lead.tenant_id == scope.tenant_id,
                                                   Lead.external_id == external_id))


async def has_automation_runs(session: AsyncSession, lead_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(AutomationRun.lead_id == lead_id))))


# --- lead-capture outcome tallies (the status page's error rate, across tenants) ----------------------------------

async def add_tally_counts(session: AsyncSession,
                           counts: list[tuple[tuple[str, str, str, dt.datetime], int]]) -> None:
    """Add `((tenant slug, route, outcome, minute), count)` pairs to `lead_capture_tallies` (upsert per minute).
    Give them in a fixed order, so concurrent flushes of several processes lock rows in the same order."""
    dialect = session.get_bind().dialect.name
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    for (tenant, route, outcome, minute), count in counts:
        stmt = upsert(LeadCaptureTally).values(tenant=tenant, route=route, outcome=outcome, minute=minute,
                                               count=count)
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant", "route", "outcome", "minute"],
            set_={"count": LeadCaptureTally.count + stmt.excluded.count},
        )
        await session.execute(stmt)


async def tally_since(session: AsyncSession, since: dt.datetime) -> list[tuple[str, str, int | None]]:
    """`(tenant slug, outcome, count)` summed over the minutes from `since` on."""
    rows = (await session.execute(
        select(LeadCaptureTally.tenant, LeadCaptureTally.outcome, func.sum(LeadCaptureTally.count))
        .where(LeadCaptureTally.minute >= since)
        .group_by(LeadCaptureTally.tenant, LeadCaptureTally.outcome)
    )).all()
    return [(row[0], row[1], row[2]) for row in rows]
