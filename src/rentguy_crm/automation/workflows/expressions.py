"""The condition language of workflow files: a small tokenizer and precedence-climbing parser, evaluated
against nested dicts. No Python code is ever compiled or run; attribute access only reads mapping keys.

    deal.value > 5000 and lead.event_type == "bruiloft"
    lower(lead.source) in ["website", "typeform"] and not lead.is_duplicate
    deal.event_date + 1 day          (a `wait until` expression: see `resolve_until`)

Semantics chosen so that a condition never crashes a run:
- a missing name or attribute (or an attribute of a non-mapping) is `null`;
- an operation on values of the wrong type (`null > 5`, `"a" - 1`, division by zero) gives `null`, and a
  comparison that cannot be made is false (so `x not in null` is false too);
- a string that looks like a number compares as a number against a number, and an ISO date string
  compares/adds as a date (run context is JSON, where decimals and dates arrive as strings).

Dates and times are read in the tenant's time zone (`tz`, by default the `tenant.timezone` of the variables) and
counted on its calendar (see `kit.wallclock`): a date plus days is a date; a date plus hours is that local
wall-clock time (`deal.event_date + 1 day + 10 hours` is 10:00 local time the day after, summer time or not);
a moment plus days keeps its local clock time, plus hours is elapsed time. A time without an offset is local
time. `days_until` and `date()` count local calendar days.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rentguy_crm.kit import wallclock

MAX_LENGTH = 1000
MAX_DEPTH = 32
FUNCTIONS: dict[str, int] = {"lower": 1, "upper": 1, "len": 1, "days_until": 1, "date": 1}
"""The only callable names, with their number of arguments."""

_DURATION_UNITS = {
    "second": 1, "seconds": 1, "minute": 60, "minutes": 60, "hour": 3600, "hours": 3600,
    "day": 86400, "days": 86400, "week": 604800, "weeks": 604800,
}
_SHORT_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}  # only glued to the number: `15m`
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "True", "False", "None"}


class ExpressionError(ValueError):
    """A bad expression. `position` is the 0-based offset in the expression where the problem is."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at column {position + 1})")
        self.message = message
        self.position = position


# --- tokens ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # "num", "str", "dur", "name", "op", "end"
    value: Any
    pos: int


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ",", ".")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if "0" <= ch <= "9":
            match = _NUMBER.match(text, i)
            assert match is not None
            raw = match.group(0)
            number: int | decimal.Decimal = decimal.Decimal(raw) if "." in raw else int(raw)
            end = match.end()
            glued = _NAME.match(text, end)
            if glued and glued.group(0) in _SHORT_UNITS:
                tokens.append(Token("dur", _duration(number, _SHORT_UNITS[glued.group(0)], i), i))
                i = glued.end()
                continue
            j = end
            while j < n and text[j] in " \t":
                j += 1
            word = _NAME.match(text, j)
            if word and word.group(0) in _DURATION_UNITS:
                tokens.append(Token("dur", _duration(number, _DURATION_UNITS[word.group(0)], i), i))
                i = word.end()
                continue
            if glued:
                raise ExpressionError(f"unexpected '{glued.group(0)}' after a number", end)
            tokens.append(Token("num", number, i))
            i = end
            continue
        if ch.isascii() and (ch.isalpha() or ch == "_"):
            found = _NAME.match(text, i)
            assert found is not None
            name = found.group(0)
            if name.startswith("_"):
                raise ExpressionError(f"names may not start with '_': '{name}'", i)
            tokens.append(Token("op" if name in _KEYWORDS else "name", name, i))
            i = found.end()
            continue
        if ch in "'\"":
            value, end = _string(text, i)
            tokens.append(Token("str", value, i))
            i = end
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            hint = " (use 'and', 'or', 'not')" if ch in "&|!" else ""
            raise ExpressionError(f"unexpected character '{ch}'{hint}", i)
    tokens.append(Token("end", None, n))
    return tokens


def _duration(number: int | decimal.Decimal, unit_seconds: int, pos: int) -> dt.timedelta:
    try:
        return dt.timedelta(seconds=float(number) * unit_seconds)
    except (OverflowError, ValueError):
        raise ExpressionError("the duration is too large", pos) from None


