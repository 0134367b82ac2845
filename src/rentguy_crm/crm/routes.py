"""CRM API routes: wiring only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import repository, schemas

router = APIRouter(tags=["crm"])

Reader = Annotated[Principal, Depends(require(Permission.CRM_READ))]


@router.get("/pipelines", response_model=list[schemas.Pipeline], summary="Pipelines with their stages")
async def list_pipelines(session: Session, principal: Reader) -> list[schemas.Pipeline]:
    rows = await repository.pipelines_with_stages(session, principal.tenant_id)
    return [
        schemas.Pipeline.model_validate(p).model_copy(
            update={"stages": [schemas.Stage.model_validate(s) for s in stages]})
        for p, stages in rows
    ]
