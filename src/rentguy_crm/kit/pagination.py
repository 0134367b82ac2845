"""Pagination for list routes: `limit`/`offset` parameters (and an `after` cursor on the long lists), a stable
order from a sort allow-list, ISO datetime filters and the `{"items", "total", "limit", "offset", "next"}` page
shape. Knows no domain."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, NamedTuple, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from rentguy_crm.errors import ValidationFailed
from rentguy_crm.kit.inputs import MAX_ID, Offset, Text, storable_text, utc_in_range

T = TypeVar("T")
# A mapped attribute (`Deal.value`) or any column expression.
Sortable = ColumnElement[Any] | QueryableAttribute[Any]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Lists paged by cursor stop counting here: counting every one of a million matches costs more than the page itself.
COUNT_CAP = 1000


@dataclass(frozen=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    after: str | None = None  # the `next` cursor of the previous page (keyset pagination)


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1..{MAX_LIMIT}).")] = DEFAULT_LIMIT,
    offset: Annotated[Offset, Query(description="Items to skip from the start of the ordered list.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageQuery = Annotated[PageParams, Depends(page_params)]


def keyset_page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1..{MAX_LIMIT}).")] = DEFAULT_LIMIT,
    offset: Annotated[Offset, Query(description="Items to skip from the start of the ordered list.")] = 0,
    after: Annotated[Text | None, Query(max_length=400, description=(
        "The `next` cursor of the previous page: the page after it, as fast deep in the list as at its start "
        "(use with the same sort; not with `offset`)."))] = None,
) -> PageParams:
    if after is not None and offset:
        raise ValidationFailed("offset: give either offset or after, not both.",
                               errors=[{"field": "offset", "message": "not together with after", "type": "conflict"}])
    return PageParams(limit=limit, offset=offset, after=after)


# Long lists (contacts, leads, activities) page by cursor as well as by offset.
KeysetPageQuery = Annotated[PageParams, Depends(keyset_page_params)]


class Window(NamedTuple):
    """The rows of one page of a list paged by cursor, their (capped) count and the next page's cursor."""

    rows: list[Any]
    total: int
    total_capped: bool
    next: str | None


