"""`IssueTracker` over Jira Cloud REST v3 (https://developer.atlassian.com/cloud/jira/platform/rest/v3/
api-group-issues/#api-rest-api-3-issue-post): `POST /rest/api/3/issue` with basic auth (account e-mail + API
token), the description in Atlassian Document Format (see `adf.py`). Errors are
`{"errorMessages": [...], "errors": {field: message}}`; `201` answers `{"id", "key", "self"}`.
"""

from __future__ import annotations

from typing import Any

import httpx

from rentguy_crm.integrations import vendor_http
from rentguy_crm.integrations.base import PermanentDeliveryError
from rentguy_crm.tenants.sections.channels import JiraChannel

VENDOR = "jira"


def reason(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    parts = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts += [f"{field}: {message}" for field, message in errors.items()]
    return "; ".join(parts) or None


class JiraIssueTracker:
    def __init__(self, config: JiraChannel) -> None:
        self.config = config

    async def create_issue(self, *, project_key: str, issue_type: str, summary: str, description_adf: dict[str, Any],
                           labels: list[str]) -> str:
        """Create an issue and answer its key (e.g. `OPS-12`). The configured `extra_fields` (site specific field
        ids) and `labels` are added to every issue."""
        if description_adf.get("type") != "doc" or description_adf.get("version") != 1:
            raise PermanentDeliveryError(f"{VENDOR}: the description must be an ADF document (type doc, version 1)")
        token = vendor_http.secret(VENDOR, self.config.api_token).get_secret_value()
        fields: dict[str, Any] = {
            **self.config.extra_fields,
            "project": {"key": project_key}, "issuetype": {"name": issue_type}, "summary": summary[:255],
            "description": description_adf, "labels": sorted({*self.config.labels, *labels})}
        response = await vendor_http.request(
            VENDOR, "POST", f"{self.config.base_url.rstrip('/')}/rest/api/3/issue", json={"fields": fields},
            auth=httpx.BasicAuth(self.config.email, token), headers={"Accept": "application/json"},
            timeout_seconds=self.config.timeout_seconds, reason=reason)
        key = response.json().get("key")
        if not isinstance(key, str):
            raise PermanentDeliveryError(f"{VENDOR}: the created issue came back without a key")
        return key
