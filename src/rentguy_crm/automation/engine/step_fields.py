"""Step fields written as templates (`team: "{{ lead.team }}"`): the one place they are rendered for a run.

Every step handler renders its step here before it acts, in the same sandbox and with the same context as the
messages it sends (`templates.service.build_context`). Which fields are templates is said by the step model
(`template_fields` in `automation/workflows/definitions.py`); they are checked at load in
`automation/workflows/template_fields.py`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rentguy_crm.automation.engine.step_registry import PermanentStepError, StepContext
from rentguy_crm.automation.workflows.definitions import StepModel
from rentguy_crm.automation.workflows.template_fields import has_template
from rentguy_crm.templates.rendering import TemplateProblem, render_value
from rentguy_crm.templates.service import build_context

S = TypeVar("S", bound=StepModel)


def render_fields(ctx: StepContext, step: S) -> S:
    """A copy of the step with every template field rendered for the run's subject. A field that cannot render
    (a missing value, a sandbox refusal) fails the step for good: no retry changes the record."""
    kind: str = getattr(step, "type", type(step).__name__)
    fields = {name: value for name in step.template_fields if has_template(value := getattr(step, name))}
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
