"""Imports every model so `Base.metadata` is complete (Alembic, tests, the schema check)."""

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.auth.models import ApiKey
from rentguy_crm.automation.runs.models import AutomationRun, ScheduleRun, WorkerRecord, WorkflowPause
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead, Pipeline, PipelineStage
from rentguy_crm.db import Base
from rentguy_crm.events.models import Event
from rentguy_crm.intake.models import IdempotencyRecord, LeadCaptureTally
from rentguy_crm.observability.models import WatchdogAlert
from rentguy_crm.ratelimit.models import RateLimitSwitch
from rentguy_crm.templates.models import Delivery, Template, TemplateVersion
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.webhooks.mollie.models import Payment

metadata = Base.metadata

__all__ = [
    "Activity", "ApiKey", "AuditEntry", "AutomationRun", "Contact", "Deal", "Delivery", "Event",
    "IdempotencyRecord", "Lead", "LeadCaptureTally", "Payment", "Pipeline", "PipelineStage", "RateLimitSwitch",
    "ScheduleRun", "Template", "TemplateVersion", "Tenant", "WatchdogAlert", "WorkerRecord", "Workflow",
    "WorkflowPause", "metadata",
]
