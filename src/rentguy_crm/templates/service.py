"""Template logic: drafts, edits, publishing (one live version), archiving, previews, diffs and the look-up a
sending step uses. Flushes, never commits."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import job_scope
from rentguy_crm.crm.models import Deal, Lead
from rentguy_crm.crm.repository import get_scoped
from rentguy_crm.crm.variables import subject_variables
from rentguy_crm.db import utcnow
from rentguy_crm.errors import BadRequest, Conflict, NotFound, ValidationFailed
from rentguy_crm.kit import rows
from rentguy_crm.kit.markup import Markup, for_chat
from rentguy_crm.templates import repository, samples, schemas
from rentguy_crm.templates.library import content_checksum
from rentguy_crm.templates.lint import lint
from rentguy_crm.templates.models import Template, TemplateVersion
from rentguy_crm.templates.rendering import (
    PARTS,
    RenderedMessage,
    TemplateContent,
    TemplateProblem,
    check_part,
    record_roots,
    render,
    sample_context,
    validate,
)
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope

FALLBACK_LANGUAGES = ("nl", "en")
# Chat messages are plain text on both chat channels: a Teams notice may use the Slack template of the same key.
CHANNEL_FALLBACK = {"teams": ("teams", "slack"), "slack": ("slack", "teams")}


def content_of(version: TemplateVersion) -> TemplateContent:
    return TemplateContent(subject=version.subject, text_body=version.text_body, html_body=version.html_body,
                           variables=list(version.variables or []), meta=dict(version.meta or {}))


def _problem_error(problem: TemplateProblem, action: str) -> ValidationFailed:
    return ValidationFailed(f"The template cannot be {action}: {problem}", errors=[problem.as_error()])


def _check_syntax(content: TemplateContent) -> None:
    """What a draft must satisfy to be saved: every part parses. Publishing checks much more."""
    for part, source in content.parts():
        try:
            check_part(part, source, content.variables)
        except TemplateProblem as problem:
            if problem.message.startswith(("syntax error", "too much work")):
                raise _problem_error(problem, "saved") from None


def _channel_rules(channel: str, content: TemplateContent) -> None:
    if channel == "email" and not content.subject:
        raise ValidationFailed("An e-mail template needs a subject.", errors=[{"field": "subject",
                                                                                "message": "required for email"}])
    if channel == "whatsapp" and not (content.meta.get("whatsapp") or {}).get("name"):
        raise ValidationFailed("A WhatsApp template needs 'whatsapp' with the approved template name.",
                               errors=[{"field": "whatsapp", "message": "required for whatsapp"}])
    if channel != "email" and content.html_body:
        raise ValidationFailed(f"Only e-mail templates have an HTML body (this one is {channel}).",
                               errors=[{"field": "html_body", "message": "only for email"}])


def chat_markup(channel: str) -> Markup | None:
    return for_chat(channel) if channel in ("slack", "teams") else None


def publish_contexts(tenant: Tenant, content: TemplateContent,
                     real: list[samples.Sample]) -> list[tuple[str, dict[str, Any]]]:
    """The contexts a version must render with to be published: typed samples, then the real records whose
    kind the template uses (a lead's run has no deal, so a deal template is not tried on a lead)."""
    roots = record_roots(content)
    placeholders = sample_context(content.variables)
    contexts = []
    for sample in [*samples.typed_samples(), *real]:
        if roots & set(samples.RECORDS) <= set(sample.variables):
            contexts.append((sample.label, {**placeholders, **build_context(tenant, sample.variables)}))
    return contexts


async def check_publishable(session: AsyncSession, tenant: Tenant, channel: str, content: TemplateContent) -> None:
    real = await samples.recent_real(session, tenant, record_roots(content))
    try:
        validate(content, publish_contexts(tenant, content, real), chat=chat_markup(channel))
    except TemplateProblem as problem:
        raise _problem_error(problem, "published") from None


def warnings_of(content: TemplateContent) -> list[dict[str, Any]]:
    """Values a real record may leave empty that the template prints without a fallback (a warning, not a
    refusal: the template may know its records better)."""
    return [w.as_dict() for w in lint(content, samples.may_be_empty())]


def version_view(version: TemplateVersion) -> schemas.TemplateVersion:
    view = schemas.TemplateVersion.model_validate(version)
    view.warnings = [schemas.TemplateWarning(**w) for w in warnings_of(content_of(version))]
    return view


async def new_version(session: AsyncSession, template: Template, content: TemplateContent, *, actor: str,
                       origin: str = "manual", source_checksum: str | None = None) -> TemplateVersion:
    version = TemplateVersion(
        tenant_id=template.tenant_id, template_id=template.id,
        version=await repository.next_version_number(session, job_scope(template.tenant_id), template.id),
        status="draft",
        subject=content.subject, text_body=content.text_body, html_body=content.html_body,
        variables=list(content.variables), meta=dict(content.meta), checksum=content_checksum(content),
        origin=origin, source_checksum=source_checksum, created_by=actor)
    session.add(version)
    await session.flush()
    return version


async def ensure_template(session: AsyncSession, tenant: Tenant, key: str, channel: str, language: str,
                          description: str | None = None) -> Template:
    template = await repository.find_template(session, job_scope(tenant.id), key, channel, language)
    if template is None:
        template = Template(tenant_id=tenant.id, key=key, channel=channel, language=language,
                            description=description)
        session.add(template)
        await session.flush()
    return template


async def create_draft(session: AsyncSession, tenant: Tenant, body: schemas.TemplateCreate,
                       actor: str) -> tuple[Template, TemplateVersion]:
    content = TemplateContent(subject=body.subject, text_body=body.text_body, html_body=body.html_body,
                              variables=body.variables,
                              meta={"whatsapp": body.whatsapp.model_dump()} if body.whatsapp else {})
    _channel_rules(body.channel, content)
    _check_syntax(content)
    template = await ensure_template(session, tenant, body.key, body.channel, body.language, body.description)
    version = await new_version(session, template, content, actor=actor)
    await audit.record(session, actor=actor, action="template.draft_created", entity_type="template_version",
                       entity_id=version.id, tenant_id=tenant.id,
                       after={"key": template.key, "channel": template.channel, "language": template.language,
                              "version": version.version})
    return template, version


async def edit(session: AsyncSession, tenant: Tenant, version_id: int, body: schemas.TemplateUpdate,
               actor: str) -> tuple[Template, TemplateVersion]:
    version = await repository.version(session, job_scope(tenant.id), version_id)
    template = await repository.template(session, job_scope(tenant.id), version.template_id)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise BadRequest("Nothing to change: give at least one of subject, text_body, html_body, variables, "
                         "whatsapp, description.")
    base = content_of(version)
    meta = dict(base.meta)
    if "whatsapp" in changes:
        meta["whatsapp"] = body.whatsapp.model_dump() if body.whatsapp else None
        meta = {k: v for k, v in meta.items() if v is not None}
    content = TemplateContent(
        subject=changes.get("subject", base.subject), text_body=changes.get("text_body") or base.text_body,
        html_body=changes.get("html_body", base.html_body),
        variables=changes["variables"] if changes.get("variables") is not None else base.variables, meta=meta)
    _channel_rules(template.channel, content)
    _check_syntax(content)
    if "description" in changes:
        template.description = body.description
    if version.status == "draft":
        version.subject, version.text_body, version.html_body = content.subject, content.text_body, content.html_body
        version.variables, version.meta = list(content.variables), dict(content.meta)
        version.checksum = content_checksum(content)
        version.created_by = actor
        target = version
    else:
        # A live or archived version is history; the edit becomes a new draft next to it.
        target = await new_version(session, template, content, actor=actor)
    await session.flush()
    await audit.record(session, actor=actor, action="template.draft_edited", entity_type="template_version",
                       entity_id=target.id, tenant_id=tenant.id,
                       after={"key": template.key, "version": target.version, "from_version": version.version})
    return template, target


async def publish(session: AsyncSession, tenant: Tenant, version_id: int, actor: str) -> TemplateVersion:
    await repository.lock_template_of(session, job_scope(tenant.id), version_id)
    version = await repository.version(session, job_scope(tenant.id), version_id)
    await session.refresh(version)
    template = await repository.template(session, job_scope(tenant.id), version.template_id)
    if version.status == "live":
        return version
    if version.status == "archived":
        raise Conflict(f"Version {version.version} of {template.key} is archived; edit it to make a new draft "
                       "and publish that.")
    content = content_of(version)
    _channel_rules(template.channel, content)
    await check_publishable(session, tenant, template.channel, content)
    now = utcnow()
    previous = await repository.live_version(session, job_scope(tenant.id), template.id)
    await repository.archive_live_versions(session, job_scope(tenant.id), template.id, keep=version.id, now=now)
    version.status, version.published_at = "live", now
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"Another publish of {template.key} won the race; reload and try again.") from None
    await audit.record(session, actor=actor, action="template.published", entity_type="template_version",
                       entity_id=version.id, tenant_id=tenant.id,
                       before={"live_version": previous.version if previous else None},
                       after={"key": template.key, "channel": template.channel, "language": template.language,
                              "live_version": version.version})
    return version


