#!/usr/bin/env python3
"""Playbook entry point: `automation/workers.py pause --tenant mrdj --workflow lead_intake [--reason ...]`,
`resume`, `status`, `run`. One implementation, two doors: these are `crm workflows pause|resume` and
`crm workers status|run`."""

import sys
from pathlib import Path

try:
    import rentguy_crm  # noqa: F401
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rentguy_crm.automation.operations_cli import playbook_app

if __name__ == "__main__":
    playbook_app(prog_name="automation/workers.py")
