"""The safe condition language of workflow files (placeholder: the full language replaces this module).

`evaluate("deal.value > 5000 and lead.event_type == 'bruiloft'", variables)`; never uses eval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ExpressionError(ValueError):
    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


def evaluate(expression: str, variables: Mapping[str, Any]) -> Any:
    raise ExpressionError(f"conditions are not supported yet: {expression!r}")


def check(expression: str) -> None:
    """Raise ExpressionError if the expression is not valid (syntax, unknown function)."""
    raise ExpressionError(f"conditions are not supported yet: {expression!r}")
