"""Provisioning of the "Automation SLA" question, its dashboard and the weekly subscription in Metabase through its
REST API (https://www.metabase.com/docs/latest/api): `POST /api/session` (login → session id sent as the
`X-Metabase-Session` header), `GET /api/database` (find the suite's database by name), `GET/POST/PUT /api/card`,
`GET/POST /api/dashboard` and `PUT /api/dashboard/:id` (`dashcards`), `GET /api/pulse?dashboard_id=` and
`POST/PUT /api/pulse` (a dashboard subscription is a pulse with a `dashboard_id`).

Idempotent: every object is found by its name first; one that is already right is left alone, one that differs is
updated in place. The question's SQL is `ops/metabase/automation_sla.sql`. Metabase answers 401 for a bad login or
session and 400 with `{"errors": {field: message}}` for a body it refuses; both become a `MetabaseError` naming
what was wrong. 429 and 502/503/504 are retried (three attempts) after `Retry-After` (at most 30 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from rentguy_crm.config import PROJECT_ROOT

QUESTION_SQL = PROJECT_ROOT / "ops" / "metabase" / "automation_sla.sql"
NAME = "Automation SLA"
RETRYABLE = {429, 502, 503, 504}
ATTEMPTS = 3
MAX_RETRY_AFTER = 30.0
# A fixed id for the template tag, so a second run sends the same definition and finds nothing to change.
TENANT_TAG_ID = "5d0c1a52-7b1e-4c65-9d43-4f2b1f0a0001"


class MetabaseError(RuntimeError):
    """Metabase refused a call (login, session, a body it found invalid) or could not be reached."""


def question_sql(path: Path = QUESTION_SQL) -> str:
    """The question's SQL without its leading comment lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.startswith("--")).strip()


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            return "; ".join(f"{field}: {message}" for field, message in errors.items())
        return str(body.get("message") or body)[:300]
    return str(body)[:300]


class MetabaseClient:
    def __init__(self, url: str, *, timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, transport=transport)
        self.sleep = sleep

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise MetabaseError(f"Metabase at {self.http.base_url} cannot be reached: "
                                    f"{type(exc).__name__}: {exc}") from None
            if response.status_code in RETRYABLE and attempt < ATTEMPTS:
                try:
                    wait = float(response.headers.get("Retry-After", "1"))
                except ValueError:
                    wait = 1.0
                self.sleep(min(max(wait, 0.0), MAX_RETRY_AFTER))
                continue
            if response.status_code == 401:
                raise MetabaseError(f"Metabase refused {method} {path} (401): {_problem(response)}; check the "
                                    "username and password (file)")
            if response.status_code == 403:
                raise MetabaseError(f"Metabase refused {method} {path} (403): the user needs admin rights")
            if response.status_code >= 400:
                raise MetabaseError(f"Metabase refused {method} {path} ({response.status_code}): "
                                    f"{_problem(response)}")
            if not response.content:
                return None
            return response.json()
        raise AssertionError("unreachable")

    def login(self, username: str, password: str) -> None:
        answer = self.call("POST", "/api/session", json={"username": username, "password": password})
        if not isinstance(answer, dict) or not answer.get("id"):
            raise MetabaseError("Metabase answered the login without a session id")
        self.http.headers["X-Metabase-Session"] = str(answer["id"])


def _items(body: Any) -> list[dict[str, Any]]:
    """Lists come bare or as {"data": [...]} depending on the endpoint and Metabase version."""
    if isinstance(body, dict):
        body = body.get("data", [])
    return [item for item in body or [] if isinstance(item, dict)]


