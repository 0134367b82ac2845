"""Tenant-scoped queries for CRM records. Every statement starts from `scoped()`, so none forgets the tenant."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm import schemas
from rentguy_crm.crm.contact_search import ContactSearch, contact_search
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead, MarketingOptOut, Pipeline, PipelineStage
from rentguy_crm.errors import NotFound, ValidationFailed
from rentguy_crm.kit.pagination import PageParams, SortOrder, Window, fetch_page, fetch_window
from rentguy_crm.tenants.scope import TenantScope

M = TypeVar("M")
R = TypeVar("R", Lead, Deal, Contact, PipelineStage)
S = TypeVar("S", bound=Select[*tuple[Any, ...]])

CONTACT_SORT = SortOrder({"created_at": Contact.created_at, "updated_at": Contact.updated_at,
                          "last_name": Contact.last_name}, Contact.id)
LEAD_SORT = SortOrder({"created_at": Lead.created_at, "updated_at": Lead.updated_at,
                       "event_date": Lead.event_date, "budget": Lead.budget}, Lead.id)
DEAL_SORT = SortOrder({"created_at": Deal.created_at, "updated_at": Deal.updated_at, "value": Deal.value,
                       "event_date": Deal.event_date, "stage_changed_at": Deal.stage_changed_at}, Deal.id)
ACTIVITY_SORT = SortOrder({"created_at": Activity.created_at, "updated_at": Activity.updated_at,
                           "due_at": Activity.due_at}, Activity.id)


def scoped(model: type[M], scope: TenantScope) -> Select[M]:
    return select(model).where(model.tenant_id == scope.tenant_id)  # type: ignore[attr-defined]


async def get_scoped(session: AsyncSession, model: type[M], scope: TenantScope, record_id: int, label: str, *,
                     lock: bool = False) -> M:
    """One record of the tenant; another tenant's record is simply not found (404, not 403).

    `lock`: hold the row (Postgres FOR UPDATE) until the transaction ends, so two concurrent changes of the same
    record are made one after the other and the second sees the first."""
    statement = scoped(model, scope).where(model.id == record_id)  # type: ignore[attr-defined]
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    obj = await session.scalar(statement)
    if obj is None:
        raise NotFound(f"No {label} with id {record_id}.")
    return obj


async def get_referenced(session: AsyncSession, model: type[M], scope: TenantScope, record_id: int, field: str) -> M:
    """A record named in a request body. Missing or another tenant's: a 422 naming the field, never a leak."""
    obj = await session.scalar(scoped(model, scope).where(model.id == record_id))  # type: ignore[attr-defined,arg-type]
    if obj is None:
        label = field.removesuffix("_id")
        raise ValidationFailed(f"{field}: no {label} with id {record_id}.",
                               errors=[{"field": field, "message": f"no {label} with id {record_id}",
                                        "type": "not_found"}])
    return obj


async def subject_row(session: AsyncSession, model: type[R], record_id: int) -> R | None:
    """A run's subject row (lead, deal, contact, stage) by id, from the session's identity map when it holds it.
    The caller checks the row's tenant against the run's."""
    return await session.get(model, record_id)


async def pipelines_with_stages(session: AsyncSession,
                                scope: TenantScope) -> list[tuple[Pipeline, list[PipelineStage]]]:
    pipelines = (await session.scalars(scoped(Pipeline, scope).order_by(Pipeline.position, Pipeline.id))).all()
    stages = (await session.scalars(
        scoped(PipelineStage, scope).order_by(PipelineStage.position, PipelineStage.id))).all()
    by_pipeline: dict[int, list[PipelineStage]] = {}
    for stage in stages:
        by_pipeline.setdefault(stage.pipeline_id, []).append(stage)
    return [(p, by_pipeline.get(p.id, [])) for p in pipelines]


async def pipeline_by_key(session: AsyncSession, scope: TenantScope, key: str) -> Pipeline | None:
    return await session.scalar(scoped(Pipeline, scope).where(Pipeline.key == key))


async def pipelines_of(session: AsyncSession, scope: TenantScope) -> list[Pipeline]:
    return list((await session.scalars(scoped(Pipeline, scope))).all())


async def stages_of(session: AsyncSession, scope: TenantScope, pipeline_id: int) -> list[PipelineStage]:
    return list((await session.scalars(
        scoped(PipelineStage, scope).where(PipelineStage.pipeline_id == pipeline_id)
        .order_by(PipelineStage.position, PipelineStage.id))).all())