def _string(text: str, start: int) -> tuple[str, int]:
    quote, i = text[start], start + 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(text) or text[i + 1] not in _ESCAPES:
                raise ExpressionError("unknown escape in string (use \\\\, \\', \\\", \\n or \\t)", i)
            out.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ExpressionError("string is not closed", start)


# --- syntax tree ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True)
class Name(Node):
    path: tuple[str, ...]  # `deal.contact.email` -> ("deal", "contact", "email")


@dataclass(frozen=True)
class ListOf(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "not" or "-"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


# Binding power of infix operators: higher binds tighter. Comparisons do not chain.
_INFIX = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "in": 4, "not in": 4,
          "+": 5, "-": 5, "*": 6, "/": 6}
_NOT_POWER = 3
_NEGATE_POWER = 7
_COMPARISON = 4


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, op: str) -> Token:
        if self.token.kind != "op" or self.token.value != op:
            raise ExpressionError(f"expected '{op}' but found {_describe(self.token)}", self.token.pos)
        return self.advance()

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty", 0)
        node = self.expression(0)
        if self.token.kind != "end":
            raise ExpressionError(f"unexpected {_describe(self.token)}", self.token.pos)
        return node

    def expression(self, min_power: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)",
                                  self.token.pos)
        left = self.prefix()
        while True:
            op, width = self.infix_operator()
            if op is None or _INFIX[op] <= min_power:
                break
            position = self.token.pos
            self.index += width
            power = _INFIX[op]
            right = self.expression(power)
            left = Binary(position, op, left, right)
            if power == _COMPARISON:
                follower, _ = self.infix_operator()
                if follower is not None and _INFIX[follower] == _COMPARISON:
                    raise ExpressionError("comparisons cannot be chained; join them with 'and'", self.token.pos)
        self.depth -= 1
        return left

    def infix_operator(self) -> tuple[str | None, int]:
        token = self.token
        if token.kind != "op":
            return None, 0
        if token.value == "not":
            after = self.tokens[self.index + 1]
            if after.kind == "op" and after.value == "in":
                return "not in", 2
            return None, 0
        return (token.value, 1) if token.value in _INFIX else (None, 0)

    def prefix(self) -> Node:
        token = self.advance()
        if token.kind in ("num", "str", "dur"):
            return Literal(token.pos, token.value)
        if token.kind == "name":
            return self.name_or_call(token)
        if token.kind == "op":
            if token.value in ("true", "True"):
                return Literal(token.pos, True)
            if token.value in ("false", "False"):
                return Literal(token.pos, False)
            if token.value in ("null", "None"):
                return Literal(token.pos, None)
            if token.value == "not":
                return Unary(token.pos, "not", self.expression(_NOT_POWER - 1))
            if token.value == "-":
                return Unary(token.pos, "-", self.expression(_NEGATE_POWER - 1))
            if token.value == "(":
                inner = self.expression(0)
                self.expect(")")
                return inner
            if token.value == "[":
                return self.list_literal(token)
        raise ExpressionError(f"expected a value but found {_describe(token)}", token.pos)

    def name_or_call(self, token: Token) -> Node:
        path = [token.value]
        while self.token.kind == "op" and self.token.value == ".":
            self.advance()
            part = self.advance()
            if part.kind != "name" and not (part.kind == "op" and part.value in _KEYWORDS):
                raise ExpressionError(f"expected a field name after '.' but found {_describe(part)}", part.pos)
            path.append(part.value)
        if self.token.kind == "op" and self.token.value == "(":
            if len(path) > 1:
                raise ExpressionError("only plain functions can be called, not methods", self.token.pos)
            return self.call(token)
        return Name(token.pos, tuple(path))

    def call(self, token: Token) -> Node:
        name = token.value
        if name not in FUNCTIONS:
            raise ExpressionError(f"unknown function '{name}' (available: {', '.join(sorted(FUNCTIONS))})",
                                  token.pos)
        self.expect("(")
        args: list[Node] = []
        if not (self.token.kind == "op" and self.token.value == ")"):
            args.append(self.expression(0))
            while self.token.kind == "op" and self.token.value == ",":
                self.advance()
                args.append(self.expression(0))
        self.expect(")")
        if len(args) != FUNCTIONS[name]:
            raise ExpressionError(f"{name}() takes {FUNCTIONS[name]} argument(s), got {len(args)}", token.pos)
        return Call(token.pos, name, tuple(args))

    def list_literal(self, token: Token) -> Node:
        items: list[Node] = []
        if not (self.token.kind == "op" and self.token.value == "]"):
            items.append(self.expression(0))
            while self.token.kind == "op" and self.token.value == ",":
                self.advance()
                if self.token.kind == "op" and self.token.value == "]":
                    break
                items.append(self.expression(0))
        self.expect("]")
        return ListOf(token.pos, tuple(items))


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    if token.kind == "str":
        return "a string"
    return f"'{token.value}'"


