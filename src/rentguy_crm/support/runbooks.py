"""The playbook's runbooks as data (`runbooks.yaml`): steps in Dutch as operations wrote them, each with the
command or link that carries it out and, where the suite can do the step itself, an action
(`runbook_actions.run_action`) whose text output goes on the incident's timeline."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rentguy_crm.support.runbook_actions import ACTIONS, run_action

__all__ = ["Runbook", "RunbookStep", "load_runbook", "run_action", "runbook_for_alert", "runbooks"]

RUNBOOKS_FILE = Path(__file__).with_name("runbooks.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunbookStep(_Strict):
    number: int = Field(ge=1)
    text: str = Field(min_length=1, description="The step in Dutch, as in the playbook")
    command: str | None = Field(default=None, description="What carries the step out; {tenant} is filled in")
    link: str | None = Field(default=None, description="Repository path or docs anchor")
    action: str | None = Field(default=None, description="Key of the action the suite can run for this step")
    params: dict[str, Any] = Field(default_factory=dict, description="Default parameters of the action")
    undo_command: str | None = None
    undo_action: str | None = None

    @model_validator(mode="after")
    def _known(self) -> RunbookStep:
        if not (self.command or self.link):
            raise ValueError(f"step {self.number} needs a command or a link")
        for key in (self.action, self.undo_action):
            if key is not None and key not in ACTIONS:
                raise ValueError(f"step {self.number}: unknown action {key}; known: {', '.join(sorted(ACTIONS))}")
        return self

    def command_for(self, tenant_slug: str) -> str | None:
        return self.command.replace("{tenant}", tenant_slug) if self.command else None


class Runbook(_Strict):
    key: str = Field(description='Section of the playbook, e.g. "2.2"')
    title: str
    link: str
    activity: str = Field(description="The RACI activity an incident with this runbook belongs to")
    alerts: list[str] = Field(default_factory=list, description="Alert names that point at this runbook")
    steps: list[RunbookStep]


@cache
def runbooks() -> dict[str, Runbook]:
    """Every runbook by key, read once from runbooks.yaml (a bad file fails loudly: it ships with the code)."""
    document = yaml.safe_load(RUNBOOKS_FILE.read_text(encoding="utf-8"))
    found: dict[str, Runbook] = {}
    for raw in document["runbooks"]:
        steps = [{"number": n, **step} for n, step in enumerate(raw.pop("steps"), start=1)]
        runbook = Runbook.model_validate({**raw, "steps": steps})
        found[runbook.key] = runbook
    return found


def load_runbook(key: str) -> Runbook:
    """The runbook of playbook section `key` ("2.1", "2.2", "2.3", "5"); KeyError naming the known keys."""
    try:
        return runbooks()[key]
    except KeyError:
        raise KeyError(f"no runbook {key!r}; known: {', '.join(runbooks())}") from None


def runbook_for_alert(alertname: str) -> Runbook | None:
    """The runbook an alert points at (its name is in the runbook's `alerts`), if any."""
    return next((r for r in runbooks().values() if alertname in r.alerts), None)
