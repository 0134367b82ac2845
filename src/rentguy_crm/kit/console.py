"""Command-line output: readable tables by default, `--json` for scripts, clear errors on stderr."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

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


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2, ensure_ascii=False) + "\n")


def print_table(rows: Iterable[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    count = 0
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(_cell(row.get(c))) for c in columns])
        count += 1
    if count == 0:
        console.print(f"[dim]{title + ': ' if title else ''}nothing to show[/dim]")
        return
    console.print(table)


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return value


def emit(data: Any, *, as_json: bool, columns: Sequence[str] | None = None, title: str | None = None) -> None:
    """Print a list of rows (or one row) as a table, or as JSON."""
    if as_json:
        print_json(data)
        return
    rows = data if isinstance(data, list) else [data]
    cols = columns or (list(rows[0].keys()) if rows else [])
    print_table(rows, cols, title)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/bold red] {message}")
    return typer.Exit(code)


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from a command, turning the suite's known errors into a clean message and exit 1."""
    from rentguy_crm.errors import AppError
    from rentguy_crm.tenants.config import TenantConfigError

    try:
        return asyncio.run(factory())  # type: ignore[arg-type]
    except AppError as exc:
        raise fail(exc.detail) from None
    except TenantConfigError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
