"""Jira Cloud REST v3 `POST /rest/api/3/issue`: basic auth (e-mail + API token), ADF description required,
`{"errorMessages", "errors"}` on 400, 201 with `{"id", "key", "self"}`."""

from __future__ import annotations

import base64
from typing import Any

from tests.integrations.fakes import as_json, path_of
from tests.vendor_fakes import HttpFake, Reply, Request


class JiraFake(HttpFake):
    def __init__(self, email: str, token: str, projects: dict[str, set[str]]) -> None:
        super().__init__()
        self.auth = "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()
        self.projects = projects  # key -> issue type names
        self.issues: dict[str, dict[str, Any]] = {}

    def reply_for(self, request: Request) -> Reply:
        if self.script:
            return self.script.popleft()
        if request.headers.get("authorization") != self.auth:
            return as_json(401, {"errorMessages": ["Client must be authenticated to access this resource."],
                                 "errors": {}})
        if request.method != "POST" or path_of(request) != "/rest/api/3/issue":
            return as_json(404, {"errorMessages": ["Not found"], "errors": {}})
        fields = request.json().get("fields") or {}
        errors: dict[str, str] = {}
        project = (fields.get("project") or {}).get("key")
        if project not in self.projects:
            errors["project"] = "valid project is required"
        elif (fields.get("issuetype") or {}).get("name") not in self.projects[project]:
            errors["issuetype"] = "Specify a valid issue type"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        description = fields.get("description")
        if description is not None and (not isinstance(description, dict) or description.get("type") != "doc"):
            errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        if errors:
            return as_json(400, {"errorMessages": [], "errors": errors})
        key = f"{project}-{len(self.issues) + 1}"
        self.issues[key] = fields
        return as_json(201, {"id": str(10000 + len(self.issues)), "key": key,
                             "self": f"{self.url('')}/rest/api/3/issue/{key}"})
