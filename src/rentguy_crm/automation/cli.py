"""Command groups of the automation domain; their commands live in the modules imported at the bottom."""

from __future__ import annotations

import typer

workflows_app = typer.Typer(help="Workflow library: validate, sync, list, show, pause, resume.", no_args_is_help=True)
workers_app = typer.Typer(help="Automation workers: run them, see their status.", no_args_is_help=True)
runs_app = typer.Typer(help="Automation runs (crm_automation_runs): list, show, start, retry, cancel.",
                       no_args_is_help=True)

# Command modules register themselves on the groups above when imported.

from rentguy_crm.automation import library_cli, operations_cli  # noqa: E402,F401
