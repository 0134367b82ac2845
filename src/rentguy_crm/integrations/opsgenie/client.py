"""`Pager` over the Opsgenie REST API (https://docs.opsgenie.com/docs/alert-api, .../schedule-api).

Auth is `Authorization: GenieKey <key>`. Alert create and close are asynchronous: Opsgenie answers `202` with a
`requestId` and processes the request afterwards (its state: `GET /v2/alerts/requests/{requestId}`). The alias
deduplicates: creating an alert whose alias is open adds to that alert instead of opening a second one, so a
retried run pages once. Error bodies are `{"message": ..., "errors": {field: ...}}`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rentguy_crm.integrations import vendor_http
from rentguy_crm.integrations.base import OnCallPerson, PermanentDeliveryError
from rentguy_crm.tenants.sections.channels import OpsgenieChannel

VENDOR = "opsgenie"
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
# Opsgenie's field limits: longer values are refused with 422, so they are cut here, with a mark.
MESSAGE_LIMIT, ALIAS_LIMIT, DESCRIPTION_LIMIT = 130, 512, 15000
# Contact methods in the order the playbook wants them: "bel direct" (call) first.
CONTACT_ORDER = ("voice", "mobile", "sms", "email")


def reason(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    message = str(body.get("message") or "")
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        message = f"{message} {'; '.join(f'{k}: {v}' for k, v in errors.items())}".strip()
    return message or None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OpsgeniePager:
    def __init__(self, config: OpsgenieChannel) -> None:
        self.config = config

    def _url(self, path: str) -> str:
        return f"{self.config.api_base.rstrip('/')}{path}"

    async def _call(self, method: str, path: str, *, json: Any = None,
                    params: dict[str, str] | None = None) -> Any:
        key = vendor_http.secret(VENDOR, self.config.api_key).get_secret_value()
        response = await vendor_http.request(VENDOR, method, self._url(path), json=json, params=params,
                                             headers={"Authorization": f"GenieKey {key}"},
                                             timeout_seconds=self.config.timeout_seconds, reason=reason)
        return response.json() if response.content else {}

    async def create_alert(self, *, alias: str, message: str, description: str, priority: str,
                           responders: list[dict[str, str]]) -> str:
        """Open (or add to) the alert `alias`; answers Opsgenie's request id. `priority` is "P1".."P5";
        `responders` are Opsgenie responder objects, e.g. `{"name": "engineering_schedule", "type": "schedule"}`;
        without any, the configured on-call schedule is the responder."""
        if priority not in PRIORITIES:
            raise PermanentDeliveryError(f"{VENDOR}: priority must be one of {', '.join(PRIORITIES)}, not {priority}")
        if not alias.strip():
            raise PermanentDeliveryError(f"{VENDOR}: an alert needs an alias (the ticket) for deduplication")
        body = {"message": _cut(message, MESSAGE_LIMIT), "alias": _cut(alias, ALIAS_LIMIT),
                "description": _cut(description, DESCRIPTION_LIMIT), "priority": priority,
                "responders": responders or [self.schedule_responder()], "source": "rentguy-crm"}
        answer = await self._call("POST", "/v2/alerts", json=body)
        return str(answer.get("requestId") or "")

    def schedule_responder(self) -> dict[str, str]:
        return {self.config.schedule_identifier_type: self.config.schedule, "type": "schedule"}

    async def close_alert(self, *, alias: str, note: str) -> None:
        """Close the alert `alias` (`POST /v2/alerts/{alias}/close?identifierType=alias`, answered 202)."""
        await self._call("POST", f"/v2/alerts/{quote(alias, safe='')}/close", params={"identifierType": "alias"},
                         json={"source": "rentguy-crm", "note": _cut(note, 25000)})

    async def request_status(self, request_id: str) -> dict[str, Any]:
        """What became of an asynchronous request (`GET /v2/alerts/requests/{id}`): `{"isSuccess", "status",
        "alertId", "alias", ...}`; 404 while Opsgenie has not processed it yet."""
        answer = await self._call("GET", f"/v2/alerts/requests/{quote(request_id, safe='')}")
        return dict(answer.get("data") or {})

    async def on_call(self, *, schedule: str) -> list[OnCallPerson]:
        """The users on call now in `schedule` (`GET /v2/schedules/{id}/on-calls?flat=false`, participants of
        nested escalations and teams included), each with their first contact from `GET /v2/users/{id}/contacts`
        (voice, mobile, sms, then e-mail; empty when none is enabled)."""
        answer = await self._call("GET", f"/v2/schedules/{quote(schedule, safe='')}/on-calls",
                                  params={"flat": "false",
                                          "scheduleIdentifierType": self.config.schedule_identifier_type})
        people: list[OnCallPerson] = []
        seen: set[str] = set()
        for user in _users((answer.get("data") or {}).get("onCallParticipants") or []):
            key = str(user.get("id") or user.get("name"))
            if key in seen:
                continue
            seen.add(key)
            people.append(OnCallPerson(name=str(user.get("name") or ""), contact=await self._contact(key)))
        return people

    async def _contact(self, user: str) -> str:
        answer = await self._call("GET", f"/v2/users/{quote(user, safe='')}/contacts")
        enabled = [c for c in answer.get("data") or [] if (c.get("status") or {}).get("enabled", True)]
        for method in CONTACT_ORDER:
            for contact in enabled:
                if contact.get("method") == method and contact.get("to"):
                    return str(contact["to"])
        return ""


def _users(participants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    for participant in participants:
        if participant.get("type") == "user":
            users.append(participant)
        users.extend(_users(participant.get("onCallParticipants") or []))
    return users
