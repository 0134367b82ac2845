"""Right of access (GDPR art. 15): one ZIP archive with everything stored about a person, machine-readable
(`data.json`) and readable (`index.html`), plus the messages sent to them as rendered (`messages/`)."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import Principal
from rentguy_crm.kit import clock
from rentguy_crm.privacy import repository
from rentguy_crm.privacy.repository import PersonQuery, PersonRecords


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _rows(objects: list[Any]) -> list[dict[str, Any]]:
    return [_jsonable(audit.snapshot(o)) for o in objects]


def document(records: PersonRecords, tenant_slug: str, request_ref: str | None) -> dict[str, Any]:
    """The archive's JSON: one list of rows per kind of record."""
    sections: dict[str, Any] = {
        "contacts": _rows(records.contacts),
        "leads": _rows(records.leads),
        "deals": _rows(records.deals),
        "activities": _rows(records.activities),
        "automation_runs": _rows(records.runs),
        "messages_sent": _rows(records.deliveries),
        "payments": _rows(records.payments),
        "marketing_optouts": _rows(records.optouts),
        "merged_contacts": _rows(records.redirects),
        "events": _rows(records.events),
        "audit_log": _rows(records.audit),
    }
    for name, rows in records.other_tables.items():
        sections[name] = [_jsonable(r) for r in rows]
    return {"tenant": tenant_slug, "request": request_ref, "generated_at": clock.now().isoformat(),
            "consent": [{"contact_id": c.id, "marketing_opt_in": c.marketing_opt_in, "provenance": c.consent}
                        for c in records.contacts],
            "message_files": [f"messages/{p.name}" for p in records.outbox_files],
            "sections": sections}


_HTML = Environment(autoescape=select_autoescape(default=True, default_for_string=True)).from_string("""\
<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>Inzageverzoek / access request</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}pre{white-space:pre-wrap;margin:0}
</style></head><body>
<h1>Gegevens opgeslagen over u / data stored about you</h1>
<p>{{ doc.tenant }} &middot; {{ doc.generated_at }}{% if doc.request %} &middot; {{ doc.request }}{% endif %}</p>
{% for name, rows in doc.sections.items() %}
<h2>{{ name }} ({{ rows|length }})</h2>
{% if rows %}<table><tr>{% for col in rows[0].keys() %}<th>{{ col }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for value in row.values() %}<td>
{%- if value is mapping or (value is iterable and value is not string) -%}
<pre>{{ value|tojson(indent=1) }}</pre>
{%- else %}{{ value if value is not none else "" }}{% endif %}</td>{% endfor %}</tr>
{% endfor %}</table>{% endif %}
{% endfor %}
<h2>Berichten / messages ({{ doc.message_files|length }})</h2>
<ul>{% for name in doc.message_files %}<li><a href="{{ name }}">{{ name }}</a></li>{% endfor %}</ul>
</body></html>
""")


def archive(doc: dict[str, Any], files: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.json", json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        zf.writestr("index.html", _HTML.render(doc=doc))
        for path in files:
            try:
                zf.writestr(f"messages/{path.name}", path.read_bytes())
            except OSError:
                continue  # a file removed meanwhile is not part of what is stored any more
    return buffer.getvalue()


async def access_export(session: AsyncSession, principal: Principal, query: PersonQuery, *, outbox: Path | None,
                        request_ref: str | None = None) -> tuple[bytes, dict[str, int]]:
    """The archive for the person `query` names (404 if the tenant has no such contact), and its row counts.
    Audited as `privacy.access_export` with the counts, never the values."""
    contacts = await repository.find_contacts(session, principal.tenant_id, query)
    records = await repository.gather(session, principal.tenant_id, contacts, outbox)
    data = archive(document(records, principal.tenant_slug, request_ref), records.outbox_files)
    counts = records.counts()
    await audit.record(session, actor=principal.actor, action="privacy.access_export", entity_type="privacy_request",
                       entity_id=(request_ref or "")[:64] or None, tenant_id=principal.tenant_id,
                       after={"contact_ids": records.contact_ids, "counts": counts}, reason=request_ref)
    return data, counts
