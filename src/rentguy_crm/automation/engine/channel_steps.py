"""The channel steps of a workflow: send_email, send_whatsapp, notify and http_webhook.

Each renders its template for the run's subject and sends it with the step's idempotency key. A step that already
delivered (its key is in `template_deliveries`) returns the first result instead of sending again; the key also
travels to the vendor (Message-ID for e-mail, Idempotency-Key header over HTTP), so a send whose record was lost in
a crash is still recognisably the same message.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from rentguy_crm.automation.engine.step_fields import render_fields
from rentguy_crm.automation.engine.step_registry import StepContext, StepResult, register_step
from rentguy_crm.automation.workflows.definitions import HttpWebhook, Notify, SendEmail, SendWhatsapp
from rentguy_crm.crm import optout
from rentguy_crm.errors import AppError
from rentguy_crm.integrations.base import DeliveryReceipt, EmailMessage, PermanentDeliveryError
from rentguy_crm.integrations.registry import channels_config
from rentguy_crm.kit import rows, secrets
from rentguy_crm.kit.markup import header
from rentguy_crm.templates import repository, service
from rentguy_crm.templates.models import Delivery
from rentguy_crm.templates.rendering import RenderedMessage, TemplateProblem
from rentguy_crm.tenants.config import TenantConfig


def _as_step(model: type[BaseModel], step: Any) -> Any:
    return step if isinstance(step, model) else model.model_validate(step)


def _record(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if hasattr(value, "__table__"):
        return rows.public(value)
    return dict(vars(value))


def _vertical(ctx: StepContext) -> str | None:
    if ctx.variables.get("vertical"):
        return str(ctx.variables["vertical"])
    event_type = _record(ctx.variables.get("lead")).get("event_type")
    try:
        return TenantConfig.model_validate(ctx.tenant.config).pipeline_for_event_type(event_type).vertical
    except ValueError:
        return None


def _language(ctx: StepContext) -> str | None:
    for source in (ctx.variables, _record(ctx.variables.get("contact")), _record(ctx.variables.get("lead"))):
        if source.get("language") in ("nl", "en"):
            return str(source["language"])
    return None


async def _already_delivered(ctx: StepContext) -> StepResult | None:
    done = await repository.delivery(ctx.session, ctx.idempotency_key)
    if done is None:
        return None
    return StepResult.done(message_id=done.message_id, channel=done.channel, template=done.template_key,
                           version=done.template_version, deduplicated=True)


async def _render(ctx: StepContext, key: str, channel: str, version: int | None) -> tuple[RenderedMessage, int]:
    try:
        resolved = await service.resolve(ctx.session, ctx.tenant, key, channel, language=_language(ctx),
                                         version=version, vertical=_vertical(ctx))
        # Escaped for the channel it is delivered to: a Slack template sent to Teams gets Teams' escaping.
        return (service.render_resolved(ctx.tenant, resolved, ctx.variables, channel=channel),
                resolved.version.version)
    except TemplateProblem as problem:
        raise PermanentDeliveryError(f"template {key} ({channel}): {problem}") from None
    except AppError as exc:
        raise PermanentDeliveryError(exc.detail) from None


async def _remember(ctx: StepContext, channel: str, receipt: DeliveryReceipt, *, template: str | None,
                    version: int | None, recipient: str | None) -> StepResult:
    ctx.session.add(Delivery(tenant_id=ctx.tenant.id, idempotency_key=ctx.idempotency_key, channel=channel,
                             template_key=template, template_version=version, recipient=recipient,
                             message_id=receipt.message_id, created_at=ctx.now))
    await ctx.session.flush()
    return StepResult.done(message_id=receipt.message_id, channel=channel, template=template, version=version)


@register_step("send_email")
async def send_email(ctx: StepContext, step: Any) -> StepResult:
    step = render_fields(ctx, _as_step(SendEmail, step))
    if (earlier := await _already_delivered(ctx)) is not None:
        return earlier
    contact = _record(ctx.variables.get("contact"))
    if step.to == "contact":
        recipient = contact.get("email")
        if not recipient:
            return StepResult.done(skipped="the contact has no e-mail address")
    elif "@" in step.to:
        recipient = step.to
    else:
        raise PermanentDeliveryError(f"send_email: 'to' must be 'contact' or an e-mail address, not {step.to!r}")
    if header(str(recipient)) != str(recipient):
        # An address with a line break would add headers; no retry makes it usable.
        raise PermanentDeliveryError("send_email: the recipient address contains control characters")
    # Marketing mail only with consent and without an objection; transactional mail (their own enquiry) goes
    # to everyone. What is marketing: the step's flag or the tenant's `privacy` config (crm/optout.py).
    workflow = _record(ctx.variables.get("run")).get("workflow")
    marketing = optout.is_marketing(ctx.tenant, step_marketing=step.marketing, workflow=workflow,
                                    template=step.template)
    refusal = await optout.marketing_refusal(ctx.session, ctx.tenant, contact, step_marketing=step.marketing,
                                             workflow=workflow, template=step.template)
    if refusal:
        return StepResult.done(skipped=refusal)
    rendered, version = await _render(ctx, step.template, "email", step.version)
    unsubscribe = None
    if marketing:
        email_config = channels_config(ctx.tenant).email
        configured = email_config.unsubscribe_url if email_config else None
        if configured and "{token}" not in configured:  # the tenant's own page, as configured before
            unsubscribe = configured.replace("{contact_id}", str(contact.get("id", "")))
        elif contact.get("id") is not None:
            unsubscribe = optout.unsubscribe_url(ctx.tenant, int(contact["id"]), configured)
    message = EmailMessage(to=str(recipient), subject=rendered.subject or "", text=rendered.text, html=rendered.html,
                           marketing=marketing, unsubscribe_url=unsubscribe)
    receipt = await ctx.channels.require("mailer").send(message, idempotency_key=ctx.idempotency_key)
    return await _remember(ctx, "email", receipt, template=step.template, version=version, recipient=str(recipient))


@register_step("send_whatsapp")
async def send_whatsapp(ctx: StepContext, step: Any) -> StepResult:
    step = _as_step(SendWhatsapp, step)
    if (earlier := await _already_delivered(ctx)) is not None:
        return earlier
    contact = _record(ctx.variables.get("contact"))
    phone = contact.get("phone")
    if not phone:
        return StepResult.done(skipped="the contact has no phone number")
    refusal = await optout.marketing_refusal(ctx.session, ctx.tenant, contact, step_marketing=step.marketing,
                                             workflow=_record(ctx.variables.get("run")).get("workflow"),
                                             template=step.template)
    if refusal:
        return StepResult.done(skipped=refusal)
    resolved_language = _language(ctx)
    try:
        resolved = await service.resolve(ctx.session, ctx.tenant, step.template, "whatsapp",
                                         language=resolved_language, version=step.version, vertical=_vertical(ctx))
        rendered = service.render_resolved(ctx.tenant, resolved, ctx.variables)
    except TemplateProblem as problem:
        raise PermanentDeliveryError(f"template {step.template} (whatsapp): {problem}") from None
    except AppError as exc:
        raise PermanentDeliveryError(exc.detail) from None
    spec = resolved.version.meta.get("whatsapp") or {}
    receipt = await ctx.channels.require("messenger").send_template(
        str(phone), spec["name"], spec.get("language") or resolved.template.language, rendered.whatsapp_parameters,
        idempotency_key=ctx.idempotency_key)
    return await _remember(ctx, "whatsapp", receipt, template=step.template, version=resolved.version.version,
                           recipient=str(phone))


@register_step("notify")
async def notify(ctx: StepContext, step: Any) -> StepResult:
    step = render_fields(ctx, _as_step(Notify, step))
    if (earlier := await _already_delivered(ctx)) is not None:
        return earlier
    rendered, version = await _render(ctx, step.template, step.channel, None)
    channel = ctx.channels.require(step.channel)
    target = (step.target or "").strip() or None
    receipt = await channel.post(rendered.text.strip(), target=target, idempotency_key=ctx.idempotency_key)
    return await _remember(ctx, step.channel, receipt, template=step.template, version=version,
                           recipient=target)


def _default_body(ctx: StepContext) -> dict[str, Any]:
    body: dict[str, Any] = {"tenant": ctx.tenant.slug, "run_id": ctx.run_id, "step": ctx.step_number}
    for name in ("lead", "deal", "contact"):
        record = _record(ctx.variables.get(name))
        if record.get("id") is not None:
            body[f"{name}_id"] = record["id"]
    return body


@register_step("http_webhook")
async def http_webhook(ctx: StepContext, step: Any) -> StepResult:
    if (earlier := await _already_delivered(ctx)) is not None:
        return earlier
    # The body template is inline Jinja in the same sandbox; values printed inside a JSON string are escaped
    # for it, and `tojson` writes a whole value.
    step = render_fields(ctx, _as_step(HttpWebhook, step))
    if step.body_template:
        text = step.body_template
        try:
            json.loads(text)
        except ValueError:
            raise PermanentDeliveryError("http_webhook: the rendered body_template is not valid JSON") from None
        body = text.encode()
    else:
        body = json.dumps(_default_body(ctx), default=str, separators=(",", ":")).encode()
    secret = None
    if step.secret:
        try:
            secret = secrets.resolve(step.secret).get_secret_value()
        except secrets.SecretUnavailable as exc:
            raise PermanentDeliveryError(f"http_webhook: {exc}") from None
    receipt = await ctx.channels.require("webhooks").post(step.url, body, secret=secret,
                                                          idempotency_key=ctx.idempotency_key)
    return await _remember(ctx, "webhook", receipt, template=None, version=None, recipient=step.url[:320])
