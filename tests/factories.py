"""Small builders for test data; each commits so the code under test sees it like production rows."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

from rentguy_crm.auth import service as keys
from rentguy_crm.auth import sessions
from rentguy_crm.auth.models import User
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead, Pipeline, PipelineStage
from rentguy_crm.db import Database
from rentguy_crm.provisioning import provision_tenant
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.config import parse_config
from rentguy_crm.tenants.models import Tenant

MRDJ_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tenants" / "mrdj.json"

# Unique suffixes for people the factory makes. Never `id()` of a temporary: CPython hands the same address to the
# next object once the first is freed, so two contacts made one after another could share an e-mail address.
_SERIAL = itertools.count(1)


def tenant_document(slug: str = "mrdj", **overrides: Any) -> dict[str, Any]:
    """The Mr. DJ config, re-slugged for other test tenants."""
    doc = json.loads(MRDJ_CONFIG.read_text())
    # The shipped channels name production secrets; a test tenant gets the channels its test gives it.
    doc.pop("channels", None)
    if slug != "mrdj":
        doc["slug"] = slug
        doc["name"] = f"Tenant {slug}"
        doc["aliases"] = [f"{slug}-alias"]
    doc.update(copy.deepcopy(overrides))
    return doc


class Factory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def tenant(self, slug: str = "mrdj", **overrides: Any) -> Tenant:
        config = parse_config(tenant_document(slug, **overrides))
        async with self.db.session() as session:
            await provision_tenant(session, config, actor="test")
            return await tenants.get(session, slug)

    async def api_key(self, tenant: Tenant, *roles: str, name: str = "test key") -> str:
        async with self.db.session() as session:
            _key, raw = await keys.create_key(session, tenant, name=name, roles=list(roles or ("admin",)))
            return raw

    async def headers(self, tenant: Tenant, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.api_key(tenant, *roles)}"}

    async def session_headers(self, tenant: Tenant, *roles: str) -> dict[str, str]:
        """A signed-in person's session cookie (and its CSRF token) with these roles: a principal like a key."""
        async with self.db.session() as session:
            user = User(tenant_id=tenant.id, directory_id="test-directory", object_id=f"oid-{next(_SERIAL)}",
                        roles=list(roles or ("admin",)))
            session.add(user)
            await session.flush()
            _row, raw = await sessions.start_session(session, tenant, user, roles=list(roles or ("admin",)),
                                                     method="sso", lifetimes=sessions.Lifetimes())
        return {"Cookie": f"{sessions.SESSION_COOKIE}={raw}", sessions.CSRF_HEADER: sessions.csrf_token_for(raw)}

    async def credentials(self, kind: str, tenant: Tenant, *roles: str) -> dict[str, str]:
        """Headers of an API key (`kind="key"`) or a session (`kind="session"`) with these roles."""
        if kind == "session":
            return await self.session_headers(tenant, *roles)
        return await self.headers(tenant, *roles)

    async def contact(self, tenant: Tenant, **values: Any) -> Contact:
        values.setdefault("first_name", "Anna")
        values.setdefault("last_name", "de Vries")
        values.setdefault("email", f"anna{next(_SERIAL)}@example.nl")
        return await self._add(Contact(tenant_id=tenant.id, **values))

    async def lead(self, tenant: Tenant, contact: Contact | None = None, **values: Any) -> Lead:
        contact = contact or await self.contact(tenant)
        values.setdefault("event_type", "bruiloft")
        return await self._add(Lead(tenant_id=tenant.id, contact_id=contact.id, **values))

    async def stage(self, tenant: Tenant, pipeline_key: str = "wedding", stage_key: str = "new") -> PipelineStage:
        from sqlalchemy import select

        async with self.db.session() as session:
            stage = await session.scalar(
                select(PipelineStage).join(Pipeline, Pipeline.id == PipelineStage.pipeline_id)
                .where(Pipeline.tenant_id == tenant.id, Pipeline.key == pipeline_key,
                       PipelineStage.key == stage_key))
            assert stage is not None, f"no stage {pipeline_key}.{stage_key}"
            return stage

    async def deal(self, tenant: Tenant, contact: Contact | None = None, stage_key: str = "new",
                   pipeline_key: str = "wedding", **values: Any) -> Deal:
        contact = contact or await self.contact(tenant)
        stage = await self.stage(tenant, pipeline_key, stage_key)
        values.setdefault("title", "Bruiloft Anna & Tom")
        return await self._add(Deal(tenant_id=tenant.id, contact_id=contact.id, pipeline_id=stage.pipeline_id,
                                    stage_id=stage.id, **values))

    async def activity(self, tenant: Tenant, **values: Any) -> Activity:
        values.setdefault("title", "Bel terug")
        return await self._add(Activity(tenant_id=tenant.id, **values))

    async def _add(self, obj: Any) -> Any:
        async with self.db.session() as session:
            session.add(obj)
            await session.flush()
            await session.refresh(obj)
        return obj
