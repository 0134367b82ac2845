"""Principals: API keys (machine and operator, stored as a keyed hash only), staff users with their server-side
sessions, and one-time sign-in links."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, TimestampMixin


class ApiKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(200), default="cli")
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class User(IdMixin, TimestampMixin, Base):
    """A person of one tenant. Identity is the provider's directory id + object id (`tid` + `oid`), never the
    e-mail address, which changes. People who only ever sign in by a break-glass link have directory 'local'."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "directory_id", "object_id"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    directory_id: Mapped[str] = mapped_column(String(200))
    object_id: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    last_sign_in_at: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]


class UserSession(IdMixin, Base):
    """One signed-in browser. Only a keyed hash of the cookie value is stored."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_tenant_user", "tenant_id", "user_id"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    method: Mapped[str] = mapped_column(String(16))  # "sso" or "link"
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    idle_timeout_seconds: Mapped[int]
    expires_at: Mapped[dt.datetime]  # the absolute end, whatever the activity
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class LoginLink(IdMixin, Base):
    """A one-time sign-in link (break-glass when the provider is down; the development sign-in)."""

    __tablename__ = "login_links"

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
