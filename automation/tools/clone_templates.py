#!/usr/bin/env python3
"""Playbook entry point: clone templates into a tenant, or with --dry-run show which templates are live.

Same options as `crm templates clone`, e.g. `automation/tools/clone_templates.py --tenant mrdj --dry-run`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from checkout_env import use_checkout

use_checkout(__file__)

from rentguy_crm.cli import app  # noqa: E402

if __name__ == "__main__":
    sys.exit(app(["templates", "clone", *sys.argv[1:]], prog_name="clone_templates.py"))
