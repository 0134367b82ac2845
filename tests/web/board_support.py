"""What the board and task screen tests share: a signed-in person (session cookie and CSRF header) with an e-mail
address, and the headers a browser page or an htmx request sends."""

from __future__ import annotations

import itertools

from rentguy_crm.auth import sessions
from rentguy_crm.auth.models import User
from rentguy_crm.db import Database
from rentguy_crm.tenants.models import Tenant

PAGE = {"Accept": "text/html"}
HTMX = {"HX-Request": "true", "Accept": "text/html"}
_SERIAL = itertools.count(1)


async def signed_in(db: Database, tenant: Tenant, *roles: str, email: str | None = None) -> dict[str, str]:
    """A person with these roles signed in by single sign-on: their session cookie and CSRF header."""
    async with db.session() as session:
        user = User(tenant_id=tenant.id, directory_id="test-directory", object_id=f"oid-screen-{next(_SERIAL)}",
                    email=email, roles=list(roles or ("admin",)))
        session.add(user)
        await session.flush()
        _row, raw = await sessions.start_session(session, tenant, user, roles=list(roles or ("admin",)),
                                                 method="sso", lifetimes=sessions.Lifetimes())
    return {"Cookie": f"{sessions.SESSION_COOKIE}={raw}", sessions.CSRF_HEADER: sessions.csrf_token_for(raw)}
