"""The shape of the code, checked: layers import downward only and no packages import each other in a circle
(`[tool.importlinter]` in pyproject.toml, run by `lint-imports`), tenant scopes are made only where a tenant
is proven (authentication) or an operator names one (commands), and every query lives in a `repository.py`."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

from rentguy_crm.config import PROJECT_ROOT

SRC = PROJECT_ROOT / "src" / "rentguy_crm"
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")

# Where a `TenantScope` may be made: authentication (a principal's proven tenant) and operators' commands (the
# tenant the operator names). Every other module receives one.
SCOPE_MAKERS = ("auth/", "cli.py", "provisioning.py", "quickstart.py",
               # System work on rows it already holds: claimed runs, events, scheduled jobs, workflow sync.
               "automation/engine/", "automation/runs/", "automation/workflows/service.py")
CONSTRUCTION = re.compile(r"\bTenantScope\(")


def test_import_contracts_are_kept() -> None:
    result = subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_broken_layer_would_be_reported(tmp_path: Path) -> None:
    """The contract is not vacuous: `kit` importing a domain is an upward import lint-imports names."""
    config = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert 'id = "layers-top-level"' in config and '"kit : errors",' in config
    # A copy of the package with one upward import, checked against the same contracts.
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy / "rentguy_crm", ignore=shutil.ignore_patterns("__pycache__"))
    clock = copy / "rentguy_crm" / "kit" / "clock.py"
    clock.write_text(clock.read_text() + "\nfrom rentguy_crm.crm import models as _models  # noqa: E402,F401\n")
    (tmp_path / "pyproject.toml").write_text(config)
    result = subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                            check=False, env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "rentguy_crm.kit.clock -> rentguy_crm.crm.models" in result.stdout


def test_tenant_scopes_are_made_only_by_authentication_and_operators_commands() -> None:
    makers = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative == "tenants/scope.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if CONSTRUCTION.search(line) and not line.lstrip().startswith("#"):
                makers.append((relative, number))
    outside = [f"{file}:{line}" for file, line in makers
               if not any(file.startswith(allowed) or file.endswith("/" + allowed) or file == allowed
                          for allowed in SCOPE_MAKERS)]
    assert makers, "no module makes a TenantScope: the check would pass whatever the code does"
    assert outside == []


# SQL that stays outside a repository, per file: (how many query calls, why it stays). A new query in any other
# file, or one more in these, fails below: it belongs in its package's repository.py, taking a TenantScope.
QUERIES_OUTSIDE_REPOSITORIES = {
    # The claim, lease renewal and release: hand-written per dialect (FOR UPDATE SKIP LOCKED, BEGIN IMMEDIATE),
    # the hot path of every worker, fenced by the lease owner, and across tenants by design; plus NOTIFY.
    "automation/runs/queue.py": (9, "the run queue's claim SQL"),
    # Counts and pages whatever statement a repository built; knows no table and no tenant.
    "kit/pagination.py": (6, "runs a repository's statement, one page at a time (by offset or by cursor)"),
    # Engine set-up: SQLite pragmas, BEGIN IMMEDIATE, the WAL checkpoint; no rows.
    "db.py": (6, "connection set-up"),
    # The migration head of the database (alembic_version), no tenant data.
    "health.py": (3, "the schema revision"),
    # The status page's database probe (SELECT 1).
    "web/status.py": (2, "the database probe"),
    # LISTEN on the raw connection: a worker waits for wake-ups; it reads no rows.
    "automation/engine/worker.py": (1, "LISTEN for new runs"),
}
_STATEMENTS = {"select", "insert", "update", "delete", "exists", "text", "union", "union_all"}
_RUNS = {"execute", "scalar", "scalars", "stream", "stream_scalars", "exec_driver_sql"}


def _is_model_name(name: str) -> bool:
    """`Contact`, `UserSession`: a mapped class; `CSRF_FIELD` is a constant (`mapping.get(CSRF_FIELD)`)."""
    return name[:1].isupper() and not name.isupper()


def query_calls(source: str) -> list[int]:
    """Lines of the calls that build a SQL statement (SQLAlchemy's `select`, `update`, `text`, ... as imported in
    the module) or run one on a session or connection (`execute`, `scalars`, `get(Model, id)`, ...)."""
    tree = ast.parse(source)
    from_sqlalchemy = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                       and (node.module or "").startswith("sqlalchemy") for alias in node.names}
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in from_sqlalchemy and \
                (func.id in _STATEMENTS or func.id.endswith("_insert")):
            lines.append(node.lineno)
        elif isinstance(func, ast.Attribute) and not isinstance(func.value, ast.Attribute) and (
                func.attr in _RUNS or (func.attr == "get" and node.args and isinstance(node.args[0], ast.Name)
                                       and _is_model_name(node.args[0].id))):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_query_scan_finds_queries() -> None:
    """The scan below is not vacuous: a statement built and run, and a row fetched by primary key, are found."""
    source = ("from sqlalchemy import select\n"
              "async def f(session):\n"
              "    await session.scalar(select(Contact).where(Contact.id == 1))\n"
              "    await session.get(Tenant, 1)\n"
              "    os.environ.get('X')\n"
              "    form.get(CSRF_FIELD)\n")
    assert query_calls(source) == [3, 3, 4]


def test_no_query_outside_a_repository() -> None:
    found: dict[str, list[int]] = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.endswith("repository.py") or relative.endswith("models.py"):  # models: index conditions only
            continue
        lines = query_calls(path.read_text())
        if lines:
            found[relative] = lines
    unexpected = {file: lines for file, lines in found.items()
                  if len(lines) > QUERIES_OUTSIDE_REPOSITORIES.get(file, (0, ""))[0]}
    assert unexpected == {}, "move these queries into the package's repository.py (taking a TenantScope)"
    stale = [file for file, (count, _why) in QUERIES_OUTSIDE_REPOSITORIES.items() if len(found.get(file, [])) < count]
    assert stale == [], "fewer queries than allowed: lower the count in QUERIES_OUTSIDE_REPOSITORIES"