async def archive(session: AsyncSession, tenant: Tenant, version_id: int, actor: str) -> TemplateVersion:
    version = await repository.version(session, job_scope(tenant.id), version_id)
    if version.status == "archived":
        return version
    before = version.status
    version.status, version.archived_at = "archived", utcnow()
    await session.flush()
    await audit.record(session, actor=actor, action="template.archived", entity_type="template_version",
                       entity_id=version.id, tenant_id=tenant.id, before={"status": before},
                       after={"status": "archived", "version": version.version})
    return version


def summary(template: Template, versions: list[TemplateVersion]) -> schemas.TemplateSummary:
    live = next((v.version for v in versions if v.status == "live"), None)
    return schemas.TemplateSummary(
        id=template.id, key=template.key, channel=template.channel, language=template.language,
        description=template.description, live_version=live,
        latest_version=max((v.version for v in versions), default=None),
        drafts=sum(1 for v in versions if v.status == "draft"))


async def list_summaries(session: AsyncSession, tenant: Tenant, **filters: str | None) -> list[schemas.TemplateSummary]:
    templates = await repository.templates(session, job_scope(tenant.id), **filters)
    versions = await repository.versions(session, job_scope(tenant.id), [t.id for t in templates])
    by_template: dict[int, list[TemplateVersion]] = {}
    for v in versions:
        by_template.setdefault(v.template_id, []).append(v)
    return [summary(t, by_template.get(t.id, [])) for t in templates]


