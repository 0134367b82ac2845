"""Bounds on the work and size of one template render, so a tenant-edited template cannot exhaust the server.

Jinja's sandbox keeps templates away from Python internals but not from loops over a billion numbers or
`'x' * 10**9`. Every render of a part gets a budget of steps (loop iterations and calls) scaled to the size of
its source, every string or list a template builds is capped, and the printed output is capped; exceeding
any of them raises `RenderLimit`, which the renderer reports as a problem in the part.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_RANGE = 1_000  # numbers one `range()` may produce
MAX_VALUE_LENGTH = 100_000  # characters or items of one string or list a template builds
MAX_OUTPUT = 1_000_000  # characters one part may print (sources are at most 500,000)
MAX_STEPS = 10_000  # loop iterations and calls of one render
# Literal text inside a loop is repeated without a check per iteration: a long source gets fewer steps.
WORK_CHARACTERS = 20_000_000
MAX_INT_BITS = 4_096  # numbers beyond this take noticeable time to multiply or print

# Template-visible names of the hooks the compiled code calls; harmless if a template uses them itself.
LOOP_FILTER = "bounded_loop"
CONCAT_FILTER = "bounded_concat"
_WIDTH_FILTERS = ("center", "indent", "wordwrap", "truncate", "slice", "batch")
_WIDTH_METHODS = ("ljust", "rjust", "center", "zfill")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_SPEC = re.compile(r"\{[^{}]*:([^{}]*)(\{)?")


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv,
    "**": operator.pow, "%": operator.mod}


class RenderLimit(Exception):
    """A render that would take too long or grow too large."""


class RenderBudget:
    def __init__(self, steps: int) -> None:
        self.allowed = self.steps = steps
        self.output = MAX_OUTPUT

    def spend(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise RenderLimit(f"more than {self.allowed:,} loop iterations and calls")

    def print(self, length: int) -> None:
        self.output -= length
        if self.output < 0:
            raise RenderLimit(f"the output is longer than {MAX_OUTPUT:,} characters")


_budget: ContextVar[RenderBudget | None] = ContextVar("render_budget", default=None)


def steps_for(source: str) -> int:
    return max(100, min(MAX_STEPS, WORK_CHARACTERS // max(1, len(source))))


@contextmanager
def budget_for(source: str) -> Iterator[RenderBudget]:
    budget = RenderBudget(steps_for(source))
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def current() -> RenderBudget:
    budget = _budget.get()
    # Outside a render (Jinja finalizes constant output while compiling) a throwaway budget: storing one would
    # let a long-lived task's compiles use it up.
    return budget if budget is not None else RenderBudget(MAX_STEPS)


def check_size(value: Any) -> Any:
    if isinstance(value, str | bytes | list | tuple | dict | set) and len(value) > MAX_VALUE_LENGTH:
        raise RenderLimit(f"a value of more than {MAX_VALUE_LENGTH:,} characters or items")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise RenderLimit("a number too large to work with")
    return value


def _check_width(value: Any) -> None:
    if isinstance(value, int) and value > MAX_VALUE_LENGTH:
        raise RenderLimit(f"a width of {value:,} (at most {MAX_VALUE_LENGTH:,})")


def check_percent_format(fmt: str) -> None:
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*":
                raise RenderLimit("a width taken from the arguments ('*') is not supported")
            if number:
                _check_width(int(number))


def check_brace_format(fmt: str) -> None:
    for spec, nested in _FORMAT_SPEC.findall(fmt):
        if nested:
            raise RenderLimit("a width taken from the arguments is not supported")
        for number in re.findall(r"\d+", spec):
            _check_width(int(number))


def check_binop(operator: str, left: Any, right: Any) -> None:
    sized = (str, bytes, list, tuple)
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, sized) and isinstance(times, int) and len(seq) * max(times, 0) > MAX_VALUE_LENGTH:
                raise RenderLimit(f"repeating a value {times:,} times makes it too long")
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise RenderLimit("a number too large to work with")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and \
                right * left.bit_length() > MAX_INT_BITS:
            raise RenderLimit("a number too large to work with")
    elif operator == "+":
        if isinstance(left, sized) and isinstance(right, sized) and len(left) + len(right) > MAX_VALUE_LENGTH:
            raise RenderLimit(f"a value of more than {MAX_VALUE_LENGTH:,} characters or items")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left)


def _check_method_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _WIDTH_METHODS and args:
        _check_width(args[0])
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int) and size * owner.count("\t") > MAX_VALUE_LENGTH:
            raise RenderLimit("expanding the tabs makes the value too long")
    elif name == "join" and isinstance(args[0] if args else None, list | tuple):
        parts = args[0]
        if len(owner) * len(parts) + sum(len(str(p)) for p in parts) > MAX_VALUE_LENGTH:
            raise RenderLimit("joining makes the value too long")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        hits = owner.count(args[0]) if args[0] else len(owner) + 1
        if len(owner) + hits * len(args[1]) > MAX_VALUE_LENGTH:
            raise RenderLimit("the replacement makes the value too long")


def bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderLimit(f"range() of {len(numbers):,} numbers (at most {MAX_RANGE:,})")
    return numbers


def bounded_loop(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = current()
    for item in iterable:
        budget.spend()
        yield item


def _check_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """What a filter would build, judged before it builds it."""
    if name in _WIDTH_FILTERS:
        for arg in (*args, *kwargs.values()):
            _check_width(arg)
    if name == "format" and isinstance(value, str):
        check_percent_format(value)
    elif name == "replace" and isinstance(value, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        hits = value.count(old) if old else len(value) + 1
        if len(value) + hits * len(new) > MAX_VALUE_LENGTH:
            raise RenderLimit("the replacement makes the value too long")
    elif name == "indent" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 4)
        size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        if size * (value.count("\n") + 1) > MAX_VALUE_LENGTH:
            raise RenderLimit("the indentation makes the value too long")


def _bounded_filter(name: str, flt: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked pass_context / pass_eval_context / pass_environment get that object first.
    skip = 1 if getattr(flt, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(flt)  # keeps Jinja's pass_* marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if len(args) > skip:
            _check_filter(name, args[skip], args[skip + 1:], kwargs)
        return check_size(flt(*args, **kwargs))

    return bounded


class _BoundLoops(NodeTransformer):
    """Every `for` iterates through the step budget; every `~` concatenation is size-checked."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, LOOP_FILTER, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, CONCAT_FILTER, [], [], None, None, lineno=node.lineno)