def parse(expression: str) -> Node:
    """Parse an expression into its tree; raises ExpressionError with the position of the problem."""
    if not isinstance(expression, str):
        raise ExpressionError(f"an expression must be text, not {type(expression).__name__}", 0)
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    return _parse(expression)


@lru_cache(maxsize=512)
def _parse(expression: str) -> Node:
    return _Parser(expression).parse()


def check(expression: str) -> None:
    """Raise ExpressionError if the expression is not valid (syntax, unknown function, arity, nesting)."""
    parse(expression)


def referenced_names(expression: str) -> set[str]:
    """The top-level variables an expression reads, e.g. {"deal", "lead"}."""
    found: set[str] = set()

    def walk(node: Node) -> None:
        if isinstance(node, Name):
            found.add(node.path[0])
        elif isinstance(node, Unary):
            walk(node.operand)
        elif isinstance(node, Binary):
            walk(node.left)
            walk(node.right)
        elif isinstance(node, Call | ListOf):
            for child in node.args if isinstance(node, Call) else node.items:
                walk(child)

    walk(parse(expression))
    return found


# --- evaluation -------------------------------------------------------------------------------------------

def evaluate(expression: str, variables: Mapping[str, Any], *, now: dt.datetime | None = None,
             tz: str | dt.tzinfo | None = None) -> Any:
    """Evaluate against nested mappings. Never raises for data problems (see the module docstring); raises
    ExpressionError only for an invalid expression. `tz`: the zone dates are read in (default: the variables'
    `tenant.timezone`, else UTC)."""
    tree = parse(expression)
    return _Evaluator(variables, now or dt.datetime.now(dt.UTC), _zone_for(variables, tz)).eval(tree)


def is_true(expression: str, variables: Mapping[str, Any], *, now: dt.datetime | None = None,
            tz: str | dt.tzinfo | None = None) -> bool:
    """A condition's verdict: the expression's value taken as true or false (null is false)."""
    return _truthy(evaluate(expression, variables, now=now, tz=tz))


def resolve_until(expression: str, variables: Mapping[str, Any], tz: str | dt.tzinfo | None = None,
                  *, now: dt.datetime | None = None) -> dt.datetime | None:
    """The moment a `wait until` expression names, as an aware UTC datetime, or None when its date is missing.

    A date without a time means midnight at the start of that day in the tenant's timezone `tz` (default: the
    variables' `tenant.timezone`), so `deal.event_date + 1 day + 10 hours` is 10:00 local time the day after.
    """
    zone = _zone_for(variables, tz)
    value = _as_temporal(evaluate(expression, variables, now=now, tz=zone), zone)
    if value is None:
        return None
    try:
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC)
        if isinstance(value, dt.date):
            return wallclock.wall_clock(value, dt.timedelta(0), zone)
    except OverflowError:
        raise ExpressionError(f"'{expression}' gives a moment out of range", 0) from None
    raise ExpressionError(f"'{expression}' must give a date or a time, but gave {type(value).__name__}", 0)


