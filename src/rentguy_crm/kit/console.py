"""Command-line output: readable tables by default, `--json` for scripts, clear errors on stderr."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError as PydanticValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup
from typer.exceptions import TyperException

from rentguy_crm.kit import clock

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def cli_actor(by: str | None = None) -> str:
    """Who runs a command, for the audit log: `--by` when given, else `cli:<user>` (`cli` for a nameless user)."""
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2, ensure_ascii=False) + "\n")


# Times people read are shown in the tenant's zone, named in every cell; JSON keeps UTC ISO 8601 for machines.
DEFAULT_ZONE = "Europe/Amsterdam"
_zone: ZoneInfo = ZoneInfo(DEFAULT_ZONE)
# A table never needs to be wider than this when it goes to a file or a pipe: nothing is cut there.
_UNBOUNDED_WIDTH = 10_000


def use_zone(name: str | None) -> None:
    """Show times in this IANA zone (the tenant's) from now on in this command; None: the default zone."""
    global _zone
    _zone = ZoneInfo(name or DEFAULT_ZONE)


def display_zone() -> str:
    return str(_zone.key)


def format_time(value: dt.datetime | None) -> str:
    """`2026-11-30 23:24:01 CET`: the tenant's local time with its zone, as people read it."""
    return "" if value is None else clock.local_text(value, display_zone())


# Columns that name things (ids, keys, slugs, statuses, error types): always printed whole.
KEY_COLUMNS = frozenset({"id", "key", "slug", "tenant", "tenant_id", "workflow", "status", "state", "channel",
                         "language", "prefix", "profile", "default_profile", "last_error_type", "name", "type",
                         "action", "field", "run_id", "lead_id", "deal_id", "step"})
FREE_TEXT_MIN = 12


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None, *,
                total: int | None = None, offset: int = 0, noun: str = "rows") -> None:
    """A table that never cuts a cell: on a terminal long values fold onto the next line; into a pipe or file
    every line is as wide as its content. With `total`, says how many of how many are shown and how to see more."""
    cells = [["" if row.get(c) is None else str(_cell(row.get(c))) for c in columns] for row in rows]
    has_time = any(isinstance(v, dt.datetime) for row in rows for v in row.values())
    if not cells:
        empty = "nothing to show" if not total else f"nothing at offset {offset} of {total} {noun}"
        console.print(f"[dim]{title + ': ' if title else ''}{empty}[/dim]")
        return
    caption = f"times in {display_zone()}" if has_time else None
    widths = _column_widths(columns, cells, console.width if console.is_terminal else None)
    out = console if console.is_terminal else Console(file=sys.stdout, width=_UNBOUNDED_WIDTH, color_system=None)
    if widths is None:
        _print_records(out, title, columns, cells)
        if caption:
            out.print(Text(caption, style="dim"))
    else:
        table = Table(title=title, show_lines=False, caption=caption)
        for column in columns:
            # Nothing is ever replaced by an ellipsis: what does not fit folds onto the next line.
            table.add_column(column, overflow="fold", width=widths.get(column))
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))
        out.print(table)
    count = len(cells)
    if total is not None and (count < total or offset):
        line = f"{count} of {total} {noun} shown (from {offset + 1})"
        if offset + count < total:
            line += f"; more: --offset {offset + count}, or a larger --limit"
        out.print(line, highlight=False, soft_wrap=True)


def _column_widths(columns: Sequence[str], cells: list[list[str]], width: int | None) -> dict[str, int] | None:
    """Widths for a terminal `width` columns wide (empty: no limit needed), or None when the table cannot be
    narrowed without cutting an identifier or squeezing free text to a few letters per line: a key cut to
    `lead…` names nothing, so such tables are printed as one block per row instead."""
    natural = {c: max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)}
    available = (width or 0) - (3 * len(columns) + 1)
    if width is None or sum(natural.values()) <= available:
        return {}
    widths = {c: n for c, n in natural.items() if c in KEY_COLUMNS}
    others = sorted((c for c in columns if c not in widths), key=lambda c: natural[c])
    left = available - sum(widths.values())
    for index, column in enumerate(others):
        # Narrow free-text columns keep their natural width and leave the rest to the wide ones.
        widths[column] = min(natural[column], left // (len(others) - index))
        left -= widths[column]
    if any(widths[c] < min(natural[c], FREE_TEXT_MIN) for c in others):
        return None
    return widths


def _print_records(out: Console, title: str | None, columns: Sequence[str], cells: list[list[str]]) -> None:
    """One block per row, `column  value` per line: nothing is cut however narrow the terminal."""
    if title:
        out.print(Text(title, style="bold"))
    for number, row in enumerate(cells, start=1):
        out.print(Text(f"-- {columns[0]} {row[0]} ({number} of {len(cells)})", style="dim"))
        block = Table.grid(padding=(0, 2))
        block.add_column(no_wrap=True)
        block.add_column(overflow="fold")
        for column, value in zip(columns[1:], row[1:], strict=True):
            if value:
                block.add_row(Text(f"  {column}"), Text(value))
        out.print(block)


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return value


def emit(data: Any, *, as_json: bool, columns: Sequence[str] | None = None, title: str | None = None,
         total: int | None = None, offset: int = 0, noun: str = "rows") -> None:
    """Print a list of rows (or one row) as a table, or as JSON."""
    if as_json:
        print_json(data)
        return
    rows = data if isinstance(data, list) else [data]
    cols = columns or (list(rows[0].keys()) if rows else [])
    print_table(rows, cols, title, total=total, offset=offset, noun=noun)


def fail(message: str, code: int = 1) -> typer.Exit:
    # One line whatever its length (no wrapping at 80 columns), and the message is never read as markup.
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    return typer.Exit(code)


# --- errors: one clear line on stderr and exit 1, never a traceback ------------------------------------------------

ErrorExplainer = Callable[[BaseException], str | None]
_explainers: list[ErrorExplainer] = []
DEBUG_ENV = "CRM_DEBUG"


def register_error_explainer(explainer: ErrorExplainer) -> ErrorExplainer:
    """Teach the commands to say what an error of a higher layer means (the CLI registers the suite's own)."""
    _explainers.append(explainer)
    return explainer


def explain(exc: BaseException) -> str:
    """The one line a person reads for an error a command did not handle itself."""
    for explainer in _explainers:
        message = explainer(exc)
        if message:
            return message
    if isinstance(exc, PydanticValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                             for e in exc.errors()[:5])
        return f"{exc.title} is not valid: {problems}"
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"cannot use{where}: {exc.strerror or exc}"
    if isinstance(exc, ValueError | LookupError) and str(exc):
        return str(exc).splitlines()[0]
    first = (str(exc).splitlines() or [""])[0][:300]
    return (f"unexpected {type(exc).__name__}{': ' + first if first else ''} "
            f"(run again with {DEBUG_ENV}=1 for the details)")


class CommandGroup(TyperGroup):
    """The root of a command tree: whatever a command raises ends as one `error:` line and exit 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort, SystemExit, KeyboardInterrupt):
            raise  # usage errors, exits and aborts the command line already reports itself
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise fail(explain(exc)) from None


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from a command, turning any error into one clear line and exit 1."""
    try:
        return asyncio.run(factory())  # type: ignore[arg-type]
    except (TyperException, typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        raise fail(explain(exc)) from None
