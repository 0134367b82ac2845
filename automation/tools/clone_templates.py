#!/usr/bin/env python3
"""Playbook entry point: clone templates into a tenant, or with --dry-run show which templates are live.

Same options as `crm templates clone`, e.g. `automation/tools/clone_templates.py --tenant mrdj --dry-run`.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

try:
    import typer  # noqa: F401
except ImportError:  # started with a system Python: use the checkout's virtual environment (make install)
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != venv_python.parents[1].resolve():
        os.execv(str(venv_python), [str(venv_python), __file__, *sys.argv[1:]])
    sys.exit("The suite's dependencies are not installed; run `make install` first.")
try:
    import rentguy_crm  # noqa: F401
except ImportError:  # the package is not installed: use the checkout's sources
    sys.path.insert(0, str(ROOT / "src"))

from rentguy_crm.cli import app  # noqa: E402

if __name__ == "__main__":
    sys.exit(app(["templates", "clone", *sys.argv[1:]], prog_name="clone_templates.py"))