def _by_name(items: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    live = [i for i in items if i.get("name") == name and not i.get("archived")]
    return min(live, key=lambda i: int(i["id"])) if live else None


def card_body(database_id: int, tenant: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Weekly Automation SLA per workflow: share of runs within 2 minutes (target 95%) and within "
                       "their SLA. Source: view crm_report_automation_sla_weekly (RentGuy CRM).",
        "display": "table",
        "dataset_query": {"type": "native", "database": database_id, "native": {
            "query": question_sql(),
            "template-tags": {"tenant": {"id": TENANT_TAG_ID, "name": "tenant", "display-name": "Tenant",
                                         "type": "text", "required": True, "default": tenant}}}},
        "visualization_settings": {"table.column_formatting": [
            {"columns": ["meets_target"], "type": "single", "operator": "=", "value": False,
             "color": "#ED6E6E", "highlight_row": True}]},
    }


def _differs(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return any(existing.get(key) != value for key, value in wanted.items())


def pulse_body(name: str, card_id: int, dashcard_id: int | None, dashboard_id: int, recipients: list[str],
               schedule_day: str, schedule_hour: int) -> dict[str, Any]:
    return {
        "name": name, "dashboard_id": dashboard_id, "skip_if_empty": False,
        "cards": [{"id": card_id, "include_csv": False, "include_xls": False, "dashboard_card_id": dashcard_id}],
        "channels": [{"channel_type": "email", "enabled": True, "schedule_type": "weekly",
                      "schedule_day": schedule_day, "schedule_hour": schedule_hour, "schedule_frame": None,
                      "recipients": [{"email": email} for email in recipients]}],
    }


def _pulse_matches(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    channels = existing.get("channels") or []
    if len(channels) != 1:
        return False
    have, want = channels[0], wanted["channels"][0]
    return (have.get("channel_type") == "email" and have.get("enabled") is True
            and have.get("schedule_type") == want["schedule_type"] and have.get("schedule_day") == want["schedule_day"]
            and have.get("schedule_hour") == want["schedule_hour"]
            and sorted(r.get("email") for r in have.get("recipients") or []) == sorted(want_r["email"] for want_r in
                                                                                      want["recipients"])
            and [c.get("id") for c in existing.get("cards") or []] == [wanted["cards"][0]["id"]])


def provision(url: str, username: str, password: str, *, database_name: str, tenant: str, recipients: list[str],
              timezone: str, name: str = NAME, schedule_day: str = "mon", schedule_hour: int = 8,
              client: MetabaseClient | None = None) -> dict[str, dict[str, Any]]:
    """Create or update the question, dashboard and subscription; returns per object its id, name and action
    (`created`, `updated`, `unchanged`). The subscription's hour is Metabase's report time zone (Admin →
    Localization), which should be the tenant's (`timezone`, e.g. Europe/Amsterdam)."""
    if not recipients:
        raise MetabaseError(f"tenant {tenant} has no report recipients (configs/tenants/{tenant}.json, 'reports')")
    mb = client or MetabaseClient(url)
    try:
        mb.login(username, password)
        databases = _items(mb.call("GET", "/api/database"))
        database = _by_name(databases, database_name)
        if database is None:
            known = ", ".join(sorted(str(d.get("name")) for d in databases)) or "none"
            raise MetabaseError(f"Metabase has no database named '{database_name}' (it has: {known}); add the "
                                "suite's database as the metabase_reader role first (docs/reports.md)")
        outcome: dict[str, dict[str, Any]] = {}

        wanted_card = card_body(int(database["id"]), tenant, name)
        card = _by_name(_items(mb.call("GET", "/api/card", params={"f": "all"})), name)
        if card is None:
            card = mb.call("POST", "/api/card", json=wanted_card)
            action = "created"
        elif _differs(card, wanted_card):
            card = mb.call("PUT", f"/api/card/{card['id']}", json=wanted_card)
            action = "updated"
        else:
            action = "unchanged"
        outcome["question"] = {"id": card["id"], "name": name, "action": action}

        dashboard = _by_name(_items(mb.call("GET", "/api/dashboard", params={"f": "all"})), name)
        action = "unchanged"
        if dashboard is None:
            dashboard = mb.call("POST", "/api/dashboard", json={
                "name": name, "description": f"Weekly Automation SLA of tenant {tenant} (playbook §4)"})
            action = "created"
        dashboard = mb.call("GET", f"/api/dashboard/{dashboard['id']}")
        dashcards = dashboard.get("dashcards") or []
        if not any(dc.get("card_id") == card["id"] for dc in dashcards):
            kept = [{k: dc.get(k) for k in ("id", "card_id", "row", "col", "size_x", "size_y",
                                            "parameter_mappings", "visualization_settings")} for dc in dashcards]
            mb.call("PUT", f"/api/dashboard/{dashboard['id']}", json={"dashcards": [*kept, {
                "id": -1, "card_id": card["id"], "row": 0, "col": 0, "size_x": 24, "size_y": 10,
                "parameter_mappings": [], "visualization_settings": {}}]})
            dashboard = mb.call("GET", f"/api/dashboard/{dashboard['id']}")
            action = "updated" if action == "unchanged" else action
        outcome["dashboard"] = {"id": dashboard["id"], "name": name, "action": action}
        dashcard_id = next((dc.get("id") for dc in dashboard.get("dashcards") or []
                            if dc.get("card_id") == card["id"]), None)

        wanted_pulse = pulse_body(name, card["id"], dashcard_id, dashboard["id"], recipients, schedule_day,
                                  schedule_hour)
        pulse = _by_name(_items(mb.call("GET", "/api/pulse", params={"dashboard_id": dashboard["id"]})), name)
        if pulse is None:
            pulse = mb.call("POST", "/api/pulse", json=wanted_pulse)
            action = "created"
        elif not _pulse_matches(pulse, wanted_pulse):
            pulse = mb.call("PUT", f"/api/pulse/{pulse['id']}", json=wanted_pulse)
            action = "updated"
        else:
            action = "unchanged"
        outcome["subscription"] = {"id": pulse["id"], "name": name, "action": action,
                                   "schedule": f"weekly {schedule_day} {schedule_hour:02d}:00 ({timezone})",
                                   "recipients": len(recipients)}
        return outcome
    finally:
        if client is None:
            mb.close()
