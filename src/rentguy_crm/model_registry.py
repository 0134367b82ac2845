"""Imports every model so `Base.metadata` is complete (Alembic, tests, the schema check)."""

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.auth.models import ApiKey, LoginLink, User, UserSession
from rentguy_crm.automation.runs.models import AutomationRun, ScheduleRun, WorkerRecord, WorkflowPause
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.crm.calendar_sync.models import CalendarDeltaState, CalendarEventLink
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead, MarketingOptOut, Pipeline, PipelineStage
from rentguy_crm.db import Base
from rentguy_crm.events.models import Event
from rentguy_crm.intake.models import IdempotencyRecord, LeadCaptureTally
from rentguy_crm.observability.models import WatchdogAlert
from rentguy_crm.privacy.models import ContactRedirect
from rentguy_crm.ratelimit.models import RateLimitSwitch
from rentguy_crm.reporting.models import FeedbackItem, Report
from rentguy_crm.support.models import Dispatch as SupportDispatch
from rentguy_crm.support.models import RunbookTick as SupportRunbookTick
from rentguy_crm.support.models import SlaMark as SupportSlaMark
from rentguy_crm.support.models import Ticket as SupportTicket
from rentguy_crm.support.models import TicketLink as SupportTicketLink
from rentguy_crm.support.models import TimelineEntry as SupportTimelineEntry
from rentguy_crm.templates.models import Delivery, Template, TemplateVersion
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.webhooks.mollie.models import Payment

metadata = Base.metadata

__all__ = [
    "Activity", "ApiKey", "AuditEntry", "AutomationRun", "CalendarDeltaState", "CalendarEventLink",
    "Contact", "ContactRedirect", "Deal", "Delivery", "Event", "FeedbackItem",
    "IdempotencyRecord", "Lead", "LeadCaptureTally", "LoginLink", "MarketingOptOut", "Payment", "Pipeline",
    "PipelineStage", "RateLimitSwitch", "Report", "ScheduleRun", "SupportDispatch", "SupportRunbookTick",
    "SupportSlaMark", "SupportTicket", "SupportTicketLink", "SupportTimelineEntry", "Template", "TemplateVersion",
    "Tenant", "User", "UserSession", "WatchdogAlert", "WorkerRecord", "Workflow", "WorkflowPause", "metadata",
]
