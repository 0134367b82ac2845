"""Opsgenie's Alert and Schedule API (https://docs.opsgenie.com/docs/alert-api): `GenieKey` auth, 202 with a
`requestId` for create/close, alias deduplication, on-call participants and user contacts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.integrations.fakes import as_json, path_of, query_of
from tests.vendor_fakes import HttpFake, Reply, Request


@dataclass
class FakeAlert:
    alias: str
    message: str
    priority: str
    responders: list[dict[str, str]]
    status: str = "open"
    count: int = 1
    notes: list[str] = field(default_factory=list)


def took(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "took": 0.01, "requestId": str(uuid.uuid4())}


class OpsgenieFake(HttpFake):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.alerts: dict[str, FakeAlert] = {}
        # schedule name -> on-call participants (Opsgenie's flat=false shape); user id -> contacts
        self.schedules: dict[str, list[dict[str, Any]]] = {}
        self.contacts: dict[str, list[dict[str, Any]]] = {}
        # requestId -> what processing the asynchronous request gave (GET /v2/alerts/requests/{id})
        self.processed: dict[str, dict[str, Any]] = {}

    def accepted(self, action: str, alias: str) -> Reply:
        """Opsgenie's 202 for an asynchronous request, remembered for its status query."""
        body = took({"result": "Request will be processed"})
        self.processed[body["requestId"]] = {"success": True, "isSuccess": True, "action": action,
                                             "status": f"{action}d alert", "alias": alias,
                                             "alertId": f"alert-{alias}", "processedAt": "2025-03-16T10:00:00Z"}
        return as_json(202, body)

    def reply_for(self, request: Request) -> Reply:
        if self.script:
            return self.script.popleft()
        auth = request.headers.get("authorization", "")
        if not auth.startswith("GenieKey "):
            return as_json(401, took({"message": "Could not authenticate"}))
        if auth != f"GenieKey {self.api_key}":
            return as_json(403, took({"message": "Key format is not valid!"}))
        path = path_of(request)
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if request.method == "POST" and parts == ["v2", "alerts"]:
            return self.create(request.json())
        if request.method == "POST" and len(parts) == 4 and parts[:2] == ["v2", "alerts"] and parts[3] == "close":
            if query_of(request).get("identifierType") != "alias":
                return as_json(422, took({"message": "identifierType must be alias in this fake"}))
            alert = self.alerts.get(parts[2])
            if alert is None:
                return as_json(404, took({"message": f"Alert with alias [{parts[2]}] does not exist."}))
            alert.status = "closed"
            alert.notes.append(request.json().get("note", ""))
            return self.accepted("Close", parts[2])
        if request.method == "GET" and len(parts) == 4 and parts[:3] == ["v2", "alerts", "requests"]:
            if parts[3] not in self.processed:
                return as_json(404, took({"message": f"Request with id [{parts[3]}] not found"}))
            return as_json(200, took({"data": self.processed[parts[3]]}))
        if request.method == "GET" and len(parts) == 4 and parts[:2] == ["v2", "schedules"] and parts[3] == "on-calls":
            if parts[2] not in self.schedules:
                return as_json(404, took({"message": f"No schedule exists with name [{parts[2]}]"}))
            flat = query_of(request).get("flat") == "true"
            return as_json(200, took({"data": {"_parent": {"id": "s1", "name": parts[2], "enabled": True},
                                               "onCallParticipants": [] if flat else self.schedules[parts[2]]}}))
        if request.method == "GET" and len(parts) == 4 and parts[:2] == ["v2", "users"] and parts[3] == "contacts":
            if parts[2] not in self.contacts:
                return as_json(404, took({"message": "User not found"}))
            return as_json(200, took({"data": self.contacts[parts[2]]}))
        return as_json(404, took({"message": "Not found"}))

    def create(self, body: dict[str, Any]) -> Reply:
        errors = {}
        if not body.get("message"):
            errors["message"] = "Message can not be empty."
        elif len(body["message"]) > 130:
            errors["message"] = "Message can not be longer than 130 characters."
        if body.get("priority", "P3") not in ("P1", "P2", "P3", "P4", "P5"):
            errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
        if errors:
            return as_json(422, took({"message": "Request body is not processable. Please check the errors.",
                                      "errors": errors}))
        alias = body.get("alias") or str(uuid.uuid4())
        existing = self.alerts.get(alias)
        if existing is not None and existing.status == "open":
            existing.count += 1  # Opsgenie's deduplication: the open alert's count goes up
        else:
            self.alerts[alias] = FakeAlert(alias, body["message"], body.get("priority", "P3"),
                                           list(body.get("responders") or []))
        return self.accepted("Create", alias)
