"""Storage limitation (GDPR art. 5(1)(e)): leads that never became a deal are anonymised once they are older than
the tenant's `privacy.retention_months`. A person with no deal and no recent lead is anonymised whole (contact,
leads, runs, messages); an older lead of a person who is still in touch loses only its own free text.

Runs daily as the scheduled job `privacy.retention` and on demand with `crm privacy retention`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import job_scope
from rentguy_crm.crm import repository as crm_repository
from rentguy_crm.crm.models import Lead
from rentguy_crm.privacy import repository
from rentguy_crm.privacy.erasure import anonymise_lead, erase_records
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.service import tenant_config

JOB_NAME = "privacy.retention"
JOB_CRON = "20 3 * * *"  # daily at 03:20 UTC, after the nightly traffic
BATCH = 500


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day `months` calendar months earlier (the 31st becomes the month's last day)."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


@dataclass
class RetentionReport:
    tenant: str
    cutoff: dt.datetime
    dry_run: bool
    people_anonymised: int = 0
    leads_anonymised: int = 0
    lead_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "cutoff": self.cutoff.isoformat(), "dry_run": self.dry_run,
                "people_anonymised": self.people_anonymised, "leads_anonymised": self.leads_anonymised}


async def apply_retention(session: AsyncSession, tenant: Tenant, now: dt.datetime, *, outbox: Path | None,
                          dry_run: bool = False, actor: str = "schedule:privacy.retention") -> RetentionReport:
    """Anonymise what the tenant's retention period has run out for (at most BATCH people a run; the next run
    does the rest). Never commits."""
    months = tenant_config(tenant).privacy.retention_months
    cutoff = months_before(now, months)
    report = RetentionReport(tenant.slug, cutoff, dry_run)
    scope = job_scope(tenant.id)
    old = await repository.old_leads_without_deal(session, scope, cutoff)
    old = [lead for lead in old if "anonymised" not in (lead.flags or [])]
    by_contact: dict[int, list[Lead]] = {}
    for lead in old:
        by_contact.setdefault(lead.contact_id, []).append(lead)
    for contact_id in list(by_contact)[:BATCH]:
        leads = by_contact[contact_id]
        recent = await repository.has_lead_since(session, scope, contact_id, cutoff)
        deal = await repository.has_deal(session, scope, contact_id)
        report.leads_anonymised += len(leads)
        report.lead_ids += [lead.id for lead in leads]
        whole = not recent and not deal
        report.people_anonymised += int(whole)
        if dry_run:
            continue
        if whole:
            contact = await crm_repository.contact_by_id(session, scope, contact_id)
            if contact is None:
                continue
            records = await repository.gather(session, tenant.id, [contact], outbox)
            await erase_records(session, scope, records, anonymise=True)
        else:
            for lead in leads:
                anonymise_lead(lead)
    if not dry_run and report.leads_anonymised:
        await session.flush()
        await audit.record(session, actor=actor, action="privacy.retention", entity_type="tenant",
                           entity_id=tenant.id, tenant_id=tenant.id,
                           after={"cutoff": cutoff.isoformat(), "people_anonymised": report.people_anonymised,
                                  "leads_anonymised": report.leads_anonymised},
                           reason=f"retention period of {months} months")
    return report


def policy(tenant: Tenant) -> dict[str, Any]:
    """The tenant's privacy policy as the suite applies it (what `crm privacy policy` prints)."""
    settings = tenant_config(tenant).privacy
    return {
        "tenant": tenant.slug,
        "leads_without_deal_retention_months": settings.retention_months,
        "retention_run": f"{JOB_NAME} daily ({JOB_CRON} UTC) and `crm privacy retention`",
        "anonymised_after_retention": "contact name, e-mail, phone, company, consent; lead message, venue, "
                                      "external id, UTM; run context and step outputs; delivery records; "
                                      "outbox files",
        "kept_after_retention": "lead event type, date, city, guests, budget, source and status (statistics)",
        "payments_kept_years": settings.fiscal_retention_years,
        "payments_kept": "amount, currency, status, payment dates and provider id, without personal data",
        "erasure": "crm privacy erase (admin): removes the person's rows, messages and outbox files; audit keeps "
                   "that it happened, by whom, for which request",
        "access": "crm privacy export (admin): one ZIP with data.json, index.html and the messages sent",
        "marketing": "only with consent; one-click List-Unsubscribe (RFC 8058) stops it on every channel",
        "marketing_workflows": settings.marketing_workflows,
        "marketing_templates": settings.marketing_templates,
        "privacy_contact": settings.contact_email,
    }
