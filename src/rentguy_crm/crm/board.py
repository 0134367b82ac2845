"""The pipeline board: a pipeline with its stages, the deals in each stage, the open leads of the pipeline's event
types that no deal names yet, and a deal made from such a lead. Flushes, never commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import repository, schemas, service
from rentguy_crm.crm.models import Deal, Lead, Pipeline, PipelineStage
from rentguy_crm.errors import Conflict, NotFound
from rentguy_crm.events import repository as event_records
from rentguy_crm.kit.pagination import PageParams

CATCH_ALL = "*"  # a pipeline whose event types hold "*" takes the leads no other pipeline names


@dataclass(frozen=True)
class PipelineShape:
    pipeline: Pipeline
    stages: list[PipelineStage]


@dataclass(frozen=True)
class Column:
    stage: PipelineStage
    deals: list[schemas.Deal]
    total: int


async def pipelines(session: AsyncSession, principal: Principal) -> list[PipelineShape]:
    return [PipelineShape(p, stages) for p, stages in await repository.pipelines_with_stages(session, principal.scope)]


def shape_named(shapes: list[PipelineShape], key: str) -> PipelineShape:
    for shape in shapes:
        if shape.pipeline.key == key:
            return shape
    known = ", ".join(s.pipeline.key for s in shapes) or "none"
    raise NotFound(f"No pipeline '{key[:64]}'; this organisation's pipelines are: {known}.")


async def columns(session: AsyncSession, principal: Principal, shape: PipelineShape, per_stage: int) -> list[Column]:
    """Each stage with its most recently moved deals first (at most `per_stage`) and how many it holds."""
    out = []
    for stage in shape.stages:
        page = await service.list_deals(session, principal,
                                        schemas.DealFilters(pipeline=shape.pipeline.key, stage=stage.key),
                                        "-stage_changed_at", PageParams(limit=per_stage, offset=0))
        out.append(Column(stage, page.items, page.total))
    return out


async def waiting_leads(session: AsyncSession, principal: Principal, shape: PipelineShape,
                        shapes: list[PipelineShape], limit: int) -> tuple[list[Lead], int]:
    """The open leads of this pipeline's event types without a deal, newest first, and how many there are."""
    types = [t for t in shape.pipeline.event_types if t != CATCH_ALL]
    named = None
    if CATCH_ALL in shape.pipeline.event_types:
        named = sorted({t for s in shapes for t in s.pipeline.event_types if t != CATCH_ALL})
    return await repository.leads_without_deal(session, principal.scope, types, named, limit)


async def deal_from_lead(session: AsyncSession, principal: Principal, shape: PipelineShape, lead_id: int) -> Deal:
    """A deal in the pipeline's first stage for a lead without one: titled after the event and the person, with the
    lead's owner and event date (the same create as the API's, audited, `deal.created`)."""
    await repository.get_referenced(session, Lead, principal.scope, lead_id, "lead_id")  # a 422 naming the field
    lead = await repository.get_scoped(session, Lead, principal.scope, lead_id, "lead", lock=True)
    existing = await repository.deal_of_lead(session, principal.scope, lead.id)
    if existing is not None:
        raise Conflict(f"Lead {lead.id} already has deal {existing.id}.", extra={"existing_id": existing.id})
    people = await repository.contacts_by_ids(session, principal.scope, [lead.contact_id])
    person = people.get(lead.contact_id)
    name = f"{person.first_name} {person.last_name}".strip() if person else ""
    title = " ".join(part for part in ((lead.event_type or "").capitalize(), name) if part) or f"Lead {lead.id}"
    body = schemas.DealCreate(lead_id=lead.id, pipeline=shape.pipeline.key, title=title[:300], owner=lead.owner,
                              event_date=lead.event_date)
    return await service.create_deal(session, principal, body)


async def move(session: AsyncSession, principal: Principal, deal_id: int, stage: str) -> tuple[Deal, str, int | None]:
    """A drop on the board: the API's stage move (same service, same automation). Answers the deal, the stage it
    left, and the id of the move's `deal.stage.changed` event (what an undo names; None when it stayed put)."""
    deal = await service.get_deal(session, principal, deal_id)
    left_stage_id = deal.stage_id
    _pipeline_key, left_key = await repository.deal_keys(session, deal)
    deal = await service.move_deal(session, principal, deal_id, schemas.StageMove(stage=stage))
    if deal.stage_id == left_stage_id:
        return deal, left_key, None
    event = await event_records.latest_of_subject(session, principal.scope, "deal", deal.id, "deal.stage.changed")
    return deal, left_key, event.id if event is not None else None
