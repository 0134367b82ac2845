"""Slack Web API methods the incident bridge uses (https://api.slack.com/methods): Bearer bot token, `200
{"ok": false, "error": code}` for refused calls (`invalid_auth`, `name_taken`, `users_not_found`,
`channel_not_found`, `already_archived`, ...), 429 with `Retry-After` when rate limited."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.integrations.fakes import as_json, fields_of, path_of
from tests.vendor_fakes import HttpFake, Reply, Request


@dataclass
class FakeChannel:
    id: str
    name: str
    is_private: bool
    members: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    archived: bool = False


class SlackApiFake(HttpFake):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.channels: dict[str, FakeChannel] = {}
        self.users: dict[str, str] = {}  # e-mail -> user id

    def base_url(self) -> str:
        return self.url("/api/")

    def calls(self, method: str) -> int:
        return sum(1 for r in self.requests if path_of(r) == f"/api/{method}")

    def by_name(self, name: str) -> FakeChannel:
        return next(c for c in self.channels.values() if c.name == name)

    def reply_for(self, request: Request) -> Reply:
        if self.script:
            return self.script.popleft()
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return as_json(200, {"ok": False, "error": "invalid_auth"})
        method = path_of(request).removeprefix("/api/")
        args = fields_of(request)
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return as_json(404, {"ok": False, "error": "unknown_method"})
        result: dict[str, Any] = handler(args)
        return as_json(200, result)

    @staticmethod
    def error(code: str) -> dict[str, Any]:
        return {"ok": False, "error": code}

    def m_conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name", ""))
        if not name or len(name) > 80 or name != name.lower():
            return self.error("invalid_name")
        if any(c.name == name for c in self.channels.values()):
            return self.error("name_taken")
        channel = FakeChannel(f"C{len(self.channels) + 1:08d}", name, str(args.get("is_private")).lower() == "true")
        self.channels[channel.id] = channel
        return {"ok": True, "channel": {"id": channel.id, "name": name, "is_channel": True}}

    def m_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("email", "")).lower())
        return {"ok": True, "user": {"id": user}} if user else self.error("users_not_found")

    def m_conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel")))
        if channel is None:
            return self.error("channel_not_found")
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users or any(u not in self.users.values() for u in users):
            return self.error("user_not_found")
        if all(u in channel.members for u in users):
            return self.error("already_in_channel")
        channel.members += [u for u in users if u not in channel.members]
        return {"ok": True, "channel": {"id": channel.id}}

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel")))
        if channel is None:
            return self.error("channel_not_found")
        if channel.archived:
            return self.error("is_archived")
        channel.messages.append(str(args.get("text", "")))
        return {"ok": True, "channel": channel.id, "ts": f"1700000000.{len(channel.messages):06d}"}

    def m_conversations_archive(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel")))
        if channel is None:
            return self.error("channel_not_found")
        if channel.archived:
            return self.error("already_archived")
        channel.archived = True
        return {"ok": True}


def rate_limited(retry_after: int) -> Reply:
    return as_json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
