"""The product as the tenant runs it, for the acceptance scenarios: tenant `mrdj` provisioned, its workflows and
base templates loaded and a key made through the CLI; the API and the workers as separate processes on Postgres
(`crm serve` + `crm workers run`) or one process on SQLite (`crm run`); a real SMTP server and the vendor fakes as
the tenant's channels; and a clock file every process reads, which the scenario moves instead of sleeping.

Everything is observed through the doors: mail as received by the SMTP server, Slack and WhatsApp as posted to
the fakes, records through the API, runs through the API and `crm runs show --json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.vendor_fakes import HttpFake, MollieFake, SmtpFake, WhatsappFake, free_port

REPO = Path(__file__).resolve().parents[2]
CRM = str(Path(sys.executable).parent / "crm")
TENANT_CONFIG = REPO / "configs" / "tenants" / "mrdj.json"
ORIGIN = "https://mr-dj.nl"
WHATSAPP_TOKEN = "acceptance-whatsapp-token"
MOLLIE_KEY = "test_acceptanceKeyForMrDj000000"
# Ceilings for things that normally take well under a second; they only end a test that would otherwise hang.
EVENTUALLY = 300.0
START = 120.0

T = TypeVar("T")


def slack_shown(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class CommandFailed(AssertionError):
    pass


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, ceiling: float = EVENTUALLY) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` if that never happens."""
    deadline = time.monotonic() + ceiling
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"never happened: {what} (last seen: {last!r})")


