"""The shape of the code, checked: layers import downward only and no packages import each other in a circle
(`[tool.importlinter]` in pyproject.toml, run by `lint-imports`), and tenant scopes are made only where a tenant
is proven (authentication) or an operator names one (commands)."""

from __future__ import annotations

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