async def detail(session: AsyncSession, tenant: Tenant, template_id: int) -> schemas.Template:
    template = await repository.template(session, job_scope(tenant.id), template_id)
    versions = await repository.versions(session, job_scope(tenant.id), [template.id])
    return schemas.Template(**summary(template, versions).model_dump(),
                            versions=[version_view(v) for v in versions])


def _latest_draft(versions: list[TemplateVersion]) -> TemplateVersion | None:
    drafts = [v for v in versions if v.status == "draft"]
    return max(drafts, key=lambda v: v.version) if drafts else None


async def diff(session: AsyncSession, tenant: Tenant, template_id: int) -> schemas.Diff:
    template = await repository.template(session, job_scope(tenant.id), template_id)
    versions = await repository.versions(session, job_scope(tenant.id), [template.id])
    live = next((v for v in versions if v.status == "live"), None)
    draft = _latest_draft(versions)
    chunks: list[str] = []
    for part in (*PARTS, "variables", "meta"):
        def text_of(v: TemplateVersion | None, part: str = part) -> list[str]:
            if v is None:
                return []
            value = getattr(v, part)
            if part in ("variables", "meta"):
                import json

                value = json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)
            # Every line ends in a newline, so a last line without one does not run into the next in the diff.
            return [line + "\n" for line in (value or "").splitlines()]

        old_name = f"live v{live.version}" if live else "live (none)"
        new_name = f"draft v{draft.version}" if draft else "draft (none)"
        chunk = "".join(difflib.unified_diff(text_of(live), text_of(draft), f"{old_name} {part}",
                                             f"{new_name} {part}"))
        if chunk:
            chunks.append(chunk if chunk.endswith("\n") else chunk + "\n")
    return schemas.Diff(template_id=template.id, live_version=live.version if live else None,
                        draft_version=draft.version if draft else None, changed=bool(chunks), diff="".join(chunks))


def brand_of(tenant: Tenant) -> dict[str, Any]:
    return dict((tenant.config or {}).get("branding") or {})


def tenant_vars(tenant: Tenant) -> dict[str, Any]:
    return {"name": tenant.name, "slug": tenant.slug}


def build_context(tenant: Tenant, variables: dict[str, Any]) -> dict[str, Any]:
    """The render context: the run's variables, then the tenant's brand tokens and identity, which a run may
    not override."""
    context = {k: rows.public(v) if hasattr(v, "__table__") else v for k, v in variables.items()}
    context["brand"] = {**{t: None for t in ("secondary_color", "website")}, **brand_of(tenant)}
    context["tenant"] = tenant_vars(tenant)
    return context


