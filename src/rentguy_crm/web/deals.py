"""What a card on the pipeline board can do: move to another stage (a drop or the keyboard's "Move", the API's
stage change with its automation), undo that move (back where it came from, and what it set off stopped), edit
owner, event date, title and value, and open a deal for a lead that has none. Every action says what it did in the
board's notice and tells the board to reload."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError

from rentguy_crm.auth import repository as users
from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.automation.runs import service as runs
from rentguy_crm.crm import board
from rentguy_crm.crm import repository as crm_records
from rentguy_crm.crm import schemas as crm_schemas
from rentguy_crm.crm import service as crm
from rentguy_crm.errors import ValidationFailed, field_errors
from rentguy_crm.kit import clock, inputs
from rentguy_crm.web.access import form_of, require_page
from rentguy_crm.web.pipelines import PipelineKey
from rentguy_crm.web.rendering import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require_page(Permission.CRM_READ))]
Writer = Annotated[Principal, Depends(require_page(Permission.CRM_WRITE))]
BOARD_CHANGED = {"HX-Trigger": "board-changed"}  # the board region reloads on this (see pipelines/board.html)
M = TypeVar("M", bound=BaseModel)


class UndoForm(BaseModel):
    move: inputs.RecordId


class OpenDealForm(BaseModel):
    lead_id: inputs.RecordId


def _parsed(model: type[M], values: dict[str, Any]) -> M:
    """A form as the API's body model: a wrong value is a 422 naming the field, as the API answers."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = field_errors(list(exc.errors()))
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), errors=errors) from None


async def _card(request: Request, session: Session, principal: Principal, deal_id: int, *,
                notice: str | None = None, editing: bool = False) -> HTMLResponse:
    view = await crm.deal_view(session, await crm.get_deal(session, principal, deal_id))
    shape = board.shape_named(await board.pipelines(session, principal), view.pipeline)
    people = await crm_records.contacts_by_ids(session, principal.scope, [view.contact_id])
    context = {"deal": view, "people": people, "stages": shape.stages, "notice": notice,
               "can_write": principal.can(Permission.CRM_WRITE)}
    if editing:
        owners = await users.assignable_emails(session, principal.tenant_id)
        context["owners"] = owners if view.owner is None or view.owner in owners else [view.owner, *owners]
        return render(request, "pipelines/fragments/deal_edit.html", context)
    return render(request, "pipelines/fragments/deal_card.html", context)


@router.get("/ui/deals/{deal_id}/card")
async def deal_card(request: Request, deal_id: inputs.RecordId, principal: Reader, session: Session) -> HTMLResponse:
    return await _card(request, session, principal, deal_id)


@router.get("/ui/deals/{deal_id}/edit")
async def deal_edit(request: Request, deal_id: inputs.RecordId, principal: Writer, session: Session) -> HTMLResponse:
    return await _card(request, session, principal, deal_id, editing=True)


@router.post("/ui/deals/{deal_id}")
async def save_deal(request: Request, deal_id: inputs.RecordId, principal: Writer, session: Session) -> HTMLResponse:
    form = await form_of(request)
    values: dict[str, Any] = {name: form.get(name, "").strip() or None
                              for name in ("title", "value", "owner", "event_date")}
    if values["title"] is None:
        raise ValidationFailed("title: a deal needs a title.", errors=[{"field": "title", "message": "required"}])
    current = await crm.get_deal(session, principal, deal_id)
    owner = values["owner"]
    known = await users.assignable_emails(session, principal.tenant_id)
    if owner is not None and owner != current.owner and owner not in known:
        raise ValidationFailed(f"'{owner[:100]}' is not one of this organisation's active people.",
                               errors=[{"field": "owner", "message": "unknown person"}])
    await crm.update_deal(session, principal, deal_id, _parsed(crm_schemas.DealUpdate, values))
    return await _card(request, session, principal, deal_id, notice="saved")


@router.post("/ui/deals/{deal_id}/stage")
async def move_deal(request: Request, deal_id: inputs.RecordId, principal: Writer, session: Session) -> HTMLResponse:
    move = _parsed(crm_schemas.StageMove, {"stage": (await form_of(request)).get("stage", "")})
    deal, left, move_id = await board.move(session, principal, deal_id, move.stage)
    view = await crm.deal_view(session, deal)
    shape = board.shape_named(await board.pipelines(session, principal), view.pipeline)
    names = {stage.key: stage.name for stage in shape.stages}
    flow = next((s.automation_flow for s in shape.stages if s.key == view.stage), None)
    return render(request, "pipelines/fragments/notice.html", {
        "kind": "moved" if move_id else "stayed", "deal": view, "move_id": move_id, "flow": flow,
        "from_name": names.get(left, left), "to_name": names.get(view.stage, view.stage)}, headers=BOARD_CHANGED)


@router.post("/ui/deals/{deal_id}/undo")
async def undo_move(request: Request, deal_id: inputs.RecordId, principal: Writer, session: Session) -> HTMLResponse:
    """Back where the move took the deal from; the runs the move started and that have not finished are cancelled
    (a mistaken drop must not send its reminders). Allowed to whoever may move deals: it only stops what their
    own kind of action set off."""
    form = _parsed(UndoForm, {"move": (await form_of(request)).get("move", "")})
    deal, move_events = await crm.undo_stage_move(session, principal, deal_id, form.move)
    stopped = await runs.cancel_runs_started_by(session, principal.scope, deal.id, move_events,
                                                actor=principal.actor, now=clock.now())
    view = await crm.deal_view(session, deal)
    shape = board.shape_named(await board.pipelines(session, principal), view.pipeline)
    names = {stage.key: stage.name for stage in shape.stages}
    return render(request, "pipelines/fragments/notice.html", {
        "kind": "undone", "deal": view, "to_name": names.get(view.stage, view.stage),
        "stopped": [run.workflow_key for run in stopped]}, headers=BOARD_CHANGED)


@router.post("/ui/pipelines/{key}/deals")
async def open_deal(request: Request, key: PipelineKey, principal: Writer, session: Session) -> HTMLResponse:
    form = _parsed(OpenDealForm, {"lead_id": (await form_of(request)).get("lead_id", "")})
    shape = board.shape_named(await board.pipelines(session, principal), key)
    deal = await board.deal_from_lead(session, principal, shape, form.lead_id)
    view = await crm.deal_view(session, deal)
    return render(request, "pipelines/fragments/notice.html", {
        "kind": "opened", "deal": view, "to_name": shape.stages[0].name if shape.stages else view.stage},
        headers=BOARD_CHANGED)