async def contact_by_email(session: AsyncSession, scope: TenantScope, email: str) -> Contact | None:
    return await session.scalar(scoped(Contact, scope).where(Contact.email == email))


async def contact_by_phone_without_email(session: AsyncSession, scope: TenantScope, phone: str) -> Contact | None:
    return await session.scalar(scoped(Contact, scope).where(Contact.phone == phone, Contact.email.is_(None)))


async def lead_by_external_id(session: AsyncSession, scope: TenantScope, external_id: str) -> Lead | None:
    return await session.scalar(scoped(Lead, scope).where(Lead.external_id == external_id))


async def lead_by_submission(session: AsyncSession, scope: TenantScope, contact_id: int,
                             fingerprint: str) -> Lead | None:
    """The contact's lead stored from a submission with this fingerprint (`Lead.submission_hash`)."""
    return await session.scalar(scoped(Lead, scope).where(Lead.contact_id == contact_id,
                                                          Lead.submission_hash == fingerprint))


async def contact_by_id(session: AsyncSession, scope: TenantScope, contact_id: int) -> Contact | None:
    return await session.scalar(scoped(Contact, scope).where(Contact.id == contact_id))


async def has_opted_out(session: AsyncSession, scope: TenantScope, contact_id: int) -> bool:
    """Whether the contact objected to marketing (a `MarketingOptOut` row outweighs any consent)."""
    return await session.scalar(select(MarketingOptOut.id).where(
        MarketingOptOut.tenant_id == scope.tenant_id, MarketingOptOut.contact_id == contact_id).limit(1)) is not None


def _created_range(stmt: S, column: Any, filters: Any) -> S:
    if filters.created_after is not None:
        stmt = stmt.where(column >= filters.created_after)
    if filters.created_before is not None:
        stmt = stmt.where(column < filters.created_before)
    return stmt


# The expressions the search indexes of migration 2025_03_16_search_indexes are built on (trigram on Postgres):
# the statement must use them exactly as written there.
# The space is inline SQL, not a bound value, so Postgres sees the very expression it indexed.
CONTACT_FULL_NAME = func.lower(Contact.first_name.op("||")(literal_column("' '")).op("||")(Contact.last_name))


def _matches(search: ContactSearch) -> ColumnElement[bool]:
    pattern = search.like_pattern()
    if search.kind == "phone":
        # Stored numbers are E.164 (+31612345678): digits and one leading +, so a digit run is found as is.
        return Contact.phone.like(pattern, escape="\\")
    if search.kind == "email":
        return Contact.email.like(pattern, escape="\\")  # stored lower-case
    name = CONTACT_FULL_NAME.like(pattern, escape="\\")
    if " " in search.fragment:  # no e-mail address holds a space: asking its index would only cost time
        return name
    return or_(name, Contact.email.like(pattern, escape="\\"))


async def list_contacts(session: AsyncSession, scope: TenantScope, filters: schemas.ContactFilters, sort: str | None,
                        page: PageParams) -> Window:
    stmt = scoped(Contact, scope)
    if filters.owner is not None:
        stmt = stmt.where(Contact.owner == filters.owner)
    if filters.email is not None:
        stmt = stmt.where(Contact.email == filters.email)
    if filters.search is not None:
        stmt = stmt.where(_matches(filters.search))
    stmt = _created_range(stmt, Contact.created_at, filters)
    window = await fetch_window(session, stmt, CONTACT_SORT.resolve(sort), page)
    return window._replace(rows=[row[0] for row in window.rows])


def _contacts_matching(scope: TenantScope, term: str) -> Select[int]:
    """Ids of the tenant's contacts a search text names, read as the contact search reads it (`contact_search`:
    part of a name or e-mail address, or a phone number in any notation)."""
    return select(Contact.id).where(Contact.tenant_id == scope.tenant_id, _matches(contact_search(term)))