async def real_context(session: AsyncSession, tenant: Tenant, scope: TenantScope, lead_id: int | None,
                       deal_id: int | None) -> dict[str, Any]:
    """The variables a run about this lead or deal would see (another tenant's record is not found)."""
    if deal_id is not None:
        await get_scoped(session, Deal, scope, deal_id, "deal")
    if lead_id is not None:
        await get_scoped(session, Lead, scope, lead_id, "lead")
    return await subject_variables(session, tenant, lead_id=lead_id, deal_id=deal_id)


async def preview(session: AsyncSession, tenant: Tenant, scope: TenantScope, version_id: int,
                  body: schemas.PreviewRequest, unsaved: schemas.TemplateUpdate | None = None) -> schemas.Preview:
    """`scope`: the caller's (the principal's, or an operator's command's for `tenant`). `unsaved`: the editor's
    text laid over the version, so a person sees their change before saving it."""
    version = await repository.version(session, job_scope(tenant.id), version_id)
    content = content_of(version)
    if unsaved is not None:
        changes = unsaved.model_dump(exclude_unset=True)
        content = TemplateContent(subject=changes.get("subject", content.subject),
                                  text_body=changes.get("text_body") or content.text_body,
                                  html_body=changes.get("html_body", content.html_body),
                                  variables=content.variables, meta=content.meta)
        _check_syntax(content)
    real = body.lead_id is not None or body.deal_id is not None
    if real:
        context = build_context(tenant, {**await real_context(session, tenant, scope, body.lead_id, body.deal_id),
                                         **body.variables})
    else:
        # The filled sample with the types a run gives (a date, Decimal money); names that are not records
        # show as "[name]", so a preview says where they go.
        context = {**sample_context(content.variables, brand_of(tenant), tenant_vars(tenant)),
                   **{name: value for name, value in samples.sample_records(empty=False).items()
                      if name in record_roots(content)}}
        for name, value in body.variables.items():
            if name not in ("brand", "tenant"):
                context[name] = value
    template = await repository.template(session, job_scope(tenant.id), version.template_id)
    try:
        rendered = render(content, context, chat=chat_markup(template.channel))
    except TemplateProblem as problem:
        raise _problem_error(problem, "rendered") from None
    return schemas.Preview(template_id=version.template_id, version=version.version, subject=rendered.subject,
                           text=rendered.text, html=rendered.html, whatsapp_parameters=rendered.whatsapp_parameters,
                           data="real" if real else "sample")


@dataclass
class ResolvedTemplate:
    template: Template
    version: TemplateVersion

    @property
    def content(self) -> TemplateContent:
        return content_of(self.version)


def language_order(preferred: str | None, tenant: Tenant) -> list[str]:
    order: list[str] = []
    for language in (preferred, tenant.locale, *FALLBACK_LANGUAGES):
        if language and language not in order:
            order.append(language)
    return order


async def resolve(session: AsyncSession, tenant: Tenant, key: str, channel: str, *, language: str | None = None,
                  version: int | None = None, vertical: str | None = None) -> ResolvedTemplate:
    """The version a step sends: `<key>-<vertical>` before `<key>`, the preferred language, then nl, then en
    (a chat channel then the other chat channel); the live version unless a version is pinned."""
    keys = [f"{key}-{vertical}", key] if vertical and vertical != "general" and version is None else [key]
    for candidate in keys:
        for lang, chan in ((lang, chan) for lang in language_order(language, tenant)
                           for chan in CHANNEL_FALLBACK.get(channel, (channel,))):
            template = await repository.find_template(session, job_scope(tenant.id), candidate, chan, lang)
            if template is None:
                continue
            if version is not None and candidate == key:
                pinned = await repository.version_by_number(session, job_scope(tenant.id), template.id, version)
                if pinned is None or pinned.status == "draft":
                    raise NotFound(f"Template {key} ({channel}, {lang}) has no published version {version}.")
                return ResolvedTemplate(template, pinned)
            live = await repository.live_version(session, job_scope(tenant.id), template.id)
            if live is not None:
                return ResolvedTemplate(template, live)
    raise NotFound(f"Template {key} ({channel}) has no live version in {', '.join(language_order(language, tenant))} "
                   f"for tenant {tenant.slug}; publish one (crm templates publish) or clone the base library "
                   f"(crm templates clone --tenant {tenant.slug} --publish).")


def render_resolved(tenant: Tenant, resolved: ResolvedTemplate, variables: dict[str, Any], *,
                    channel: str | None = None) -> RenderedMessage:
    """Render for delivery on `channel` (default: the template's own): a Slack template sent to Teams is
    escaped for Teams."""
    return render(resolved.content, build_context(tenant, variables),
                  chat=chat_markup(channel or resolved.template.channel))
