"""CRM API routes: wiring only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import repository, schemas, service
from rentguy_crm.kit import inputs
from rentguy_crm.kit.pagination import KeysetPageQuery, Page, PageQuery, SortOrder

router = APIRouter(tags=["crm"])

Reader = Annotated[Principal, Depends(require(Permission.CRM_READ))]
Writer = Annotated[Principal, Depends(require(Permission.CRM_WRITE))]
ActivityWriter = Annotated[Principal, Depends(require(Permission.ACTIVITIES_WRITE))]
RecordId = Annotated[inputs.RecordId, Path(description="Record id")]


def _sort(order: SortOrder) -> object:
    return Query(description=f"One of {', '.join(order.choices)} (default {order.default}); ties by id.")


ContactSort = Annotated[inputs.Text | None, _sort(repository.CONTACT_SORT)]
LeadSort = Annotated[inputs.Text | None, _sort(repository.LEAD_SORT)]
DealSort = Annotated[inputs.Text | None, _sort(repository.DEAL_SORT)]
ActivitySort = Annotated[inputs.Text | None, _sort(repository.ACTIVITY_SORT)]


@router.get("/pipelines", response_model=list[schemas.Pipeline], summary="Pipelines with their stages")
async def list_pipelines(session: Session, principal: Reader) -> list[schemas.Pipeline]:
    rows = await repository.pipelines_with_stages(session, principal.scope)
    return [
        schemas.Pipeline.model_validate(p).model_copy(
            update={"stages": [schemas.Stage.model_validate(s) for s in stages]})
        for p, stages in rows
    ]


# ---- contacts ----

@router.get("/contacts", response_model=Page[schemas.Contact], summary="List contacts")
async def list_contacts(session: Session, principal: Reader, page: KeysetPageQuery, sort: ContactSort = None,
                        filters: schemas.ContactFilters = Depends(schemas.contact_filters)) -> Page[schemas.Contact]:
    return await service.list_contacts(session, principal, filters, sort, page)


@router.post("/contacts", status_code=201, response_model=schemas.Contact, summary="Create a contact")
async def create_contact(body: schemas.ContactCreate, session: Session, principal: Writer) -> object:
    return await service.create_contact(session, principal, body)


@router.get("/contacts/{contact_id}", response_model=schemas.Contact, summary="Get a contact")
async def get_contact(contact_id: RecordId, session: Session, principal: Reader) -> object:
    return await service.get_contact(session, principal, contact_id)


@router.patch("/contacts/{contact_id}", response_model=schemas.Contact, summary="Change a contact")
async def update_contact(contact_id: RecordId, body: schemas.ContactUpdate, session: Session,
                         principal: Writer) -> object:
    return await service.update_contact(session, principal, contact_id, body)


# ---- leads ----

@router.get("/leads", response_model=Page[schemas.Lead], summary="List leads")
async def list_leads(session: Session, principal: Reader, page: KeysetPageQuery, sort: LeadSort = None,
                     filters: schemas.LeadFilters = Depends(schemas.lead_filters)) -> Page[schemas.Lead]:
    return await service.list_leads(session, principal, filters, sort, page)


@router.post("/leads", status_code=201, response_model=schemas.Lead,
             summary="Create a lead for a known contact (emits lead.created)")
async def create_lead(body: schemas.LeadCreate, session: Session, principal: Writer) -> object:
    return await service.create_lead(session, principal, body)


@router.get("/leads/{lead_id}", response_model=schemas.Lead, summary="Get a lead")
async def get_lead(lead_id: RecordId, session: Session, principal: Reader) -> object:
    return await service.get_lead(session, principal, lead_id)


@router.patch("/leads/{lead_id}", response_model=schemas.Lead,
              summary="Change a lead (a status change emits lead.status_changed)")
async def update_lead(lead_id: RecordId, body: schemas.LeadUpdate, session: Session, principal: Writer) -> object:
    return await service.update_lead(session, principal, lead_id, body)


# ---- deals ----

@router.get("/deals", response_model=Page[schemas.Deal], summary="List deals")
async def list_deals(session: Session, principal: Reader, page: PageQuery, sort: DealSort = None,
                     filters: schemas.DealFilters = Depends(schemas.deal_filters)) -> Page[schemas.Deal]:
    return await service.list_deals(session, principal, filters, sort, page)


@router.post("/deals", status_code=201, response_model=schemas.Deal, summary="Create a deal in a pipeline")
async def create_deal(body: schemas.DealCreate, session: Session, principal: Writer) -> schemas.Deal:
    return await service.deal_view(session, await service.create_deal(session, principal, body))


@router.get("/deals/{deal_id}", response_model=schemas.Deal, summary="Get a deal")
async def get_deal(deal_id: RecordId, session: Session, principal: Reader) -> schemas.Deal:
    return await service.deal_view(session, await service.get_deal(session, principal, deal_id))


@router.patch("/deals/{deal_id}", response_model=schemas.Deal, summary="Change a deal (not its stage)")
async def update_deal(deal_id: RecordId, body: schemas.DealUpdate, session: Session, principal: Writer) -> schemas.Deal:
    return await service.deal_view(session, await service.update_deal(session, principal, deal_id, body))


@router.post("/deals/{deal_id}/stage", response_model=schemas.Deal,
             summary="Move a deal to a stage (emits deal.stage.changed and deal.stage.<key>)")
async def move_deal(deal_id: RecordId, body: schemas.StageMove, session: Session, principal: Writer) -> schemas.Deal:
    return await service.deal_view(session, await service.move_deal(session, principal, deal_id, body))


# ---- activities ----

@router.get("/activities", response_model=Page[schemas.Activity], summary="List notes and tasks")
async def list_activities(session: Session, principal: Reader, page: KeysetPageQuery, sort: ActivitySort = None,
                          filters: schemas.ActivityFilters = Depends(schemas.activity_filters),
                          ) -> Page[schemas.Activity]:
    return await service.list_activities(session, principal, filters, sort, page)


@router.post("/activities", status_code=201, response_model=schemas.Activity, summary="Add a note or a task")
async def create_activity(body: schemas.ActivityCreate, session: Session, principal: ActivityWriter) -> object:
    return await service.create_activity(session, principal, body)


@router.get("/activities/{activity_id}", response_model=schemas.Activity, summary="Get a note or task")
async def get_activity(activity_id: RecordId, session: Session, principal: Reader) -> object:
    return await service.get_activity(session, principal, activity_id)


@router.patch("/activities/{activity_id}", response_model=schemas.Activity, summary="Change a note or task")
async def update_activity(activity_id: RecordId, body: schemas.ActivityUpdate, session: Session,
                          principal: ActivityWriter) -> object:
    return await service.update_activity(session, principal, activity_id, body)


@router.post("/activities/{activity_id}/complete", response_model=schemas.Activity, summary="Mark a task done")
async def complete_activity(activity_id: RecordId, session: Session, principal: ActivityWriter) -> object:
    return await service.complete_activity(session, principal, activity_id)