async def list_leads(session: AsyncSession, scope: TenantScope, filters: schemas.LeadFilters, sort: str | None,
                     page: PageParams) -> Window:
    stmt = scoped(Lead, scope)
    for column, value in ((Lead.status, filters.status), (Lead.owner, filters.owner), (Lead.team, filters.team),
                          (Lead.priority, filters.priority), (Lead.event_type, filters.event_type),
                          (Lead.contact_id, filters.contact_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = _created_range(stmt, Lead.created_at, filters)
    if filters.search:
        stmt = stmt.where(Lead.contact_id.in_(_contacts_matching(scope, filters.search)))
    window = await fetch_window(session, stmt, LEAD_SORT.resolve(sort), page)
    return window._replace(rows=[row[0] for row in window.rows])


def deals_with_keys(scope: TenantScope) -> Select[Deal, str, str]:
    """Deals with their pipeline and stage keys, which is how clients and automations name them."""
    return (select(Deal, Pipeline.key, PipelineStage.key)
            .join(Pipeline, Pipeline.id == Deal.pipeline_id)
            .join(PipelineStage, PipelineStage.id == Deal.stage_id)
            .where(Deal.tenant_id == scope.tenant_id, Pipeline.tenant_id == scope.tenant_id))


async def deal_keys(session: AsyncSession, deal: Deal) -> tuple[str, str]:
    row = (await session.execute(
        select(Pipeline.key, PipelineStage.key).join(PipelineStage, PipelineStage.pipeline_id == Pipeline.id)
        .where(Pipeline.id == deal.pipeline_id, PipelineStage.id == deal.stage_id))).one()
    return row[0], row[1]


async def list_deals(session: AsyncSession, scope: TenantScope, filters: schemas.DealFilters, sort: str | None,
                     page: PageParams) -> tuple[list[tuple[Deal, str, str]], int]:
    stmt = deals_with_keys(scope)
    for column, value in ((Deal.status, filters.status), (Pipeline.key, filters.pipeline),
                          (PipelineStage.key, filters.stage), (Deal.owner, filters.owner),
                          (Deal.contact_id, filters.contact_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = _created_range(stmt, Deal.created_at, filters)
    rows, total = await fetch_page(session, stmt, DEAL_SORT.order_by(sort), page)
    return [(row[0], row[1], row[2]) for row in rows], total


async def deal_of_lead(session: AsyncSession, scope: TenantScope, lead_id: int) -> Deal | None:
    """The first deal that names this lead, if any."""
    return await session.scalar(scoped(Deal, scope).where(Deal.lead_id == lead_id).order_by(Deal.id).limit(1))


OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")


async def leads_without_deal(session: AsyncSession, scope: TenantScope, event_types: Sequence[str],
                             other_types: Sequence[str] | None, limit: int) -> tuple[list[Lead], int]:
    """Open leads no deal names yet, newest first, and how many there are: those of `event_types`, and when
    `other_types` is given (the catch-all pipeline) also those of any other type (or none) not among them."""
    stmt = scoped(Lead, scope).where(Lead.status.in_(OPEN_LEAD_STATUSES),
                                     ~select(Deal.id).where(Deal.tenant_id == scope.tenant_id,
                                                            Deal.lead_id == Lead.id).exists())
    matching: ColumnElement[bool] = Lead.event_type.in_(list(event_types))
    if other_types is not None:
        matching = or_(matching, Lead.event_type.is_(None), Lead.event_type.not_in(list(other_types)))
    stmt = stmt.where(matching)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(stmt.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit))
    return list(rows), int(total)


async def list_activities(session: AsyncSession, scope: TenantScope, filters: schemas.ActivityFilters, sort: str | None,
                          page: PageParams) -> Window:
    stmt = scoped(Activity, scope)
    for column, value in ((Activity.status, filters.status), (Activity.kind, filters.kind),
                          (Activity.owner, filters.owner), (Activity.team, filters.team),
                          (Activity.contact_id, filters.contact_id),
                          (Activity.lead_id, filters.lead_id), (Activity.deal_id, filters.deal_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.due_before is not None:
        stmt = stmt.where(Activity.due_at < filters.due_before)
    if filters.due_after is not None:
        stmt = stmt.where(Activity.due_at >= filters.due_after)
    stmt = _created_range(stmt, Activity.created_at, filters)
    window = await fetch_window(session, stmt, ACTIVITY_SORT.resolve(sort), page)
    return window._replace(rows=[row[0] for row in window.rows])




async def contacts_by_ids(session: AsyncSession, scope: TenantScope, ids: Iterable[int]) -> dict[int, Contact]:
    """The tenant's contacts among `ids`, by id (a list page names the people of its leads in one query)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(scoped(Contact, scope).where(Contact.id.in_(wanted)))
    return {row.id: row for row in rows}
