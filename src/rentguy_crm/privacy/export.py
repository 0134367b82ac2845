"""CSV export of contacts and leads with the columns the import reads, filtered like the list routes, so an
exported file imports again unchanged."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import repository as crm_repository
from rentguy_crm.crm import schemas as crm_schemas
from rentguy_crm.kit.pagination import PageParams
from rentguy_crm.privacy.csvfile import CONTACT_COLUMNS, LEAD_COLUMNS
from rentguy_crm.tenants.scope import TenantScope

PAGE = 500


def _cell(value: Any) -> str:
    """A cell text; one a spreadsheet would run as a formula (=, @, or +/- before a non-digit) gets a quote
    first (OWASP "CSV injection"). Phone numbers like +31... stay as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nee"
    text = str(value)
    if text[:1] in ("=", "@") or (text[:1] in ("+", "-") and not text[1:2].isdigit()):
        return "'" + text
    return text


def _line(values: list[str], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


async def contact_lines(session: AsyncSession, scope: TenantScope, filters: crm_schemas.ContactFilters,
                        delimiter: str = ",") -> AsyncIterator[str]:
    yield _line(list(CONTACT_COLUMNS), delimiter)
    after: str | None = None
    while True:  # by cursor: every page as fast as the first, however large the export
        rows, _total, _capped, after = await crm_repository.list_contacts(session, scope, filters, "created_at",
                                                                          PageParams(limit=PAGE, after=after))
        for contact in rows:
            yield _line([_cell(getattr(contact, c)) for c in CONTACT_COLUMNS], delimiter)
        if after is None:
            return


async def lead_lines(session: AsyncSession, scope: TenantScope, filters: crm_schemas.LeadFilters,
                     delimiter: str = ",") -> AsyncIterator[str]:
    yield _line(list(LEAD_COLUMNS), delimiter)
    after: str | None = None
    while True:
        rows, _total, _capped, after = await crm_repository.list_leads(session, scope, filters, "created_at",
                                                                       PageParams(limit=PAGE, after=after))
        ids = {lead.contact_id for lead in rows}
        contacts = await crm_repository.contacts_by_ids(session, scope, ids)
        for lead in rows:
            contact = contacts.get(lead.contact_id)
            values = []
            for column in LEAD_COLUMNS:
                if column in ("first_name", "last_name", "email", "phone", "marketing_opt_in"):
                    values.append(_cell(getattr(contact, column) if contact else None))
                else:
                    values.append(_cell(getattr(lead, column)))
            yield _line(values, delimiter)
        if after is None:
            return


async def audit_export(session: AsyncSession, principal: Principal, kind: str, text: str) -> None:
    """Who exported how many rows, when (the rows themselves are not copied into the audit log)."""
    rows = max(0, text.count("\r\n") - 1)
    await audit.record(session, actor=principal.actor, action=f"{kind}.export", entity_type="export",
                       entity_id=kind, tenant_id=principal.tenant_id, after={"rows": rows})