def check_constants(tree: nodes.Template) -> tuple[str, int | None] | None:
    """A limit a template breaks whatever its data: `range(10**9)`, `'x' * 10**9`; `(message, line)`."""
    for binop in tree.find_all(nodes.BinExpr):
        try:
            _constant(binop)
        except RenderLimit as exc:
            return str(exc), binop.lineno
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "range":
            try:
                values = [_constant(arg) for arg in call.args]
                if all(isinstance(v, int) for v in values):
                    bounded_range(*values)
            except RenderLimit as exc:
                return str(exc), call.lineno
            except (TypeError, ValueError):
                continue
    return None


def _constant(node: nodes.Node) -> Any:
    """The value of a constant expression, computed within the limits; None when it depends on data."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.BinExpr):
        left, right = _constant(node.left), _constant(node.right)
        if left is None or right is None or node.operator not in _OPERATORS:
            return None
        check_binop(node.operator, left, right)
        try:
            return check_size(_OPERATORS[node.operator](left, right))
        except (TypeError, ValueError, ArithmeticError):
            return None
    return None


def bound_tree(tree: nodes.Template) -> nodes.Template:
    result = _BoundLoops().visit(tree)
    assert isinstance(result, nodes.Template)
    return result


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox with Jinja's documented hooks for operators and calls put to bounding size and work."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals = {"range": bounded_range}
        self.filters = {name: _bounded_filter(name, flt) for name, flt in self.filters.items()}
        self.filters[LOOP_FILTER] = bounded_loop
        self.filters[CONCAT_FILTER] = check_size

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # The sandbox hands out `str.format` wrapped at attribute access; its widths are judged there.
        if isinstance(getattr(value, "__self__", None), str) and getattr(value, "__name__", "") in (
                "format", "format_map"):
            check_brace_format(value.__self__)
        return super().wrap_str_format(value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        return check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        current().spend()
        _check_method_call(__obj, args, kwargs)
        result = SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, list | dict | set):
            check_size(owner)  # `items.extend(items)` grows the list in place
        return check_size(result)
