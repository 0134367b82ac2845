"""Support API routes under /api/v1/support: wiring only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.kit import inputs
from rentguy_crm.kit.pagination import Page, PageQuery
from rentguy_crm.support import repository, schemas, service
from rentguy_crm.tenants.scope import TenantScope

router = APIRouter(tags=["support"])

Reader = Annotated[Principal, Depends(require(Permission.TICKETS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.TICKETS_WRITE))]
Number = Annotated[int, Path(ge=1, le=2_000_000_000, description="The ticket's number within the tenant")]


def _scope(principal: Principal) -> TenantScope:
    return principal.scope


@router.get("/tickets", response_model=Page[schemas.Ticket], summary="List tickets and incidents")
async def list_tickets(
    session: Session, principal: Reader, page: PageQuery,
    status: Annotated[str | None, Query(pattern=r"^(new|open|pending|resolved|closed|active)$")] = None,
    priority: Annotated[str | None, Query(pattern=r"^P[123]$")] = None,
    team: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,39}$",
                                      description="In this team's queue, assigned to or escalated to it")] = None,
    activity: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
    kind: Annotated[str | None, Query(pattern=r"^(ticket|incident)$")] = None,
    sort: Annotated[inputs.Text | None, Query(description="number, created_at, priority or due; - for descending")
                    ] = None,
) -> Page[schemas.Ticket]:
    return await service.list_tickets(session, _scope(principal), status=status, priority=priority, team=team,
                                      activity=activity, kind=kind, sort=sort, page=page)


@router.post("/tickets", status_code=201, response_model=schemas.Ticket, summary="Open a ticket")
async def create_ticket(body: schemas.TicketCreate, session: Session, principal: Writer) -> schemas.Ticket:
    return service.view(await service.create_ticket(session, _scope(principal), body, actor=principal.actor))


@router.get("/tickets/{number}", response_model=schemas.TicketDetail, summary="A ticket with its timeline")
async def get_ticket(number: Number, session: Session, principal: Reader) -> schemas.TicketDetail:
    return await service.detail(session, _scope(principal), number)


@router.post("/tickets/{number}/replies", status_code=201, response_model=schemas.TimelineItem,
             summary="Add a public reply")
async def reply(number: Number, body: schemas.Reply, session: Session, principal: Writer) -> object:
    return await service.reply(session, _scope(principal), number, body, actor=principal.actor)


@router.post("/tickets/{number}/notes", status_code=201, response_model=schemas.TimelineItem,
             summary="Add an internal note")
async def note(number: Number, body: schemas.Reply, session: Session, principal: Writer) -> object:
    return await service.note(session, _scope(principal), number, body, actor=principal.actor)


@router.post("/tickets/{number}/assignee", response_model=schemas.Ticket, summary="Assign to a user or team")
async def assign(number: Number, body: schemas.Assign, session: Session, principal: Writer) -> schemas.Ticket:
    return service.view(await service.assign(session, _scope(principal), number, body, actor=principal.actor))


@router.post("/tickets/{number}/status", response_model=schemas.Ticket, summary="Change the status")
async def change_status(number: Number, body: schemas.StatusChange, session: Session,
                        principal: Writer) -> schemas.Ticket:
    return service.view(await service.change_status(session, _scope(principal), number, body,
                                                    actor=principal.actor))


@router.post("/tickets/{number}/priority", response_model=schemas.Ticket, summary="Change the priority")
async def change_priority(number: Number, body: schemas.PriorityChange, session: Session,
                          principal: Writer) -> schemas.Ticket:
    return service.view(await service.change_priority(session, _scope(principal), number, body,
                                                      actor=principal.actor))


@router.post("/tickets/{number}/links", status_code=201, response_model=schemas.Link,
             summary="Link a lead, deal, run or alert")
async def link(number: Number, body: schemas.LinkCreate, session: Session, principal: Writer) -> object:
    return await service.link(session, _scope(principal), number, body, actor=principal.actor)


@router.post("/tickets/{number}/runbook", status_code=201, response_model=schemas.Tick,
             summary="Tick a runbook step")
async def tick(number: Number, body: schemas.RunbookTickCreate, session: Session, principal: Writer) -> object:
    return await service.tick_step(session, _scope(principal), number, body, actor=principal.actor)


@router.get("/sla/breaches", response_model=list[schemas.BreachCount], summary="SLA breaches per team and priority")
async def breaches(session: Session, principal: Reader) -> list[dict[str, object]]:
    return await repository.breach_counts(session, _scope(principal))