def _zone_for(variables: Mapping[str, Any], tz: str | dt.tzinfo | None) -> dt.tzinfo:
    if tz is None:
        tenant = variables.get("tenant") if isinstance(variables, Mapping) else None
        name = tenant.get("timezone") if isinstance(tenant, Mapping) else None
        tz = name if isinstance(name, str) and name else None
    try:
        return wallclock.zone_of(tz)
    except (KeyError, ValueError):  # an unknown zone name (ZoneInfoNotFoundError is a KeyError)
        raise ExpressionError(f"unknown time zone '{tz}'", 0) from None


def _truthy(value: Any) -> bool:
    try:
        return bool(value)
    except Exception:  # a foreign object with a broken __bool__ must not break a condition
        return False


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _as_temporal(value: Any, zone: dt.tzinfo) -> Any:
    """ISO date or datetime strings become dates/datetimes; datetimes become aware UTC (one without an offset is
    the zone's local time); anything else is returned unchanged."""
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            value = dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        try:
            return wallclock.in_zone(value, zone).astimezone(dt.UTC)
        except OverflowError:  # the first or last hours of year 1 / 9999
            return None
    return value


def _as_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return decimal.Decimal(value.strip())
        except decimal.InvalidOperation:
            return value
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def _coerce_pair(left: Any, right: Any, zone: dt.tzinfo) -> tuple[Any, Any]:
    if _is_number(left) or _is_number(right):
        left, right = _as_number(left), _as_number(right)
    elif isinstance(left, dt.date) or isinstance(right, dt.date) or _both_temporal_text(left, right, zone):
        left, right = _as_temporal(left, zone), _as_temporal(right, zone)
        # A date against a moment: the date is its local midnight. Both moments are aware, so they compare.
        if isinstance(left, dt.datetime) and _is_plain_date(right):
            right = wallclock.wall_clock(right, dt.timedelta(0), zone)
        elif isinstance(right, dt.datetime) and _is_plain_date(left):
            left = wallclock.wall_clock(left, dt.timedelta(0), zone)
    return left, right


def _both_temporal_text(left: Any, right: Any, zone: dt.tzinfo) -> bool:
    """Two ISO date/time strings (JSON): compared as moments, so offsets and dates against times count."""
    return (isinstance(left, str) and isinstance(right, str)
            and isinstance(_as_temporal(left, zone), dt.date) and isinstance(_as_temporal(right, zone), dt.date))


def _is_plain_date(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


class _Evaluator:
    def __init__(self, variables: Mapping[str, Any], now: dt.datetime, zone: dt.tzinfo) -> None:
        self.variables = variables
        self.now = now
        self.zone = zone

    def eval(self, node: Node) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            return self.lookup(node.path)
        if isinstance(node, ListOf):
            return [self.eval(item) for item in node.items]
        if isinstance(node, Unary):
            value = self.eval(node.operand)
            if node.op == "not":
                return not _truthy(value)
            value = _as_number(value)
            return -value if _is_number(value) or isinstance(value, dt.timedelta) else None
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Call):
            return self.call(node)
        raise ExpressionError("unsupported expression", node.pos)  # pragma: no cover - parser makes no others

    def lookup(self, path: Sequence[str]) -> Any:
        value: Any = self.variables
        for part in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    def binary(self, node: Binary) -> Any:
        if node.op == "and":
            return _truthy(self.eval(node.left)) and _truthy(self.eval(node.right))
        if node.op == "or":
            return _truthy(self.eval(node.left)) or _truthy(self.eval(node.right))
        left, right = self.eval(node.left), self.eval(node.right)
        operation = _OPERATIONS[node.op]
        try:
            return operation(left, right, self.zone)
        except (TypeError, ValueError, ArithmeticError, OverflowError):
            return False if node.op in _COMPARISONS else None

    def call(self, node: Call) -> Any:
        value = self.eval(node.args[0])
        if node.function == "lower":
            return value.lower() if isinstance(value, str) else None
        if node.function == "upper":
            return value.upper() if isinstance(value, str) else None
        if node.function == "len":
            return len(value) if isinstance(value, str | list | tuple | Mapping) else None
        if node.function == "date":
            value = _as_temporal(value, self.zone)
            if isinstance(value, dt.datetime):
                return wallclock.local_date(value, self.zone)
            return value if isinstance(value, dt.date) else None
        if node.function == "days_until":
            value = _as_temporal(value, self.zone)
            if isinstance(value, dt.datetime):
                value = wallclock.local_date(value, self.zone)
            if not isinstance(value, dt.date):
                return None
            return (value - wallclock.local_date(self.now, self.zone)).days
        raise ExpressionError(f"unknown function '{node.function}'", node.pos)  # pragma: no cover


