"""Small builders for template tests."""

from __future__ import annotations

from rentguy_crm.db import Database
from rentguy_crm.templates import schemas, service
from rentguy_crm.templates.models import TemplateVersion
from rentguy_crm.tenants.models import Tenant


async def draft(db: Database, tenant: Tenant, key: str = "lead-welcome", text: str = "Hoi {{ contact.first_name }}",
                language: str = "nl", channel: str = "email") -> TemplateVersion:
    body = schemas.TemplateCreate(key=key, channel=channel, language=language,  # type: ignore[arg-type]
                                  subject="Welkom" if channel == "email" else None, text_body=text,
                                  variables=["contact.first_name"])
    async with db.session() as session:
        _t, version = await service.create_draft(session, tenant, body, "test")
        return version


async def published(db: Database, tenant: Tenant, **kwargs: str) -> TemplateVersion:
    version = await draft(db, tenant, **kwargs)
    async with db.session() as session:
        return await service.publish(session, tenant, version.id, "test")