def mail_text(message: Message) -> str:
    """The plain-text part of a received mail."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"mail {message['Subject']!r} has no text/plain part")


@dataclass
class Product:
    tmp: Path
    postgres: bool
    smtp: SmtpFake
    slack: HttpFake
    whatsapp: WhatsappFake
    mollie: MollieFake
    env: dict[str, str] = field(default_factory=dict)
    base: str = ""
    api_key: str = ""
    port: int = 0  # 0: a free port when it starts; preset when something must know the address beforehand
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    # -- setup --------------------------------------------------------------------------------------------------
    @property
    def clock_file(self) -> Path:
        return self.tmp / "clock"

    def tenant_config(self) -> dict[str, Any]:
        """The tenant's own provisioning file, with its channels pointed at the local fakes."""
        config: dict[str, Any] = json.loads(TENANT_CONFIG.read_text())
        config["channels"] = {
            "email": {"provider": "smtp", "host": "127.0.0.1", "port": self.smtp.port, "security": "none",
                      "from_address": "Mr. DJ <info@mr-dj.nl>", "timeout_seconds": 30},
            "slack": {"webhook_url": "env:ACCEPTANCE_SLACK_OPS_URL",
                      "targets": {"#mrdj-finance": "env:ACCEPTANCE_SLACK_FINANCE_URL"}, "timeout_seconds": 30},
            "whatsapp": {"api_base": self.whatsapp.url(""), "phone_number_id": "1098765432",
                         "access_token": "env:ACCEPTANCE_WHATSAPP_TOKEN", "timeout_seconds": 30},
        }
        config["payments"] = {"mollie": {"api_key": "env:ACCEPTANCE_MOLLIE_API_KEY",
                                         "api_endpoint": self.mollie.url(""), "timeout_seconds": 10}}
        return config

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update({
            "CRM_VAR_DIR": str(self.tmp / "var"),
            "CRM_CLOCK_FILE": str(self.clock_file),
            "CRM_LOG_LEVEL": "INFO",
            "ACCEPTANCE_SLACK_OPS_URL": self.slack.url("/ops"),
            "ACCEPTANCE_SLACK_FINANCE_URL": self.slack.url("/finance"),
            "ACCEPTANCE_WHATSAPP_TOKEN": WHATSAPP_TOKEN,
            "ACCEPTANCE_MOLLIE_API_KEY": MOLLIE_KEY,
        })
        return env

    async def start(self) -> None:
        self.env = self.child_env()
        config = self.tmp / "mrdj.json"
        config.write_text(json.dumps(self.tenant_config()))
        # One after the other, as an operator types them (run side by side on SQLite, `templates clone` can
        # fail with "database is locked").
        await self.cli("tenants", "provision", str(config))
        await self.cli("workflows", "sync", "--tenant", "mrdj")
        await self.cli("templates", "clone", "--tenant", "mrdj", "--publish")
        key = await self.cli_json("apikeys", "create", "--tenant", "mrdj", "--role", "admin", "--name", "acceptance")
        self.api_key = key["key"]
        port = self.port or free_port()
        self.base = f"http://127.0.0.1:{port}"
        if self.postgres:
            self.spawn("api", [CRM, "serve", "--port", str(port)])
            # As ops/systemd/mrdj-crm-workers.service runs them.
            self.spawn("workers", [CRM, "workers", "run", "--tenant", "mrdj", "--concurrency", "8", "--grace", "5"])
        else:
            self.spawn("api", [CRM, "run", "--port", str(port)])
        await eventually(self._healthy, f"the API answering on {self.base}/healthz", START)

    def spawn(self, name: str, argv: list[str]) -> None:
        with open(self.tmp / f"{name}.log", "wb") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append((name, proc))

    async def _healthy(self) -> bool:
        for name, proc in self.processes:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                return (await client.get(self.base + "/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def stop(self) -> None:
        """SIGTERM (what systemd sends), then wait for a clean exit; kill only what does not stop."""
        for _name, proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in self.processes:
            try:
                await asyncio.to_thread(proc.wait, 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    # -- doors --------------------------------------------------------------------------------------------------
    async def cli(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(CRM, *args, cwd=REPO, env=self.env or self.child_env(),
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise CommandFailed(f"crm {' '.join(args)} exited {proc.returncode}: {err.decode()[-2000:]}")
        return out.decode()

    async def cli_json(self, *args: str) -> Any:
        return json.loads(await self.cli(*args, "--json"))

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {self.api_key}"},
                                 timeout=60)

    async def get(self, path: str, **params: Any) -> Any:
        async with self.api() as client:
            response = await client.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    async def send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        async with self.api() as client:
            response = await client.request(method, path, json=body)
        assert response.status_code in (200, 201), f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def public_lead(self, **fields: Any) -> dict[str, Any]:
        """What the website's form posts (no key; the tenant's own origin)."""
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as client:
            response = await client.post("/api/v1/public/leads", json={"tenant": "mrdj", **fields},
                                         headers={"Origin": ORIGIN})
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def mollie_webhook(self, payment_id: str) -> httpx.Response:
        """What Mollie posts: a form with the payment id, nothing else, no key."""
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as client:
            return await client.post("/api/v1/webhooks/mollie/mrdj", data={"id": payment_id})

    async def deal_for(self, lead: dict[str, Any], *, title: str, owner: str, value: str,
                       event_date: str | None = None) -> dict[str, Any]:
        body = {"lead_id": lead["lead_id"], "pipeline": "wedding", "title": title, "owner": owner, "value": value,
                "event_date": event_date}
        deal: dict[str, Any] = await self.send("POST", "/api/v1/crm/deals", body)
        return deal

    async def move(self, deal: dict[str, Any], *stages: str) -> dict[str, Any]:
        for stage in stages:
            deal = await self.send("POST", f"/api/v1/crm/deals/{deal['id']}/stage", {"stage": stage})
        return deal

    async def runs(self, workflow: str, *, lead_id: int | None = None,
                   deal_id: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"workflow": workflow, "limit": 500}
        if lead_id is not None:
            params["lead_id"] = lead_id
        items: list[dict[str, Any]] = (await self.get("/api/v1/automation/runs", **params))["items"]
        return [r for r in items if deal_id is None or r["deal_id"] == deal_id]

    async def run_count(self, workflow: str, status: str) -> int:
        """How many runs of a workflow have a status (one small query, for polling during a burst)."""
        return int((await self.get("/api/v1/automation/runs", workflow=workflow, status=status, limit=1))["total"])

    async def run_detail(self, run_id: int) -> dict[str, Any]:
        """The run as operations sees it: `crm runs show ID --json`."""
        detail: dict[str, Any] = await self.cli_json("runs", "show", str(run_id))
        return detail

    async def tasks(self, **filters: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.get("/api/v1/crm/activities", kind="task", **filters))["items"]
        return items

    # -- what people received -----------------------------------------------------------------------------------
    def mails_to(self, address: str, subject_contains: str = "") -> list[Message]:
        return [m for m in list(self.smtp.messages)
                if address in str(m["To"]) and subject_contains in str(m["Subject"])]

    def slack_texts(self, channel: str) -> list[str]:
        """Texts posted to the ops (`ops`) or finance (`finance`) incoming webhook, as Slack shows them (its three
        escaped characters read back: https://api.slack.com/reference/surfaces/formatting#escaping)."""
        return [slack_shown(r.json()["text"]) for r in list(self.slack.requests) if r.path == f"/{channel}"]

    def whatsapp_messages(self, to: str) -> list[dict[str, Any]]:
        return [r.json() for r in list(self.whatsapp.requests) if r.json().get("to") == to.lstrip("+")]

    # -- time ---------------------------------------------------------------------------------------------------
    async def settle(self) -> None:
        """Wait until no run is executing or due (parked runs may wait): time is only moved between steps, never
        under a running one."""

        async def quiet() -> bool:
            runs = (await self.get("/api/v1/automation/runs", limit=500))["items"]
            return not [r for r in runs if r["status"] == "running"
                        or (r["status"] == "queued" and not r["last_error_message"])]

        await eventually(quiet, "every run parked or finished")

    def set_clock(self, text: str) -> None:
        """Every process's "now": an ISO instant (standing still) or a shift such as "+2 days". Replaced
        atomically so a process never reads half a file."""
        scratch = self.clock_file.with_suffix(".new")
        scratch.write_text(text + "\n")
        os.replace(scratch, self.clock_file)
