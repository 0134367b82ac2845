"""A Slack incoming-webhook fake on 127.0.0.1: records every post, answers like Slack does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class SlackFake:
    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    # Status and body of the next answers; empty means 200 "ok".
    answers: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)

    def texts(self) -> list[str]:
        return [p.get("text") or json.dumps(p.get("attachments")) for p in self.posts]


@contextmanager
def slack_webhook_fake() -> Iterator[SlackFake]:
    fake = SlackFake()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length)
            status, body, headers = fake.answers.pop(0) if fake.answers else (200, "ok", {})
            if status == 200:
                try:
                    payload = json.loads(raw)
                except json.JSONDecodeError:
                    status, body = 400, "invalid_payload"
                else:
                    # Slack wants some content: text, attachments (what Alertmanager sends) or blocks.
                    if not isinstance(payload, dict) or not any(payload.get(k) for k in ("text", "attachments",
                                                                                         "blocks")):
                        status, body = 400, "no_text"
                    else:
                        fake.posts.append({**payload, "_path": self.path, "_headers": dict(self.headers)})
            self.send_response(status)
            self.send_header("content-type", "text/html")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/testsecret"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
