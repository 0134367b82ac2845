#!/usr/bin/env python3
"""Playbook entry point: `automation/workers.py pause --tenant mrdj --workflow lead_intake [--reason ...]`,
`resume`, `status`, `run`. One implementation, two doors: these are `crm workflows pause|resume` and
`crm workers status|run`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checkout_env import use_checkout

use_checkout(__file__)

import rentguy_crm.cli  # noqa: E402,F401  (the suite's errors read as one line here too)
from rentguy_crm.automation.engine.cli import playbook_app  # noqa: E402

if __name__ == "__main__":
    playbook_app(prog_name="automation/workers.py")
