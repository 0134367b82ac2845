"""Versions: one live version per template, enforced by the service and by the database, also under races."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from rentguy_crm.errors import NotFound, ValidationFailed
from rentguy_crm.templates import schemas, service
from rentguy_crm.templates.models import TemplateVersion
from tests.templates_support import draft, published


async def statuses(db, template_id: int) -> dict[int, str]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        rows = (await session.scalars(select(TemplateVersion).where(TemplateVersion.template_id == template_id))).all()
        return {v.version: v.status for v in rows}


async def test_publishing_archives_the_previous_live_version(db, factory) -> None:
    tenant = await factory.tenant()
    first = await published(db, tenant)
    second = await published(db, tenant, text="Hallo {{ contact.first_name }}")
    assert await statuses(db, first.template_id) == {1: "archived", 2: "live"}
    assert second.published_at is not None


async def test_database_refuses_a_second_live_version(db, factory) -> None:
    tenant = await factory.tenant()
    live = await published(db, tenant)
    other = await draft(db, tenant, text="Hallo {{ contact.first_name }}")
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await session.execute(update(TemplateVersion).where(TemplateVersion.id == other.id).values(status="live"))
    assert await statuses(db, live.template_id) == {1: "live", 2: "draft"}


async def test_concurrent_publishes_leave_exactly_one_live_version(db, factory) -> None:
    tenant = await factory.tenant()
    drafts = [await draft(db, tenant, text=f"Versie {i} {{{{ contact.first_name }}}}") for i in range(6)]

    async def publish(version_id: int) -> str:
        try:
            async with db.session() as session:
                await service.publish(session, tenant, version_id, "test")
            return "ok"
        except Exception as exc:  # a lost race must be a clean conflict, never a second live version
            return type(exc).__name__

    results = await asyncio.gather(*(publish(d.id) for d in drafts))
    assert set(results) <= {"ok", "Conflict"}
    final = await statuses(db, drafts[0].template_id)
    assert list(final.values()).count("live") == 1


async def test_editing_a_draft_changes_it_in_place(db, factory) -> None:
    tenant = await factory.tenant()
    version = await draft(db, tenant)
    async with db.session() as session:
        _t, edited = await service.edit(session, tenant, version.id,
                                        schemas.TemplateUpdate(subject="Nieuw onderwerp"), "test")
    assert (edited.id, edited.version, edited.subject) == (version.id, 1, "Nieuw onderwerp")


async def test_editing_the_live_version_makes_a_new_draft(db, factory) -> None:
    tenant = await factory.tenant()
    live = await published(db, tenant)
    async with db.session() as session:
        _t, edited = await service.edit(session, tenant, live.id, schemas.TemplateUpdate(subject="Anders"), "test")
    assert edited.id != live.id
    assert await statuses(db, live.template_id) == {1: "live", 2: "draft"}


async def test_publish_refuses_an_undeclared_variable_and_changes_nothing(db, factory) -> None:
    tenant = await factory.tenant()
    version = await draft(db, tenant, text="Hoi {{ contact.first_name }}\n{{ deal.value }}")
    with pytest.raises(ValidationFailed, match=r"undeclared variable 'deal' \(in text_body line 2\)"):
        async with db.session() as session:
            await service.publish(session, tenant, version.id, "test")
    assert await statuses(db, version.template_id) == {1: "draft"}


async def test_lookup_falls_back_to_english_when_dutch_is_missing(db, factory) -> None:
    tenant = await factory.tenant()
    await published(db, tenant, language="en", text="Hi {{ contact.first_name }}")
    async with db.session() as session:
        resolved = await service.resolve(session, tenant, "lead-welcome", "email")
    assert resolved.template.language == "en"


async def test_lookup_prefers_dutch_and_the_vertical_variant(db, factory) -> None:
    tenant = await factory.tenant()
    await published(db, tenant, language="en")
    await published(db, tenant, language="nl")
    await published(db, tenant, key="lead-welcome-wedding", language="nl")
    async with db.session() as session:
        plain = await service.resolve(session, tenant, "lead-welcome", "email")
        wedding = await service.resolve(session, tenant, "lead-welcome", "email", vertical="wedding")
    assert (plain.template.key, plain.template.language) == ("lead-welcome", "nl")
    assert wedding.template.key == "lead-welcome-wedding"


async def test_lookup_without_live_version_says_how_to_fix_it(db, factory) -> None:
    tenant = await factory.tenant()
    await draft(db, tenant)
    with pytest.raises(NotFound, match="no live version"):
        async with db.session() as session:
            await service.resolve(session, tenant, "lead-welcome", "email")
