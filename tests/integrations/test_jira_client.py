"""The Jira issue tracker and the ADF builder against a fake of Jira Cloud's issue API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rentguy_crm.integrations.base import PermanentDeliveryError, RetryableDeliveryError
from rentguy_crm.integrations.jira import adf
from rentguy_crm.integrations.jira.client import JiraIssueTracker
from rentguy_crm.tenants.sections.channels import JiraChannel
from tests.integrations.fakes import as_json
from tests.integrations.fakes.jira import JiraFake

TOKEN = "ATATT3xFfGF0-test-token"
DOC = adf.document(adf.heading("Tijdlijn"), adf.paragraph("API down"), adf.bullet_list(["stap 1", "stap 2"]),
                   adf.table(["wat", "aantal"], [["runs", "12"], ["leads", "3"]]))


@pytest.fixture
async def jira(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[JiraFake]:
    monkeypatch.setenv("TEST_JIRA_TOKEN", TOKEN)
    async with JiraFake("ops@rentguy.nl", TOKEN, {"OPS": {"Task"}, "CRM": {"Bug"}}) as fake:
        yield fake


def tracker(fake: JiraFake, **overrides: object) -> JiraIssueTracker:
    return JiraIssueTracker(JiraChannel.model_validate({
        "base_url": fake.url(""), "email": "ops@rentguy.nl", "api_token": "env:TEST_JIRA_TOKEN", **overrides}))


async def test_a_retro_issue_is_created_with_the_adf_description_and_configured_fields(jira: JiraFake) -> None:
    key = await tracker(jira, extra_fields={"customfield_10010": 3}).create_issue(
        project_key="OPS", issue_type="Task", summary="Retro: lead capture outage", description_adf=DOC,
        labels=["retro"])
    assert key == "OPS-1"
    fields = jira.issues[key]
    assert fields["description"] == DOC
    assert fields["labels"] == ["crm-incident", "retro"]
    assert fields["customfield_10010"] == 3


async def test_an_unknown_issue_type_is_a_permanent_validation_error(jira: JiraFake) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"jira: request refused \(400\): issuetype: Specify a valid"):
        await tracker(jira).create_issue(project_key="OPS", issue_type="Bug", summary="s", description_adf=DOC,
                                         labels=[])


async def test_a_wrong_token_is_a_permanent_authentication_error(jira: JiraFake,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_JIRA_TOKEN", "wrong")
    with pytest.raises(PermanentDeliveryError, match=r"authentication failed \(401\): Client must be authenticated"):
        await tracker(jira).create_issue(project_key="OPS", issue_type="Task", summary="s", description_adf=DOC,
                                         labels=[])


async def test_a_rate_limit_and_a_server_error_are_retryable(jira: JiraFake) -> None:
    jira.script.append(as_json(429, {"errorMessages": ["Rate limit exceeded"]}, {"Retry-After": "5"}))
    jira.script.append(as_json(500, {"errorMessages": ["Internal server error"], "errors": {}}))
    for _ in range(2):
        with pytest.raises(RetryableDeliveryError):
            await tracker(jira).create_issue(project_key="OPS", issue_type="Task", summary="s", description_adf=DOC,
                                             labels=[])
    assert jira.issues == {}


async def test_a_description_that_is_not_adf_is_refused_before_calling(jira: JiraFake) -> None:
    with pytest.raises(PermanentDeliveryError, match="ADF"):
        await tracker(jira).create_issue(project_key="OPS", issue_type="Task", summary="s",
                                         description_adf={"text": "plain"}, labels=[])
    assert jira.requests == []


def test_adf_nodes_have_jiras_shapes() -> None:
    assert DOC["type"] == "doc" and DOC["version"] == 1
    heading, _paragraph, bullets, table = DOC["content"]
    assert heading == {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Tijdlijn"}]}
    assert bullets["content"][1]["content"][0]["content"][0]["text"] == "stap 2"
    assert [row["content"][0]["type"] for row in table["content"]] == ["tableHeader", "tableCell", "tableCell"]
    assert adf.paragraph("") == {"type": "paragraph", "content": []}


def test_a_table_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="cells"):
        adf.table(["a", "b"], [["1"]])
