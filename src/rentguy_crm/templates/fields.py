"""Step fields written as templates (`team: "{{ lead.team }}"`): the one place they are rendered for a run.

Which fields of a step type are templates, and in which markup, is said by the step model
(`template_fields` in `automation/definitions.py`); every step handler renders its step here before it acts, in
the same sandbox and with the same context as the messages it sends.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rentguy_crm.automation.engine.step_registry import PermanentStepError, StepContext
from rentguy_crm.automation.workflows.definitions import StepModel
from rentguy_crm.templates import samples
from rentguy_crm.templates.rendering import TemplateProblem, free_names, is_template, render_value
from rentguy_crm.templates.service import build_context

S = TypeVar("S", bound=StepModel)


def render_fields(ctx: StepContext, step: S) -> S:
    """A copy of the step with every template field rendered for the run's subject. A field that cannot render
    (a missing value, a sandbox refusal) fails the step for good: no retry changes the record."""
    kind: str = getattr(step, "type", type(step).__name__)
    fields = {name: value for name in step.template_fields if _has_template(value := getattr(step, name))}
    if not fields:
        return step  # plain text: nothing to render (the common case, kept cheap for the worker)
    context = build_context(ctx.tenant, ctx.variables)
    rendered: dict[str, Any] = {}
    for name, value in fields.items():
        try:
            rendered[name] = render_value(f"{kind}.{name}", value, context, step.template_fields[name])
        except TemplateProblem as problem:
            raise PermanentStepError(f"{kind}: {problem}") from None
    return step.model_copy(update=rendered)


def sample_failures(step: StepModel) -> list[tuple[str, str]]:
    """Template fields that fail with the typed samples a message template must pass to be published (a date
    sliced like a string, a field of an empty optional value): `(field, problem)`. A field that reads what only a
    run has (earlier steps' output, the event) is left to the run."""
    failures: list[tuple[str, str]] = []
    kind: str = getattr(step, "type", type(step).__name__)
    for name, markup in step.template_fields.items():
        value = getattr(step, name)
        if not _has_template(value):
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


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    return False
