"""A fake of HashiCorp Vault's HTTP API as far as the suite uses it: KV v2 read and write
(`GET/POST /v1/<mount>/data/<path>`, https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2), token auth
with `X-Vault-Token`, AppRole login (`POST /v1/auth/approle/login`), 403 permission denied, 404 and a sealed 503."""

from __future__ import annotations

import secrets
from typing import Any

from tests.threaded_fake import Answer, Call, ThreadedFake

DENIED = Answer(403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]})
SEALED = Answer(503, {"errors": ["Vault is sealed"]})


class VaultFake(ThreadedFake):
    def __init__(self, *, token: str = "root-token", mount: str = "secret") -> None:
        super().__init__()
        self.tokens = {token}
        self.mount = mount
        self.sealed = False
        self.denied_paths: set[str] = set()
        self.approle: dict[str, str] = {}  # role_id -> secret_id
        self.versions: dict[str, list[dict[str, Any]]] = {}

    def seed(self, path: str, data: dict[str, Any]) -> None:
        self.versions.setdefault(path, []).append(dict(data))

    def data(self, path: str) -> dict[str, Any]:
        return dict(self.versions[path][-1])

    def reads(self, path: str) -> int:
        return self.count("GET", lambda p: p == f"/v1/{self.mount}/data/{path}")

    def answer(self, call: Call) -> Answer:
        if self.sealed:
            return SEALED
        if call.method == "POST" and call.path == "/v1/auth/approle/login":
            body = call.json()
            if self.approle.get(body.get("role_id", "")) != body.get("secret_id") or not body.get("secret_id"):
                return Answer(400, {"errors": ["invalid role or secret ID"]})
            token = "hvs." + secrets.token_urlsafe(12)
            self.tokens.add(token)
            return Answer(200, {"auth": {"client_token": token, "lease_duration": 3600, "renewable": True,
                                         "policies": ["crm"]}})
        if call.headers.get("x-vault-token") not in self.tokens:
            return DENIED
        prefix = f"/v1/{self.mount}/data/"
        if not call.path.startswith(prefix):
            return Answer(404, {"errors": []})
        path = call.path.removeprefix(prefix)
        if path in self.denied_paths:
            return DENIED
        versions = self.versions.get(path)
        if call.method == "GET":
            if not versions:
                return Answer(404, {"errors": []})
            return Answer(200, {"data": {"data": versions[-1], "metadata": {
                "created_time": "2025-03-15T10:00:00Z", "deletion_time": "", "destroyed": False,
                "version": len(versions)}}})
        if call.method == "POST":
            body = call.json()
            cas = (body.get("options") or {}).get("cas")
            if cas is not None and int(cas) != len(versions or []):
                return Answer(400, {"errors": ["check-and-set parameter did not match the current version"]})
            self.versions.setdefault(path, []).append(dict(body["data"]))
            return Answer(200, {"data": {"created_time": "2025-03-15T10:00:00Z", "deletion_time": "",
                                         "destroyed": False, "version": len(self.versions[path])}})
        return Answer(405, {"errors": []})
