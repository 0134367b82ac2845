"""The stored profile switch of a tenant: which profile, until when, and what it reverts to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, TimestampMixin


class RateLimitSwitch(IdMixin, TimestampMixin, Base):
    """One row per tenant that has ever been switched. No row: the tenant config's default profile applies.

    Switches stack. `profile`/`until`/`set_by`/`set_at` are the switch on top; `layers` holds the temporary
    switches beneath it (bottom first: `{profile, until, set_by, set_at}`); `revert_to` is the permanent profile
    under them all (None: the tenant config's default). The effective profile is computed from this row and
    the clock: the topmost switch whose `until` is still ahead, else `revert_to`. So each expiry restores what
    was in force before it, on time even if nothing runs at that moment or after a restart.
    """

    __tablename__ = "rate_limit_switches"

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"), unique=True)
    profile: Mapped[str] = mapped_column(String(16))
    revert_to: Mapped[str | None] = mapped_column(String(16))
    until: Mapped[dt.datetime | None]
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime]
    layers: Mapped[list[Any] | None] = mapped_column(default=None)
