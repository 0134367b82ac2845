"""Offset pagination for list routes: `limit`/`offset` parameters, a stable order from a sort allow-list,
ISO datetime filters and the `{"items", "total", "limit", "offset"}` page shape. Knows no domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from rentguy_crm.errors import ValidationFailed
from rentguy_crm.kit.inputs import Offset

T = TypeVar("T")
# A mapped attribute (`Deal.value`) or any column expression.
Sortable = ColumnElement[Any] | QueryableAttribute[Any]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1..{MAX_LIMIT}).")] = DEFAULT_LIMIT,
    offset: Annotated[Offset, Query(description="Items to skip from the start of the ordered list.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageQuery = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    """One page of an ordered list; `total` counts every item matching the filters."""

    items: list[T]
    total: int
    limit: int
    offset: int


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

    def order_by(self, sort: str | None) -> list[ColumnElement[Any]]:
        value = (sort or self.default).strip()
        descending = value.startswith("-")
        column = self.columns.get(value.lstrip("-"))
        if column is None or value.count("-") > 1:
            raise ValidationFailed(
                f"sort: unknown sort '{value}'; use one of {', '.join(self.choices)}.",
                errors=[{"field": "sort", "message": f"use one of {', '.join(self.choices)}", "type": "enum"}],
            )
        # NULLs last in both directions: the same order on Postgres and SQLite.
        primary = (column.desc() if descending else column.asc()).nulls_last()
        tiebreak = self.id_column.desc() if descending else self.id_column.asc()
        return [primary, tiebreak]


async def fetch_page(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], order_by: Sequence[ColumnElement[Any]], page: PageParams
) -> tuple[list[Any], int]:
    """The rows of one page and the total count of the unpaged statement."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    result = await session.execute(stmt.order_by(*order_by).limit(page.limit).offset(page.offset))
    return list(result.all()), int(total or 0)