Zone = dt.tzinfo


def _equal(left: Any, right: Any, zone: Zone) -> bool:
    left, right = _coerce_pair(left, right, zone)
    return bool(left == right)


def _order(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any, Zone], bool]:
    def operation(left: Any, right: Any, zone: Zone) -> bool:
        if left is None or right is None:
            return False
        left, right = _coerce_pair(left, right, zone)
        if isinstance(left, str) != isinstance(right, str):
            return False
        return bool(compare(left, right))

    return operation


def _contains(left: Any, right: Any, zone: Zone) -> bool:
    if isinstance(right, str):
        return isinstance(left, str) and left in right
    if isinstance(right, Mapping):
        return left in right.keys()
    if isinstance(right, list | tuple):
        return any(_equal(left, item, zone) for item in right)
    raise TypeError("'in' needs a list, a string or a mapping on its right")


def _not_contains(left: Any, right: Any, zone: Zone) -> bool:
    return not _contains(left, right, zone)


def _add(left: Any, right: Any, zone: Zone) -> Any:
    if isinstance(left, dt.timedelta) and not isinstance(right, dt.timedelta):
        return _add(right, left, zone)
    if isinstance(right, dt.timedelta):
        left = _as_temporal(left, zone)
        if _is_plain_date(left):
            days, rest = wallclock.split_days(right)
            if not rest:
                return left + days  # a calendar date
            return wallclock.wall_clock(left + days, rest, zone)  # `+ 10 hours` on a date: 10:00 local time
        if isinstance(left, dt.datetime):
            return wallclock.shift(left, right, zone)
        if isinstance(left, dt.timedelta):
            return left + right
        raise TypeError("+ needs two numbers, two strings, or a date and a duration")
    if isinstance(left, str) and isinstance(right, str):
        return left + right
    left, right = _as_number(left), _as_number(right)
    if not (_is_number(left) and _is_number(right)):
        raise TypeError("+ needs two numbers, two strings, or a date and a duration")
    return left + right


def _subtract(left: Any, right: Any, zone: Zone) -> Any:
    if isinstance(right, dt.timedelta):
        return _add(left, -right, zone)
    left, right = _coerce_pair(left, right, zone)
    if isinstance(left, dt.date) and isinstance(right, dt.date) and type(left) is type(right):
        return left - right
    if not (_is_number(left) and _is_number(right)):
        raise TypeError("- needs two numbers, a date and a duration, or two dates")
    return left - right


def _arith(operation: Callable[[Any, Any], Any]) -> Callable[[Any, Any, Zone], Any]:
    def run(left: Any, right: Any, _zone: Zone) -> Any:
        left, right = _as_number(left), _as_number(right)
        if isinstance(left, dt.timedelta) and _is_number(right):
            return operation(left, float(right))
        if not (_is_number(left) and _is_number(right)):
            raise TypeError("arithmetic needs numbers")
        return operation(decimal.Decimal(left), decimal.Decimal(right))

    return run


_COMPARISONS = {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}
_OPERATIONS: dict[str, Callable[[Any, Any, Zone], Any]] = {
    "==": _equal,
    "!=": lambda a, b, zone: not _equal(a, b, zone),
    "<": _order(lambda a, b: a < b),
    "<=": _order(lambda a, b: a <= b),
    ">": _order(lambda a, b: a > b),
    ">=": _order(lambda a, b: a >= b),
    "in": _contains,
    "not in": _not_contains,
    "+": _add,
    "-": _subtract,
    "*": _arith(lambda a, b: a * b),
    "/": _arith(lambda a, b: a / b),
}
