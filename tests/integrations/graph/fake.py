"""Fakes of the Microsoft endpoints the calendar sync uses, on 127.0.0.1, for the real MSAL and httpx clients.

`EntraFake` (HTTPS, as MSAL requires): the OpenID discovery document
`/{tenant}/v2.0/.well-known/openid-configuration` and the token endpoint `/{tenant}/oauth2/v2.0/token` with the
client credentials grant (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow);
a wrong secret answers 401 `invalid_client`.
`GraphFake`: `/v1.0/users/{owner}/calendar/events` (POST, with `transactionId` de-duplication),
`/v1.0/users/{owner}/events/{id}` (PATCH, DELETE) and `/v1.0/users/{owner}/calendarView/delta` with
`@odata.nextLink` pages, `@odata.deltaLink`, `@removed` entries, 410 Gone for a forgotten state and scripted
429 + Retry-After (https://learn.microsoft.com/graph/delta-query-events, https://learn.microsoft.com/graph/throttling).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.threaded_fake import Answer, Call, ThreadedFake


def localhost_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for 127.0.0.1: the server's TLS context and the CA file clients trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "fake-ca.pem", folder / "fake-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


class EntraFake(ThreadedFake):
    def __init__(self, tls: ssl.SSLContext, *, directory_id: str, client_id: str, client_secret: str) -> None:
        super().__init__(tls)
        self.directory_id = directory_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens: set[str] = set()

    def answer(self, call: Call) -> Answer:
        base = f"{self.url}/{self.directory_id}"
        if call.method == "GET" and call.path == f"/{self.directory_id}/v2.0/.well-known/openid-configuration":
            return Answer(200, {"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                "token_endpoint": f"{base}/oauth2/v2.0/token", "jwks_uri": f"{base}/discovery/keys",
                                "response_types_supported": ["code"], "subject_types_supported": ["pairwise"],
                                "id_token_signing_alg_values_supported": ["RS256"]})
        if call.method == "POST" and call.path == f"/{self.directory_id}/oauth2/v2.0/token":
            form = call.form()
            if form.get("grant_type") != "client_credentials" or "https://graph.microsoft.com/.default" not in \
                    form.get("scope", ""):
                return Answer(400, {"error": "invalid_request", "error_description": "AADSTS900144: bad request"})
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return Answer(401, {"error": "invalid_client",
                                    "error_description": "AADSTS7000215: Invalid client secret provided."})
            token = "eyJ0eXAi." + secrets.token_urlsafe(16)
            self.tokens.add(token)
            return Answer(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                "access_token": token})
        return Answer(404, {"error": "not_found"})

    def token_requests(self) -> int:
        return self.count("POST", lambda p: p.endswith("/oauth2/v2.0/token"))


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message}}, headers or {})


class GraphFake(ThreadedFake):
    def __init__(self, tokens: set[str], *, owner: str, page_size: int = 2) -> None:
        super().__init__()
        self.tokens = tokens
        self.owner = owner
        self.page_size = page_size
        self.events: dict[str, dict[str, Any]] = {}
        self.by_transaction: dict[str, str] = {}
        self.changes: list[tuple[int, str]] = []  # (sequence, event id), one per change
        self.removed: set[str] = set()
        self.pages: dict[str, tuple[list[list[dict[str, Any]]], int]] = {}
        self.forgotten = False
        self.traps: list[tuple[Callable[[Call], bool], Answer]] = []
        self.counter = 0

    # -- what people do in Outlook ----------------------------------------------------------------------------------

    def move_in_outlook(self, event_id: str, day: dt.date, *, modified_at: dt.datetime) -> None:
        event = self.events[event_id]
        event["start"] = {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": "Europe/Amsterdam"}
        event["end"] = {"dateTime": f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00.0000000",
                        "timeZone": "Europe/Amsterdam"}
        self._touch(event_id, modified_at)

    def delete_in_outlook(self, event_id: str) -> None:
        self.events.pop(event_id)
        self.removed.add(event_id)
        self.changes.append((len(self.changes) + 1, event_id))

    def trap(self, predicate: Callable[[Call], bool], answer: Answer) -> None:
        """Answer the next call that matches with `answer` (once)."""
        self.traps.append((predicate, answer))

    def day_of(self, event_id: str) -> dt.date:
        return dt.date.fromisoformat(self.events[event_id]["start"]["dateTime"][:10])

    # -- the HTTP contract ------------------------------------------------------------------------------------------

    def _touch(self, event_id: str, at: dt.datetime | None = None) -> None:
        moment = at or dt.datetime.now(dt.UTC)
        self.events[event_id]["lastModifiedDateTime"] = moment.isoformat().replace("+00:00", "Z")
        self.changes.append((len(self.changes) + 1, event_id))

    def answer(self, call: Call) -> Answer:
        for index, (predicate, trapped) in enumerate(self.traps):
            if predicate(call):
                del self.traps[index]
                return trapped
        if call.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        user = f"/v1.0/users/{quote(self.owner, safe='')}"
        path = call.path
        if not path.startswith(user):
            return graph_error(404, "ErrorInvalidUser", "The requested user is invalid.")
        rest = path.removeprefix(user)
        if call.method == "POST" and rest == "/calendar/events":
            return self._create(call.json())
        if rest.startswith("/events/"):
            event_id = unquote(rest.removeprefix("/events/"))
            if event_id not in self.events:
                return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            if call.method == "PATCH":
                self.events[event_id].update({k: v for k, v in call.json().items() if k != "transactionId"})
                self._touch(event_id)
                return Answer(200, self.events[event_id])
            if call.method == "DELETE":
                self.delete_in_outlook(event_id)
                return Answer(204)
        if call.method == "GET" and rest == "/calendarView/delta":
            return self._delta(call)
        return graph_error(400, "BadRequest", "Unsupported request.")

    def _create(self, body: dict[str, Any]) -> Answer:
        transaction = body.get("transactionId")
        if transaction and transaction in self.by_transaction:
            existing = self.events.get(self.by_transaction[transaction])
            if existing is not None:
                return Answer(201, existing)
        self.counter += 1
        event_id = f"AAMkAGI2T{self.counter:04d}="
        self.events[event_id] = {**body, "id": event_id, "isCancelled": False}
        if transaction:
            self.by_transaction[transaction] = event_id
        self._touch(event_id)
        return Answer(201, self.events[event_id])

    def _delta(self, call: Call) -> Answer:
        skip = (call.query.get("$skiptoken") or [None])[0]
        token = (call.query.get("$deltatoken") or [None])[0]
        if (skip or token) and self.forgotten:
            self.forgotten = False
            return graph_error(410, "SyncStateNotFound", "The sync state generation is not found.")
        if skip is None:
            if token is None:
                if not call.query.get("startDateTime") or not call.query.get("endDateTime"):
                    return graph_error(400, "ErrorInvalidParameter", "startDateTime and endDateTime are required.")
                items = [dict(e) for e in self.events.values()]
            else:
                since = int(token)
                changed = list(dict.fromkeys(eid for seq, eid in self.changes if seq > since))
                items = [dict(self.events[eid]) if eid in self.events
                         else {"@odata.type": "#microsoft.graph.event", "id": eid, "@removed": {"reason": "deleted"}}
                         for eid in changed]
            pages = [items[i:i + self.page_size] for i in range(0, len(items), self.page_size)] or [[]]
            key = secrets.token_hex(6)
            self.pages[key] = (pages, len(self.changes))  # the delta link covers what changes after this moment
            skip = f"{key}.0"
        key, _, index = skip.partition(".")
        pages, sequence = self.pages[key]
        number = int(index)
        delta_base = f"{self.url}/v1.0/users/{quote(self.owner, safe='')}/calendarView/delta"
        body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
                                "value": pages[number]}
        if number + 1 < len(pages):
            body["@odata.nextLink"] = f"{delta_base}?$skiptoken={key}.{number + 1}"
        else:
            body["@odata.deltaLink"] = f"{delta_base}?$deltatoken={sequence}"
        return Answer(200, body)

    def delta_requests(self) -> int:
        return self.count("GET", lambda p: p.endswith("/calendarView/delta"))


DIRECTORY_ID = "6f1c2a3b-0d4e-4f5a-8b9c-0123456789ab"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
OWNER = "agenda@example.nl"
SECRET_VARIABLE = "CRM_TEST_M365_CLIENT_SECRET"


class M365:
    """Entra ID and Graph fakes sharing their tokens, and the tenant `calendar` section pointing at them."""

    def __init__(self, folder: Path, *, page_size: int = 2) -> None:
        tls, self.ca_file = localhost_tls(folder)
        self.entra = EntraFake(tls, directory_id=DIRECTORY_ID, client_id=CLIENT_ID, client_secret="s3cret-one")
        self.graph = GraphFake(self.entra.tokens, owner=OWNER, page_size=page_size)

    def calendar_section(self, **overrides: Any) -> dict[str, Any]:
        return {"enabled": True, "directory_id": DIRECTORY_ID, "client_id": CLIENT_ID,
                "client_secret": f"env:{SECRET_VARIABLE}", "calendar_owner": OWNER, "stages": ["booked"],
                "authority_host": self.entra.url, "graph_url": f"{self.graph.url}/v1.0", **overrides}

    def start(self) -> M365:
        self.entra.start()
        self.graph.start()
        return self

    def stop(self) -> None:
        self.entra.stop()
        self.graph.stop()