class Page(BaseModel, Generic[T]):
    """One page of an ordered list; `total` counts every item matching the filters. On lists that page by cursor,
    `next` is the `after` value of the following page (null on the last one), and counting stops at COUNT_CAP:
    `total_capped` is true when more items match than `total` says."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next: str | None = None
    total_capped: bool = False

    @classmethod
    def of(cls, items: list[T], window: Window, page: PageParams) -> Page[T]:
        return cls(items=items, total=window.total, total_capped=window.total_capped, limit=page.limit,
                   offset=page.offset, next=window.next)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Filters accept ISO datetimes with or without an offset; one without is read as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class SortOrder:
    """An allow-list of sort keys (`field` ascending, `-field` descending) mapped to columns.

    The record id is always the last sort key, so pages never overlap or skip rows when values tie.
    """

    def __init__(self, columns: Mapping[str, Sortable], id_column: Sortable,
                 default: str = "-created_at") -> None:
        self.columns = dict(columns)
        self.id_column = id_column
        self.default = default

    @property
    def choices(self) -> list[str]:
        return [key for name in self.columns for key in (name, f"-{name}")]

    def resolve(self, sort: str | None) -> Ordering:
        value = (sort or self.default).strip()
        column = self.columns.get(value.lstrip("-"))
        if column is None or value.count("-") > 1:
            raise ValidationFailed(
                f"sort: unknown sort '{value}'; use one of {', '.join(self.choices)}.",
                errors=[{"field": "sort", "message": f"use one of {', '.join(self.choices)}", "type": "enum"}],
            )
        return Ordering(value, column, self.id_column, value.startswith("-"))

    def order_by(self, sort: str | None) -> list[ColumnElement[Any]]:
        return self.resolve(sort).clauses


def _nullable(column: Sortable) -> bool:
    return bool(getattr(getattr(column, "expression", column), "nullable", True))


@dataclass(frozen=True)
class Ordering:
    """One resolved sort: its clauses, and the cursor of a row and the condition "after that row" for keyset pages."""

    key: str
    column: Sortable
    id_column: Sortable
    descending: bool

    @property
    def clauses(self) -> list[ColumnElement[Any]]:
        primary = self.column.desc() if self.descending else self.column.asc()
        # NULLs last in both directions: the same order on Postgres and SQLite. Only where NULLs can occur, so an
        # index on a NOT NULL column serves the order in both directions.
        if _nullable(self.column):
            primary = primary.nulls_last()
        tiebreak = self.id_column.desc() if self.descending else self.id_column.asc()
        return [primary, tiebreak]

    def cursor_of(self, row: Any) -> str:
        value = getattr(row, str(self.column.key))
        text = value.isoformat() if isinstance(value, dt.date) else None if value is None else str(value)
        raw = json.dumps([self.key, text, int(getattr(row, str(self.id_column.key)))])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def after(self, cursor: str) -> ColumnElement[bool]:
        parsed, last_id = self._decode(cursor)
        # Typed like the columns, so each database compares like with like (and timestamps stay UTC on SQLite).
        value = None if parsed is None else literal(parsed, type_=getattr(self.column, "type", None))
        before = (lambda c, v: c < v) if self.descending else (lambda c, v: c > v)
        if value is None:  # in the NULLs at the end: only the ids still to come
            return and_(self.column.is_(None), before(self.id_column, last_id))
        if not _nullable(self.column):
            return before(tuple_(self.column, self.id_column),
                          tuple_(value, literal(last_id, type_=getattr(self.id_column, "type", None))))
        return or_(before(self.column, value), and_(self.column == value, before(self.id_column, last_id)),
                   self.column.is_(None))

    def _decode(self, cursor: str) -> tuple[Any, int]:
        try:
            key, text, last_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if (not isinstance(key, str) or not isinstance(last_id, int) or not 1 <= last_id <= MAX_ID
                    or not (text is None or isinstance(text, str))):
                raise ValueError(cursor)
            value = None if text is None else _parse(self.column, text)
        except (ValueError, TypeError, OverflowError, binascii.Error, InvalidOperation):
            raise ValidationFailed("after: not a cursor of this list; use the `next` value of a page.", errors=[
                {"field": "after", "message": "not a cursor of this list", "type": "value_error"}]) from None
        if key != self.key:
            raise ValidationFailed(f"after: the cursor belongs to sort '{key}'; ask with that sort or start over.",
                                   errors=[{"field": "after", "message": f"made for sort '{key}'", "type": "conflict"}])
        return value, last_id


def _parse(column: Sortable, text: str) -> Any:
    column_type = getattr(column, "type", None)
    column_type = getattr(column_type, "impl", column_type)  # a TypeDecorator's own storage type
    try:
        kind = column_type.python_type if column_type is not None else str
    except NotImplementedError:
        kind = str
    # A cursor comes back from the client: every value is held to what the column can compare against.
    if kind is dt.datetime:
        return utc_in_range(dt.datetime.fromisoformat(text))
    if kind is dt.date:
        return dt.date.fromisoformat(text)
    if kind is Decimal:
        number = Decimal(text)
        if not number.is_finite() or abs(number) >= 10**15:
            raise ValueError(text)
        return number
    if kind is int:
        return int(text)
    return storable_text(text)


async def fetch_page(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], order_by: Sequence[ColumnElement[Any]], page: PageParams
) -> tuple[list[Any], int]:
    """The rows of one page and the total count of the unpaged statement."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    result = await session.execute(stmt.order_by(*order_by).limit(page.limit).offset(page.offset))
    return list(result.all()), int(total or 0)


async def fetch_window(session: AsyncSession, stmt: Select[*tuple[Any, ...]], ordering: Ordering,
                       page: PageParams) -> Window:
    """Like fetch_page, from the `after` cursor when there is one, with the count capped at COUNT_CAP and the
    cursor of the next page (None on the last). The first column of the statement is the sorted entity."""
    window = stmt.where(ordering.after(page.after)) if page.after is not None else stmt.offset(page.offset)
    rows = list((await session.execute(window.order_by(*ordering.clauses).limit(page.limit))).all())
    if page.after is None and len(rows) < page.limit and (rows or not page.offset):
        counted = page.offset + len(rows)  # the last page by offset: the count is known without asking again
    else:
        counted = int(await session.scalar(select(func.count()).select_from(
            stmt.order_by(None).limit(COUNT_CAP + 1).subquery())) or 0)
    following = ordering.cursor_of(rows[-1][0]) if len(rows) == page.limit else None
    return Window(rows, min(counted, COUNT_CAP), counted > COUNT_CAP, following)
