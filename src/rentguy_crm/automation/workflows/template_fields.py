"""Step fields written as templates (`team: "{{ lead.team }}"`), checked when a workflow is loaded: each must
render with the typed samples a message template must pass to be published. Which fields of a step type are
templates, and in which markup, is said by the step model (`template_fields` in `definitions.py`); the engine
renders them for a run in `engine/step_fields.py`."""

from __future__ import annotations

from typing import Any

from rentguy_crm.automation.workflows.definitions import StepModel
from rentguy_crm.templates import samples
from rentguy_crm.templates.rendering import TemplateProblem, free_names, is_template, render_value


def sample_failures(step: StepModel) -> list[tuple[str, str]]:
    """Template fields that fail with the typed samples a message template must pass to be published (a date
    sliced like a string, a field of an empty optional value): `(field, problem)`. A field that reads what only a
    run has (earlier steps' output, the event) is left to the run."""
    failures: list[tuple[str, str]] = []
    kind: str = getattr(step, "type", type(step).__name__)
    for name, markup in step.template_fields.items():
        value = getattr(step, name)
        if not has_template(value):
            continue
        for sample in samples.typed_samples():
            context = {**sample.variables, "brand": samples.brand_sample(),
                       "tenant": {"name": "[tenant.name]", "slug": "[tenant.slug]"}}
            if not free_names(value) <= set(context) | {"range"}:
                break
            try:
                render_value(f"{kind}.{name}", value, context, markup)
            except TemplateProblem as problem:
                failures.append((name, f"{problem} with {sample.label}"))
                break
    return failures


def has_template(value: Any) -> bool:
    """Whether a step field's value (text, or a list or mapping of them) holds template syntax."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    return False
