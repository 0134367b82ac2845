"""Every table that references contacts has a merge strategy: a new table without one fails here, and a merge
refuses to run rather than leave its rows pointing at a deleted contact."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table

from rentguy_crm.errors import ValidationFailed
from rentguy_crm.model_registry import metadata
from rentguy_crm.privacy import merge
from rentguy_crm.privacy import references as registry


def test_every_table_that_references_contacts_is_registered() -> None:
    references = registry.contact_references(metadata)
    assert ("leads", "contact_id") in references and ("deals", "contact_id") in references
    assert registry.unregistered(metadata) == [], (
        "register these in privacy/references.py (one line each, e.g. register('tickets')): "
        f"{registry.unregistered(metadata)}")


def _copy_with(name: str = "tickets") -> MetaData:
    copy = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(copy)
    Table(name, copy, Column("id", Integer, primary_key=True),
          Column("tenant_id", Integer), Column("requester_id", Integer, ForeignKey("contacts.id")))
    return copy


def test_a_new_table_with_a_foreign_key_to_contacts_is_reported() -> None:
    assert registry.unregistered(_copy_with()) == [("tickets", "requester_id")]


def test_a_contact_id_column_without_a_foreign_key_is_reported_too() -> None:
    copy = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(copy)
    Table("call_logs", copy, Column("id", Integer, primary_key=True), Column("contact_id", Integer))
    assert registry.unregistered(copy) == [("call_logs", "contact_id")]


async def test_a_merge_refuses_while_a_referencing_table_is_unregistered(db, factory) -> None:
    from rentguy_crm.auth.service import Principal

    tenant = await factory.tenant("mrdj")
    a = await factory.contact(tenant, email="a@example.nl")
    b = await factory.contact(tenant, email="b@example.nl")
    principal = Principal(tenant.id, tenant.slug, ("operations",), None, "test")
    async with db.session() as session:
        with pytest.raises(ValidationFailed, match=r"tickets\.requester_id"):
            await merge.merge_contacts(session, principal, a.id, b.id, reason="dup", metadata=_copy_with())


def test_registering_a_table_is_one_line() -> None:
    copy = _copy_with(name="loyalty_cards")
    registry.register("loyalty_cards", "requester_id")
    try:
        assert registry.unregistered(copy) == []
    finally:
        registry._REGISTRY.pop(("loyalty_cards", "requester_id"))
