"""What publishing renders a template against before it goes live, and which values may be empty.

Samples are real rows that were never saved, turned into variables the way a run's subject rows are
(`kit.rows.public`), so a template sees a `date` for `lead.event_date`, a `Decimal` for `deal.value` and `None`
for an empty optional field, exactly as it will when a run sends it. Two samples (every field filled; every
optional field empty) and the tenant's most recent real leads and deals must all render.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import job_scope
from rentguy_crm.crm.models import Contact, Deal, Lead
from rentguy_crm.crm.variables import subject_variables
from rentguy_crm.kit import rows
from rentguy_crm.templates import repository
from rentguy_crm.templates.rendering import BRAND_TOKENS
from rentguy_crm.tenants.models import Tenant

RECORDS: dict[str, Any] = {"lead": Lead, "deal": Deal, "contact": Contact}
# Brand tokens a tenant config may leave out (build_context gives them None).
OPTIONAL_BRAND = ("brand.secondary_color", "brand.website")
RECENT_RECORDS = 5


@lru_cache(maxsize=1)
def may_be_empty() -> frozenset[str]:
    """Record fields a real row can leave empty: nullable columns, and text columns that default to ""."""
    empty: set[str] = set(OPTIONAL_BRAND)
    for name, model in RECORDS.items():
        for column in inspect(model).columns:
            default = getattr(column.default, "arg", None)
            if column.nullable or default == "":
                empty.add(f"{name}.{column.key}")
    return frozenset(empty)


def _filled() -> dict[str, Any]:
    now = dt.datetime(2026, 5, 4, 9, 30, tzinfo=dt.UTC)
    contact = Contact(id=1001, tenant_id=1, first_name="Anna", last_name="de Vries", email="anna@example.nl",
                      phone="+31612345678", company="De Vries Events", marketing_opt_in=True, owner="sanne@mr-dj.nl",
                      created_at=now, updated_at=now)
    lead = Lead(id=2001, tenant_id=1, contact_id=1001, external_id="web-2001", status="new", source="website_form",
                event_type="bruiloft", event_date=dt.date(2027, 6, 12), guests=120, venue="Kasteel de Haar",
                city="Utrecht", budget=Decimal("2500.00"), message="Graag een DJ en licht voor de avond.",
                priority="high", team="wedding_specialists", owner="sanne@mr-dj.nl", flags=[],
                utm={"source": "google"}, created_at=now, updated_at=now)
    deal = Deal(id=3001, tenant_id=1, contact_id=1001, lead_id=2001, pipeline_id=1, stage_id=1,
                title="Bruiloft Anna & Tom", value=Decimal("1450.00"), currency="EUR", owner="sanne@mr-dj.nl",
                event_date=dt.date(2027, 6, 12), status="open", stage_changed_at=now, created_at=now, updated_at=now)
    return {"lead": lead, "deal": deal, "contact": contact}


def _emptied(record: Any) -> Any:
    for column in inspect(type(record)).columns:
        if column.nullable:
            setattr(record, column.key, None)
        elif getattr(column.default, "arg", None) == "":
            setattr(record, column.key, "")
    return record


def sample_records(*, empty: bool) -> dict[str, Any]:
    """The variables of a run about the sample lead, contact and deal, with every optional field empty or not."""
    records = {name: _emptied(row) if empty else row for name, row in _filled().items()}
    variables: dict[str, Any] = {name: rows.public(row) for name, row in records.items()}
    variables["deal"]["stage"] = "proposal_sent"
    variables["run"] = {"id": 4001, "workflow": "lead_intake", "attempt": 1}
    return variables


@dataclass
class Sample:
    label: str  # says in a refusal which data failed: "sample data with every optional field empty", "lead #12"
    variables: dict[str, Any]


def typed_samples() -> Iterator[Sample]:
    yield Sample("sample data", sample_records(empty=False))
    yield Sample("sample data with every optional field empty", sample_records(empty=True))


async def recent_real(session: AsyncSession, tenant: Tenant, roots: set[str]) -> list[Sample]:
    """The tenant's most recent leads and deals as a run would see them (only when the template uses them)."""
    samples: list[Sample] = []
    if roots & {"lead", "contact"}:
        for lead_id in await repository.recent_lead_ids(session, job_scope(tenant.id), RECENT_RECORDS):
            samples.append(Sample(f"lead #{lead_id}",
                                  await subject_variables(session, tenant, lead_id=lead_id, deal_id=None)))
    if roots & {"deal", "contact"}:
        for deal_id in await repository.recent_deal_ids(session, job_scope(tenant.id), RECENT_RECORDS):
            samples.append(Sample(f"deal #{deal_id}",
                                  await subject_variables(session, tenant, lead_id=None, deal_id=deal_id)))
    return samples


def brand_sample() -> dict[str, Any]:
    return {t: None if f"brand.{t}" in OPTIONAL_BRAND else f"[brand.{t}]" for t in BRAND_TOKENS}
