"""Screen 4, Pipelines (`/pipelines/{key}`): a board per pipeline with a column per stage and the deals as cards,
and before them the pipeline's open leads that have no deal yet. The board is a fragment that reloads when a lead is
captured or a deal changes anywhere (server-sent events), so a new lead or deal appears unasked. What a card can do
(move, undo, edit, open a deal from a lead) lives in `web.deals`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import board
from rentguy_crm.crm import repository as crm_records
from rentguy_crm.events import repository as events
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.web import live
from rentguy_crm.web.access import require_page
from rentguy_crm.web.rendering import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require_page(Permission.CRM_READ))]
PipelineKey = Annotated[str, PathParam(max_length=64, pattern=r"^[a-z0-9_]{1,64}$")]
PER_STAGE = 50      # the most recently moved deals of a stage; the column says how many more it holds
LEADS_SHOWN = 25
DEAL_EVENTS = ("deal.created", "deal.updated", "deal.stage.changed")


async def _deals_start(session: AsyncSession, scope: TenantScope) -> int:
    return await events.latest_id(session, scope)


async def _deals_read(session: AsyncSession, scope: TenantScope, mark: int) -> tuple[int, list[live.LiveEvent]]:
    found = await events.after(session, scope, mark, DEAL_EVENTS)
    return (found[-1].id if found else mark), [
        live.LiveEvent("deal-changed", Permission.CRM_READ, {"deal_id": e.subject_id}) for e in found]


live.add_source("deals", live.LiveSource(_deals_start, _deals_read))


@router.get("/pipelines")
async def first_board(request: Request, principal: Reader, session: Session) -> Response:
    shapes = await board.pipelines(session, principal)
    if not shapes:
        return render(request, "pipelines/board.html", {"active": "pipelines", "shapes": [], "shape": None})
    return RedirectResponse(f"/pipelines/{shapes[0].pipeline.key}", status_code=303)


@router.get("/pipelines/{key}")
async def board_page(request: Request, key: PipelineKey, principal: Reader, session: Session) -> HTMLResponse:
    shapes = await board.pipelines(session, principal)
    return render(request, "pipelines/board.html", {
        "active": "pipelines", "shapes": shapes, "shape": board.shape_named(shapes, key)})


async def board_context(session: AsyncSession, principal: Principal, key: str) -> dict[str, Any]:
    shapes = await board.pipelines(session, principal)
    shape = board.shape_named(shapes, key)
    columns = await board.columns(session, principal, shape, PER_STAGE)
    leads, lead_total = await board.waiting_leads(session, principal, shape, shapes, LEADS_SHOWN)
    people = await crm_records.contacts_by_ids(
        session, principal.scope, [d.contact_id for c in columns for d in c.deals] + [le.contact_id for le in leads])
    return {"shape": shape, "columns": columns, "leads": leads, "lead_total": lead_total, "people": people,
            "stages": shape.stages, "can_write": principal.can(Permission.CRM_WRITE)}


@router.get("/ui/pipelines/{key}/board")
async def board_fragment(request: Request, key: PipelineKey, principal: Reader, session: Session) -> HTMLResponse:
    return render(request, "pipelines/fragments/board.html", await board_context(session, principal, key))
