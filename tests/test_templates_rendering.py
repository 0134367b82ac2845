"""Rendering in the sandbox: internals out of reach, undeclared and missing variables named with part and line."""

from __future__ import annotations

import pytest

from rentguy_crm.templates import service
from rentguy_crm.templates.library import load_library
from rentguy_crm.templates.rendering import TemplateContent, TemplateProblem, render, render_part, validate
from rentguy_crm.tenants.models import Tenant


def content(text: str, variables: list[str] | None = None, html: str | None = None) -> TemplateContent:
    return TemplateContent(subject="Hallo", text_body=text, html_body=html,
                           variables=variables if variables is not None else ["contact.first_name"], meta={})


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ contact.first_name.__class__ }}",
    "{{ contact['__class__'] }}",
    "{{ contact.first_name|attr('__class__') }}",
    "{% set x = ''.__class__ %}{{ x }}",
])
def test_publishing_refuses_a_reach_for_python_internals(source: str) -> None:
    with pytest.raises(TemplateProblem) as err:
        validate(content("Hoi\n" + source))
    assert err.value.part == "text_body"
    assert err.value.line == 2


def test_computed_dunder_lookup_is_stopped_by_the_sandbox() -> None:
    with pytest.raises(TemplateProblem, match="not allowed") as err:
        validate(content("Hoi\n\n{{ contact.first_name['__cl' ~ 'ass__'] }}"))
    assert err.value.line == 3


def test_globals_that_lead_to_internals_are_not_available() -> None:
    with pytest.raises(TemplateProblem, match="undeclared variable 'lipsum'"):
        validate(content("{{ lipsum() }}"))


def test_undeclared_variable_is_named_with_part_and_line() -> None:
    with pytest.raises(TemplateProblem) as err:
        validate(content("Hoi {{ contact.first_name }}", html="<p>\n{{ invoice_total }}</p>"))
    assert str(err.value) == "undeclared variable 'invoice_total' (in html_body line 2)"


def test_undeclared_attribute_of_a_declared_object_is_named() -> None:
    with pytest.raises(TemplateProblem) as err:
        validate(content("Hoi {{ contact.first_name }}\n{{ contact.iban }}"))
    assert err.value.name == "contact.iban"
    assert "undeclared attribute 'iban' of 'contact'" in str(err.value)
    assert err.value.line == 2


def test_brand_tokens_need_no_declaration_but_unknown_ones_fail() -> None:
    validate(content("{{ brand.primary_color }} {{ brand.logo_url }} {{ tenant.name }}"))
    with pytest.raises(TemplateProblem, match=r"brand\.font"):
        validate(content("{{ brand.font }}"))


def test_missing_value_at_render_time_fails_instead_of_printing_nothing() -> None:
    with pytest.raises(TemplateProblem, match="missing value") as err:
        render(content("Hoi\n{{ contact.first_name }}"), {"contact": {}, "brand": {}, "tenant": {}})
    assert (err.value.part, err.value.line) == ("text_body", 2)


def test_empty_fields_print_as_nothing() -> None:
    assert render_part("text_body", "[{{ lead.venue }}]", {"lead": {"venue": None}}) == "[]"


def test_html_body_is_escaped_and_text_body_is_not() -> None:
    message = render(content("{{ contact.first_name }}", html="<p>{{ contact.first_name }}</p>"),
                     {"contact": {"first_name": "<b>Anna</b>"}})
    assert message.text == "<b>Anna</b>"
    assert message.html == "<p>&lt;b&gt;Anna&lt;/b&gt;</p>"


def test_syntax_error_names_part_and_line() -> None:
    with pytest.raises(TemplateProblem, match="syntax error") as err:
        validate(content("a\nb\n{% if %}"))
    assert err.value.line == 3


def test_every_library_template_passes_publish_validation() -> None:
    entries = load_library()
    keys = {e.key for e in entries}
    assert {"lead-welcome", "lead-new-slack", "proposal-reminder", "proposal-reminder-whatsapp",
            "post-event-survey", "invoice-reminder", "finance-notify", "ops-alert"} <= keys
    tenant = Tenant(id=1, slug="mrdj", name="Mr. DJ", locale="nl", timezone="Europe/Amsterdam",
                    config={"branding": {"primary_color": "#1A1A2E", "logo_url": "https://mr-dj.nl/logo.svg"}})
    for entry in entries:
        # The typed samples publishing renders against (a fresh tenant has no records yet).
        validate(entry.content, service.publish_contexts(tenant, entry.content, []),
                 chat=service.chat_markup(entry.channel))
    assert {e.language for e in entries} == {"nl", "en"}


def test_library_keeps_branding_as_tokens() -> None:
    welcome = next(e for e in load_library() if e.key == "lead-welcome" and e.language == "nl")
    assert "{{ brand.primary_color }}" in (welcome.content.html_body or "")
