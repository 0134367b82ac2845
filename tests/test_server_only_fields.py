"""Fields that never leave the server (`kit.rows.SERVER_ONLY`: the tenant, consent details, hashes, secrets) are
in no response schema of the API, and not in the answers that carry whole rows or free-form snapshots."""

from __future__ import annotations

from typing import Any

import httpx

from rentguy_crm.kit.rows import SERVER_ONLY
from tests.intake.test_pipeline import PUBLIC, form


def _properties(schema: Any, components: dict[str, Any], seen: set[str]) -> set[str]:
    """Every property name a response schema can contain, following `$ref`s and combinators."""
    if isinstance(schema, list):
        return set().union(*(_properties(s, components, seen) for s in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    names: set[str] = set()
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return set()
        seen.add(name)
        return _properties(components.get(name, {}), components, seen)
    names |= set(schema.get("properties", {}))
    for key in ("properties",):
        for sub in schema.get(key, {}).values():
            names |= _properties(sub, components, seen)
    for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
        names |= _properties(schema.get(key), components, seen)
    return names


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(_keys(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    return set()


async def test_no_response_schema_names_a_server_only_field(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    components = doc["components"]["schemas"]
    exposed = {}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for code, response in operation.get("responses", {}).items():
                for content in response.get("content", {}).values():
                    found = _properties(content.get("schema"), components, set()) & SERVER_ONLY
                    if found:
                        exposed[f"{method.upper()} {path} {code}"] = sorted(found)
    assert doc["paths"], "no operations: the walk would pass whatever the schemas say"
    assert exposed == {}


async def test_audit_snapshots_are_shown_without_server_only_fields(client: httpx.AsyncClient, factory,
                                                                    mrdj) -> None:
    """A contact with a recorded consent (IP address, browser) changed by staff: the audit entry stores the whole
    row, the answer shows it without the consent record and the tenant."""
    created = await client.post(PUBLIC, json=form(marketing_opt_in=True))
    assert created.status_code == 201, created.text
    headers = await factory.headers(mrdj, "admin")
    contact_id = created.json()["contact_id"]
    changed = await client.patch(f"/api/v1/crm/contacts/{contact_id}", json={"company": "De Vries Events"},
                                 headers=headers)
    assert changed.status_code == 200, changed.text
    assert SERVER_ONLY.isdisjoint(_keys(changed.json()))
    entries = (await client.get("/api/v1/audit", headers=headers)).json()["items"]
    snapshots = [e[side] for e in entries for side in ("before", "after") if e[side]]
    assert any("company" in s for s in snapshots)
    assert SERVER_ONLY.isdisjoint(_keys(snapshots))
