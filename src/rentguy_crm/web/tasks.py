"""Screen 5, Tasks (`/tasks`): my open tasks, or my team's, overdue and due today (today in the tenant's zone), and
completing one. The lists reload when a run finishes (automations give out tasks)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth import repository as users
from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import assignment
from rentguy_crm.crm import schemas as crm_schemas
from rentguy_crm.crm import service as crm
from rentguy_crm.errors import ValidationFailed
from rentguy_crm.kit import clock, inputs
from rentguy_crm.kit.pagination import PageParams
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.service import tenant_config
from rentguy_crm.web.access import require_page
from rentguy_crm.web.rendering import DEFAULT_ZONE, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require_page(Permission.CRM_READ))]
Completer = Annotated[Principal, Depends(require_page(Permission.ACTIVITIES_WRITE))]
View = Annotated[Literal["mine", "team"], Query()]
Team = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_]{1,64}$")]
SHOWN = 100  # per section; a person with more overdue tasks than this sees the count and the oldest first


async def _email_of(session: AsyncSession, principal: Principal) -> str | None:
    user = await users.get_user(session, principal.tenant_id, principal.user_id) if principal.user_id else None
    return user.email if user is not None else None


async def _choice(session: AsyncSession, principal: Principal, view: str, team: str | None) -> dict[str, Any]:
    """Whose tasks: mine (by e-mail address), or one team's (mine by default, refused when no such team)."""
    tenant = await tenants.by_id(session, principal.tenant_id)
    config = tenant_config(tenant) if tenant is not None else None
    teams = assignment.task_teams(config) if config else []
    email = await _email_of(session, principal)
    my_teams = assignment.teams_of(config, email, principal.roles) if config else []
    if team is not None and team not in teams:
        raise ValidationFailed(f"team: no team '{team}'; the teams are {', '.join(teams) or 'none'}.",
                               errors=[{"field": "team", "message": "unknown team"}])
    chosen = team or (my_teams[0] if my_teams else (teams[0] if teams else None))
    return {"view": view, "email": email, "teams": teams, "my_teams": my_teams, "team": chosen}


@router.get("/tasks")
async def tasks_page(request: Request, principal: Reader, session: Session, view: View = "mine",
                     team: Team = None) -> HTMLResponse:
    choice = await _choice(session, principal, view, team)
    query = f"view={view}" + (f"&team={choice['team']}" if view == "team" and choice["team"] else "")
    return render(request, "tasks/tasks.html", {"active": "tasks", **choice, "list_url": f"/ui/tasks/list?{query}"})


def _today_ends(now: dt.datetime, zone: str) -> dt.datetime:
    """The end of today in the tenant's zone, as UTC: what "due today" runs up to."""
    local = now.astimezone(ZoneInfo(zone))
    tomorrow = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(zone))
    return tomorrow.astimezone(dt.UTC)


@router.get("/ui/tasks/list")
async def task_list(request: Request, principal: Reader, session: Session, view: View = "mine",
                    team: Team = None) -> HTMLResponse:
    choice = await _choice(session, principal, view, team)
    now = clock.now()
    context: dict[str, Any] = {**choice, "overdue": None, "today": None, "now": now,
                               "can_complete": principal.can(Permission.ACTIVITIES_WRITE)}
    whose = {"owner": choice["email"]} if view == "mine" else {"team": choice["team"]}
    if all(whose.values()):
        ends = _today_ends(now, getattr(request.state, "tenant_zone", None) or DEFAULT_ZONE)
        shown = PageParams(limit=SHOWN, offset=0)
        context["overdue"] = await crm.list_activities(session, principal, crm_schemas.ActivityFilters(
            kind="task", status="open", due_before=now, **whose), "due_at", shown)
        context["today"] = await crm.list_activities(session, principal, crm_schemas.ActivityFilters(
            kind="task", status="open", due_after=now, due_before=ends, **whose), "due_at", shown)
    return render(request, "tasks/fragments/task_list.html", context)


@router.post("/ui/tasks/{task_id}/complete")
async def complete(request: Request, task_id: inputs.RecordId, principal: Completer,
                   session: Session) -> HTMLResponse:
    task = await crm.complete_activity(session, principal, task_id)
    return render(request, "tasks/fragments/task_row.html", {
        "task": crm_schemas.Activity.model_validate(task), "can_complete": True, "now": clock.now(),
        "notice": "completed"})
