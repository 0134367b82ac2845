"""Local stand-ins for the delivery vendors, on 127.0.0.1 with ephemeral ports: a real SMTP server (aiosmtpd)
and a small HTTP/1.1 server that answers like WhatsApp Cloud, Slack, Teams or a webhook receiver. Both count
deliveries per idempotency key (Message-ID for mail, the Idempotency-Key header over HTTP)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter, deque
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpFake:
    """aiosmtpd with a scripted reply per message: "250 OK" by default, or e.g. "451 4.3.0 try later"."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.deliveries: Counter[str] = Counter()
        self.replies: deque[str] = deque()
        self.rcpt_replies: deque[str] = deque()
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    @property
    def port(self) -> int:
        return int(self.controller.port)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.popleft()
        message = message_from_bytes(envelope.content)
        self.messages.append(message)
        self.deliveries[str(message["Message-ID"])] += 1
        return "250 OK"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpFake:
    """Answers POSTs with scripted replies (then the vendor's normal success) and counts accepted deliveries
    per Idempotency-Key."""

    def __init__(self, success: Reply | None = None) -> None:
        self.success = success or Reply()
        self.script: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.deliveries: Counter[str] = Counter()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> HttpFake:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.wait_for(self.server.wait_closed(), 5)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reply_for(self, request: Request) -> Reply:
        return self.script.popleft() if self.script else self.success

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _version = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(method, path, headers, body)
            self.requests.append(request)
            reply = self.reply_for(request)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if 200 <= reply.status < 300:
                self.deliveries[headers.get("idempotency-key", "")] += 1
            extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
            writer.write(f"HTTP/1.1 {reply.status} X\r\nContent-Length: {len(reply.body)}\r\n{extra}"
                         f"Connection: close\r\n\r\n".encode() + reply.body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)


class WhatsappFake(HttpFake):
    """The Cloud API's contract: Bearer token, template message JSON, answer with a wamid."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.counter = 0

    def reply_for(self, request: Request) -> Reply:
        if self.script:
            return self.script.popleft()
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, b'{"error": {"message": "Invalid OAuth access token.", "code": 190}}')
        payload = request.json()
        if payload.get("messaging_product") != "whatsapp" or payload.get("type") != "template":
            return Reply(400, b'{"error": {"message": "Invalid parameter", "code": 100}}')
        self.counter += 1
        body = {"messaging_product": "whatsapp", "contacts": [{"input": payload["to"], "wa_id": payload["to"]}],
                "messages": [{"id": f"wamid.fake{self.counter}"}]}
        return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


class SilentServer:
    """Accepts connections and never answers: for timeouts (SMTP greeting, HTTP response)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SilentServer:
        async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        for writer in self._writers:
            writer.close()
        self.server.close()


MOLLIE_FIXTURES = Path(__file__).resolve().parent / "webhooks" / "mollie" / "fixtures"


def mollie_fixture(name: str) -> dict[str, Any]:
    """A recorded Mollie API answer from tests/webhooks/mollie/fixtures/."""
    return dict(json.loads((MOLLIE_FIXTURES / f"{name}.json").read_text()))


class MollieFake(HttpFake):
    """Mollie's `GET /v2/payments/{id}`: Bearer key, the recorded payment JSON per status (hal+json), a 404
    problem for unknown ids and 401 for a wrong key. Scripted replies (429 with Retry-After, 5xx) come first."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.payments: dict[str, dict[str, Any]] = {}

    def pay(self, payment_id: str, status: str, *, metadata: dict[str, Any] | None = None,
            value: str = "1500.00", currency: str = "EUR") -> dict[str, Any]:
        """Make Mollie know `payment_id` in `status` (open, paid, failed, expired, canceled)."""
        body = mollie_fixture(f"payment_{status}")
        body["id"] = payment_id
        body["amount"] = {"value": value, "currency": currency}
        body["metadata"] = metadata if metadata is not None else {}
        for link in body["_links"].values():
            link["href"] = link["href"].replace("tr_WDqYK6vllg", payment_id)
        self.payments[payment_id] = body
        return body

    def fetches(self, payment_id: str) -> int:
        return sum(1 for r in self.requests if r.method == "GET" and r.path.split("?")[0].endswith(f"/{payment_id}"))

    def reply_for(self, request: Request) -> Reply:
        if self.script:
            return self.script.popleft()
        problem = {"Content-Type": "application/hal+json"}
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, json.dumps(mollie_fixture("unauthorized")).encode(), problem)
        path = request.path.split("?")[0]
        if request.method != "GET" or not path.startswith("/v2/payments/"):
            return Reply(404, json.dumps(mollie_fixture("not_found")).encode(), problem)
        payment = self.payments.get(path.removeprefix("/v2/payments/"))
        if payment is None:
            body = mollie_fixture("not_found")
            body["detail"] = f"No payment exists with token {path.removeprefix('/v2/payments/')}."
            return Reply(404, json.dumps(body).encode(), problem)
        return Reply(200, json.dumps(payment).encode(), problem)


def mollie_rate_limited(retry_after: int) -> Reply:
    return Reply(429, json.dumps(mollie_fixture("rate_limited")).encode(),
                 {"Content-Type": "application/hal+json", "Retry-After": str(retry_after)})


def mollie_server_error(status: int = 503) -> Reply:
    body = {"status": status, "title": "Service Unavailable", "detail": "Mollie is temporarily unavailable."}
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/hal+json"})
