"""A local stand-in for the parts of Metabase's REST API that `crm reports metabase-provision` uses, answering as
Metabase documents them (https://www.metabase.com/docs/latest/api): `POST /api/session` → {"id"}; every other
call needs the `X-Metabase-Session` header, else 401 "Unauthenticated"; a body missing a required field → 400
{"errors": {field: message}}; lists of databases as {"data": [...]}, of cards, dashboards and pulses as arrays.
`script` holds canned replies (status, headers, body) served before the normal answer, e.g. a 429."""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class MetabaseFake:
    def __init__(self, username: str = "admin@rentguy.nl", password: str = "s3cret",
                 databases: tuple[str, ...] = ("crm", "Sample Database")) -> None:
        self.username, self.password = username, password
        self.sessions: set[str] = set()
        self.databases = [{"id": n + 1, "name": name, "engine": "postgres"} for n, name in enumerate(databases)]
        self.cards: dict[int, dict[str, Any]] = {}
        self.dashboards: dict[int, dict[str, Any]] = {}
        self.pulses: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.script: deque[tuple[int, dict[str, str], Any]] = deque()
        self._ids = iter(range(100, 10_000))
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.calls.append((method, url.path))
                if fake.script:
                    status, headers, reply = fake.script.popleft()
                    return self._answer(status, reply, headers)
                status, reply = fake.route(method, url.path, parse_qs(url.query), body,
                                           self.headers.get("X-Metabase-Session"))
                self._answer(status, reply)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MetabaseFake:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _missing(body: dict[str, Any] | None, *fields: str) -> tuple[int, Any] | None:
        errors = {f: "value must be a non-blank string." for f in fields if not (body or {}).get(f)}
        return (400, {"errors": errors, "specific-errors": errors}) if errors else None

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
              session: str | None) -> tuple[int, Any]:
        if (method, path) == ("POST", "/api/session"):
            if (body or {}).get("username") != self.username or (body or {}).get("password") != self.password:
                return 401, {"errors": {"password": "did not match stored password"}}
            token = str(uuid.uuid4())
            self.sessions.add(token)
            return 200, {"id": token}
        if session not in self.sessions:
            return 401, "Unauthenticated"
        parts = path.rstrip("/").split("/")[2:]  # after /api
        kind, ident = parts[0], (int(parts[1]) if len(parts) > 1 else None)
        if kind == "database" and method == "GET":
            return 200, {"data": self.databases, "total": len(self.databases)}
        store = {"card": self.cards, "dashboard": self.dashboards, "pulse": self.pulses}.get(kind)
        if store is None:
            return 404, "API endpoint does not exist."
        if method == "GET" and ident is None:
            items = list(store.values())
            if kind == "pulse" and "dashboard_id" in query:
                items = [p for p in items if p.get("dashboard_id") == int(query["dashboard_id"][0])]
            return 200, items
        if method == "GET":
            return (200, store[ident]) if ident in store else (404, "Not found.")
        if method == "POST":
            required = {"card": ("name", "dataset_query", "display"), "dashboard": ("name",),
                        "pulse": ("name", "cards", "channels")}[kind]
            problem = self._missing(body, *required)
            if problem:
                return problem
            item = {**body, "id": next(self._ids), "archived": False}
            if kind == "dashboard":
                item["dashcards"] = []
            store[item["id"]] = item
            return 200, item
        if method == "PUT" and ident in store:
            if kind == "dashboard" and "dashcards" in body:
                cards = [{**dc, "id": dc["id"] if dc["id"] > 0 else next(self._ids), "dashboard_id": ident}
                         for dc in body["dashcards"]]
                store[ident] = {**store[ident], "dashcards": cards}
            else:
                store[ident] = {**store[ident], **body}
            return 200, store[ident]
        return 404, "Not found."
