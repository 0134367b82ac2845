"""Template API routes (`/api/v1/templates`): wiring only. Sales and support read; operations edit and publish."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.kit.inputs import RecordId, Text
from rentguy_crm.templates import cloning, schemas, service
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant

router = APIRouter(tags=["templates"])

Reader = Annotated[Principal, Depends(require(Permission.TEMPLATES_READ))]
Writer = Annotated[Principal, Depends(require(Permission.TEMPLATES_WRITE))]
TemplateId = Annotated[RecordId, Path(description="Template id")]
VersionId = Annotated[RecordId, Path(description="Template version id")]


async def _tenant(session: Session, principal: Principal) -> Tenant:
    tenant = await tenants.by_scope(session, principal.scope)
    assert tenant is not None  # the key's tenant exists while the key authenticates
    return tenant


@router.get("", response_model=list[schemas.TemplateSummary], summary="The tenant's templates")
async def list_templates(session: Session, principal: Reader, key: Annotated[Text | None, Query(max_length=64)] = None,
                         channel: schemas.Channel | None = None,
                         language: schemas.Language | None = None) -> list[schemas.TemplateSummary]:
    return await service.list_summaries(session, await _tenant(session, principal), key=key, channel=channel,
                                        language=language)


@router.post("", response_model=schemas.TemplateVersion, status_code=201, summary="Create a draft")
async def create_draft(body: schemas.TemplateCreate, session: Session, principal: Writer) -> schemas.TemplateVersion:
    _template, version = await service.create_draft(session, await _tenant(session, principal), body, principal.name)
    return service.version_view(version)


@router.post("/clone", response_model=schemas.CloneReport, summary="Clone the base library or another tenant")
async def clone(body: schemas.CloneRequest, session: Session, principal: Writer) -> schemas.CloneReport:
    tenant = await _tenant(session, principal)
    return await cloning.clone(session, tenant.slug, from_tenant=body.from_tenant, only=body.only,
                               publish=body.publish, force=body.force, dry_run=body.dry_run, actor=principal.name)


@router.get("/{template_id}", response_model=schemas.Template, summary="A template with its versions")
async def show(template_id: TemplateId, session: Session, principal: Reader) -> schemas.Template:
    return await service.detail(session, await _tenant(session, principal), template_id)


@router.get("/{template_id}/diff", response_model=schemas.Diff, summary="Newest draft against the live version")
async def diff(template_id: TemplateId, session: Session, principal: Reader) -> schemas.Diff:
    return await service.diff(session, await _tenant(session, principal), template_id)


@router.patch("/versions/{version_id}", response_model=schemas.TemplateVersion,
              summary="Edit a draft (editing a live version makes a new draft)")
async def edit(version_id: VersionId, body: schemas.TemplateUpdate, session: Session,
               principal: Writer) -> schemas.TemplateVersion:
    _template, version = await service.edit(session, await _tenant(session, principal), version_id, body,
                                            principal.name)
    return service.version_view(version)


@router.post("/versions/{version_id}/preview", response_model=schemas.Preview,
             summary="Render with sample data, or a real lead/deal (lead_id, deal_id)")
async def preview(version_id: VersionId, session: Session, principal: Reader,
                  body: schemas.PreviewRequest | None = None) -> schemas.Preview:
    return await service.preview(session, await _tenant(session, principal), principal.scope, version_id,
                                 body or schemas.PreviewRequest())


@router.post("/versions/{version_id}/publish", response_model=schemas.TemplateVersion,
             summary="Publish a draft; the previous live version is archived")
async def publish(version_id: VersionId, session: Session, principal: Writer) -> schemas.TemplateVersion:
    version = await service.publish(session, await _tenant(session, principal), version_id, principal.name)
    return service.version_view(version)


@router.post("/versions/{version_id}/archive", response_model=schemas.TemplateVersion, summary="Archive a version")
async def archive(version_id: VersionId, session: Session, principal: Writer) -> schemas.TemplateVersion:
    version = await service.archive(session, await _tenant(session, principal), version_id, principal.name)
    return service.version_view(version)
