"""Freshdesk API v2 tickets (https://developers.freshdesk.com/api/#tickets): basic auth with the API key and `X`,
201 with the ticket, 400 validation errors, 404 for unknown tickets."""

from __future__ import annotations

import base64
from typing import Any

from tests.integrations.fakes import as_json, path_of
from tests.vendor_fakes import HttpFake, Reply, Request


class FreshdeskFake(HttpFake):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.tickets: dict[int, dict[str, Any]] = {}
        self.next_id = 1000

    def reply_for(self, request: Request) -> Reply:
        if self.script:
            return self.script.popleft()
        expected = "Basic " + base64.b64encode(f"{self.api_key}:X".encode()).decode()
        auth = request.headers.get("authorization")
        if auth is None:
            return as_json(401, {"code": "invalid_credentials",
                                 "message": "You have to be logged in to perform this action."})
        if auth != expected:
            return as_json(401, {"code": "invalid_credentials", "message": "Invalid credentials"})
        path = path_of(request)
        if request.method == "POST" and path == "/api/v2/tickets":
            return self.create(request.json())
        if request.method == "PUT" and path.startswith("/api/v2/tickets/"):
            ticket = self.tickets.get(int(path.rsplit("/", 1)[1]) if path.rsplit("/", 1)[1].isdigit() else -1)
            if ticket is None:
                return Reply(404, b"", {"Content-Type": "application/json"})
            errors = self.validate({**ticket, **request.json()})
            if errors:
                return as_json(400, {"description": "Validation failed", "errors": errors})
            ticket.update(request.json())
            return as_json(200, ticket)
        return Reply(404, b"", {"Content-Type": "application/json"})

    def validate(self, body: dict[str, Any]) -> list[dict[str, str]]:
        errors = []
        if "@" not in str(body.get("email", "")):
            errors.append({"field": "email", "message": "It should be a valid email address",
                           "code": "invalid_value"})
        if body.get("priority") not in (1, 2, 3, 4):
            errors.append({"field": "priority", "message": "It should be one of these values: '1,2,3,4'",
                           "code": "invalid_value"})
        if body.get("status") not in (2, 3, 4, 5):
            errors.append({"field": "status", "message": "It should be one of these values: '2,3,4,5'",
                           "code": "invalid_value"})
        if not body.get("subject"):
            errors.append({"field": "subject", "message": "It should not be blank", "code": "missing_field"})
        return errors

    def create(self, body: dict[str, Any]) -> Reply:
        errors = self.validate(body)
        if errors:
            return as_json(400, {"description": "Validation failed", "errors": errors})
        self.next_id += 1
        ticket = {**body, "id": self.next_id, "created_at": "2025-03-16T10:00:00Z"}
        self.tickets[self.next_id] = ticket
        return as_json(201, ticket, {"Location": f"/api/v2/tickets/{self.next_id}"})
