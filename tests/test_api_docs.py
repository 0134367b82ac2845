"""docs/api.md stays true: its roles table is the one in auth/permissions.py, and it lists every API route."""

from __future__ import annotations

import re

from rentguy_crm.auth.permissions import ROLES, Permission
from rentguy_crm.config import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def _roles_table() -> dict[str, set[str]]:
    lines = [line for line in DOC.splitlines() if line.startswith("| `") and line.count("|") == 8]
    header = next(line for line in DOC.splitlines() if line.startswith("| permission |"))
    roles = [cell.strip() for cell in header.strip("|").split("|")[2:]]
    granted: dict[str, set[str]] = {role: set() for role in roles}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        permission = cells[0].strip("`")
        for role, mark in zip(roles, cells[2:], strict=True):
            if mark:
                granted[role].add(permission)
    return granted


def test_roles_table_matches_the_permissions_module() -> None:
    expected = {role: {p.value for p in perms} for role, perms in ROLES.items()}
    assert _roles_table() == expected
    assert {p.value for p in Permission} <= set().union(*_roles_table().values())


def test_every_api_route_is_documented(app) -> None:
    documented = set(re.findall(r"`(GET|POST|PATCH|PUT|DELETE) (/api/[^`]+)`", DOC))
    # From the OpenAPI document: routers are included lazily, so app.routes does not list their routes.
    paths = app.openapi()["paths"]
    routes = {(method.upper(), re.sub(r"\{[a-z_]+\}", "{id}", path)) for path, operations in paths.items()
              if path.startswith(("/api/v1/crm", "/api/v1/audit")) for method in operations}
    assert len(routes) >= 20
    assert routes - documented == set()
