"""Workflow API: the principal's tenant's stored workflows and their versions. Wiring only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.automation.workflows import repository, service
from rentguy_crm.automation.workflows.schemas import WorkflowDetail, WorkflowSummary
from rentguy_crm.kit.inputs import Text

router = APIRouter(tags=["automation"])

Reader = Annotated[Principal, Depends(require(Permission.AUTOMATION_READ))]


@router.get("/workflows", response_model=list[WorkflowSummary], summary="Current versions of the tenant's workflows")
async def list_workflows(session: Session, principal: Reader) -> list[WorkflowSummary]:
    rows = await repository.current_versions(session, principal.scope)
    return [WorkflowSummary.model_validate(service.summary(row)) for row in rows]


@router.get("/workflows/{key}", response_model=WorkflowDetail,
            summary="One workflow: triggers, retry, SLA and numbered steps")
async def show_workflow(
    key: Annotated[Text, Path(max_length=64, description="Workflow key, e.g. lead_intake")], session: Session,
    principal: Reader,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1,
                                         description="A stored version; default the current one")] = None,
) -> WorkflowDetail:
    detail = await service.describe_for_tenant(session, principal.scope, key, version)
    return WorkflowDetail.model_validate(detail)
