"""A local stand-in for the siteverify endpoint hCaptcha, Turnstile and reCAPTCHA share (form post in, JSON out)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

GOOD_TOKEN = "good-token"
SECRET = "captcha-test-secret"


class _Handler(BaseHTTPRequestHandler):
    posts: list[dict[str, list[str]]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        self.server.posts.append(form)  # type: ignore[attr-defined]
        ok = form.get("secret") == [SECRET] and form.get("response") == [GOOD_TOKEN]
        body = {"success": True} if ok else {"success": False, "error-codes": ["invalid-input-response"]}
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def siteverify_server() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/siteverify", server.posts  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A URL on which nothing listens: the verifier is down."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}/siteverify"
