"""The workflow library and the template library agree: every template a workflow step sends exists in the
base template library, for the channel that step sends on, in both languages."""

from __future__ import annotations

from typing import Any

from rentguy_crm.automation.workflows import library as workflow_library
from rentguy_crm.automation.workflows.definitions import Branch
from rentguy_crm.templates import library as template_library

STEP_CHANNELS = {"send_email": "email", "send_whatsapp": "whatsapp"}


def _steps(steps: list[Any]) -> list[Any]:
    out: list[Any] = []
    for step in steps:
        if isinstance(step, Branch):
            out += _steps(step.then) + _steps(step.otherwise)
        else:
            out.append(step)
    return out


def _wanted() -> set[tuple[str, str, str]]:
    wanted = set()
    for loaded in workflow_library.load_library().workflows:
        for step in _steps(loaded.definition.steps):
            if step.type in STEP_CHANNELS:
                wanted.add((loaded.definition.key, step.template, STEP_CHANNELS[step.type]))
            elif step.type == "notify":
                # A Teams notice falls back to the Slack template of the same key.
                wanted.add((loaded.definition.key, step.template, "slack"))
    return wanted


def test_every_template_a_workflow_sends_is_in_the_base_library_in_dutch_and_english() -> None:
    offered = {(t.key, t.channel, t.language) for t in template_library.load_library()}
    wanted = _wanted()
    assert wanted, "the workflow library sends no templates at all"
    missing = sorted(f"{flow}: {key} ({channel}, {lang})" for flow, key, channel in wanted for lang in ("nl", "en")
                     if (key, channel, lang) not in offered)
    assert missing == []
