"""The import contracts in pyproject.toml ([tool.importlinter]) hold: no import cycles inside automation, its
sub-packages import downward only (engine -> runs -> workflows), and the layers below automation never import it.
Checked by import-linter (`lint-imports`), so a new upward import or cycle fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT_IMPORTS, "--no-cache", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_every_import_contract_is_kept() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_automation_contracts_are_checked() -> None:
    result = lint_imports("--contract", "automation-acyclic", "--contract", "automation-layers",
                          "--contract", "automation-not-below")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout
