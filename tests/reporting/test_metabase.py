"""`crm reports metabase-provision` against a local fake of Metabase's REST API: creates the question, dashboard
and weekly subscription, finds them by name the second time and changes nothing, updates what drifted, and says
clearly what is wrong on 401, a refused body or an unknown database; 429 is retried after Retry-After."""

from __future__ import annotations

from typing import Any

import pytest

from rentguy_crm.reporting import metabase
from tests.reporting.metabase_fake import MetabaseFake

RECIPIENTS = ["bart@mr-dj.nl", "operations@mr-dj.nl"]


@pytest.fixture
def fake() -> Any:
    with MetabaseFake() as server:
        yield server


def provision(fake: MetabaseFake, password: str = "s3cret", **kw: Any) -> dict[str, dict[str, Any]]:
    waits: list[float] = []
    client = metabase.MetabaseClient(fake.url, sleep=waits.append)
    try:
        outcome = metabase.provision(fake.url, "admin@rentguy.nl", password, database_name=kw.pop("database", "crm"),
                                     tenant="mrdj", recipients=kw.pop("recipients", RECIPIENTS),
                                     timezone="Europe/Amsterdam", client=client, **kw)
        outcome["_waits"] = {"waits": waits}
        return outcome
    finally:
        client.close()


def test_the_first_run_creates_question_dashboard_and_subscription(fake: MetabaseFake) -> None:
    outcome = provision(fake)
    assert [outcome[k]["action"] for k in ("question", "dashboard", "subscription")] == ["created"] * 3
    [card] = fake.cards.values()
    assert card["name"] == "Automation SLA" and card["dataset_query"]["database"] == 1
    assert "FROM crm_report_automation_sla_weekly" in card["dataset_query"]["native"]["query"]
    assert card["dataset_query"]["native"]["template-tags"]["tenant"]["default"] == "mrdj"
    [dashboard] = fake.dashboards.values()
    assert [dc["card_id"] for dc in dashboard["dashcards"]] == [card["id"]]
    [pulse] = fake.pulses.values()
    assert pulse["dashboard_id"] == dashboard["id"]
    assert pulse["cards"][0]["dashboard_card_id"] == dashboard["dashcards"][0]["id"]
    [channel] = pulse["channels"]
    assert (channel["schedule_type"], channel["schedule_day"], channel["schedule_hour"]) == ("weekly", "mon", 8)
    assert [r["email"] for r in channel["recipients"]] == RECIPIENTS


def test_a_second_run_finds_everything_by_name_and_changes_nothing(fake: MetabaseFake) -> None:
    provision(fake)
    writes = [c for c in fake.calls if c[0] != "GET" and c[1] != "/api/session"]
    again = provision(fake)
    assert [again[k]["action"] for k in ("question", "dashboard", "subscription")] == ["unchanged"] * 3
    assert [c for c in fake.calls if c[0] != "GET" and c[1] != "/api/session"] == writes
    assert (len(fake.cards), len(fake.dashboards), len(fake.pulses)) == (1, 1, 1)


def test_drift_is_put_right_in_place(fake: MetabaseFake) -> None:
    provision(fake)
    [card] = fake.cards.values()
    card["dataset_query"]["native"]["query"] = "SELECT 1"
    outcome = provision(fake, recipients=["bart@mr-dj.nl"])
    assert (outcome["question"]["action"], outcome["subscription"]["action"]) == ("updated", "updated")
    assert "crm_report_automation_sla_weekly" in fake.cards[card["id"]]["dataset_query"]["native"]["query"]
    [pulse] = fake.pulses.values()
    assert [r["email"] for r in pulse["channels"][0]["recipients"]] == ["bart@mr-dj.nl"]
    assert len(fake.cards) == 1 and len(fake.pulses) == 1


def test_a_wrong_password_is_a_clear_error_and_creates_nothing(fake: MetabaseFake) -> None:
    with pytest.raises(metabase.MetabaseError, match=r"\(401\): password: did not match stored password"):
        provision(fake, password="wrong")
    assert fake.cards == {} and fake.dashboards == {}


def test_an_expired_session_is_a_clear_error(fake: MetabaseFake) -> None:
    client = metabase.MetabaseClient(fake.url)
    client.http.headers["X-Metabase-Session"] = "expired"
    with pytest.raises(metabase.MetabaseError, match=r"GET /api/database \(401\): Unauthenticated"):
        client.call("GET", "/api/database")
    client.close()


def test_a_refused_body_names_the_fields(fake: MetabaseFake) -> None:
    client = metabase.MetabaseClient(fake.url)
    client.login("admin@rentguy.nl", "s3cret")
    with pytest.raises(metabase.MetabaseError, match=r"POST /api/pulse \(400\): name: value must be a non-blank"):
        client.call("POST", "/api/pulse", json={"cards": [{"id": 1}], "channels": [{}]})
    client.close()


def test_an_unknown_database_names_the_ones_there_are(fake: MetabaseFake) -> None:
    with pytest.raises(metabase.MetabaseError, match=r"no database named 'rentguy' \(it has: Sample Database, crm\)"):
        provision(fake, database="rentguy")


def test_429_is_retried_after_retry_after(fake: MetabaseFake) -> None:
    fake.script.append((429, {"Retry-After": "7"}, "Too many requests"))
    outcome = provision(fake)
    assert outcome["_waits"]["waits"] == [7.0]
    assert outcome["question"]["action"] == "created"


def test_the_question_sql_is_the_shipped_file() -> None:
    sql = metabase.question_sql()
    assert sql.startswith("SELECT iso_week") and "{{tenant}}" in sql and "--" not in sql


async def test_the_command_provisions_with_the_tenants_recipients(fake: MetabaseFake, factory, tmp_path) -> None:
    from tests.reporting.support import crm

    await factory.tenant("mrdj")
    secret = tmp_path / "metabase-password"
    secret.write_text("s3cret\n")
    result = crm("reports", "metabase-provision", "--url", fake.url, "--username", "admin@rentguy.nl",
                 "--password-file", str(secret), "--json")
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    [pulse] = fake.pulses.values()
    assert [r["email"] for r in pulse["channels"][0]["recipients"]] == RECIPIENTS
    secret.write_text("wrong")
    refused = crm("reports", "metabase-provision", "--url", fake.url, "--username", "admin@rentguy.nl",
                  "--password-file", str(secret))
    assert refused.returncode == 1 and "401" in refused.stderr and "wrong" not in refused.stderr
