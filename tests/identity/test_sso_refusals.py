"""Every way a sign-in is refused: the person is told why in plain words (problem JSON, or a page for browsers),
the audit log names the reason, and no session is made."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest
from joserfc.jwk import RSAKey

from rentguy_crm.auth import sessions
from rentguy_crm.auth.sessions import SESSION_COOKIE
from rentguy_crm.kit import clock
from tests.identity.conftest import at_provider, sign_in, start
from tests.identity.idp_fake import CLIENT_ID, DIRECTORY_A, DIRECTORY_B, GROUP_SALES
from tests.table_counts import audit_entries
from tests.vendor_fakes import Reply


async def assert_refused(db, response: httpx.Response, reason: str, status: int = 403) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["reason"] == reason
    assert "Traceback" not in response.text and len(body["detail"]) > 20
    assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in response.headers.get_list("set-cookie"))
    refusals = [e for e in await audit_entries(db) if e.action == "sign_in.refused"]
    assert [e.after["reason"] for e in refusals] == [reason]
    return body


async def test_wrong_state_is_refused(browser, tenant_a, idp, db) -> None:
    query = await at_provider(await start(browser))
    tampered = query.replace("state=", "state=x")
    answer = await browser.get(f"/api/v1/auth/sso/callback?{tampered}")
    await assert_refused(db, answer, "state_mismatch", 400)


async def test_missing_state_cookie_is_refused(browser, tenant_a, idp, db) -> None:
    query = await at_provider(await start(browser))
    browser.cookies.clear()
    await assert_refused(db, await browser.get(f"/api/v1/auth/sso/callback?{query}"), "state_missing", 400)


async def test_missing_state_parameter_is_refused(browser, tenant_a, idp, db) -> None:
    query = await at_provider(await start(browser))
    code_only = "&".join(p for p in query.split("&") if p.startswith("code="))
    await assert_refused(db, await browser.get(f"/api/v1/auth/sso/callback?{code_only}"), "state_mismatch", 400)


async def test_replayed_code_is_refused(browser, tenant_a, idp, db) -> None:
    first = await at_provider(await start(browser))
    assert (await browser.get(f"/api/v1/auth/sso/callback?{first}")).status_code == 303
    code = next(p for p in first.split("&") if p.startswith("code="))
    second = await at_provider(await start(browser))
    state = next(p for p in second.split("&") if p.startswith("state="))
    answer = await browser.get(f"/api/v1/auth/sso/callback?{code}&{state}")
    await assert_refused(db, answer, "code_rejected")


async def test_nonce_mismatch_is_refused(browser, tenant_a, idp, db) -> None:
    idp.claim_overrides["nonce"] = "a-nonce-of-another-sign-in"
    await assert_refused(db, await sign_in(browser), "token_nonce")


async def test_wrong_audience_is_refused(browser, tenant_a, idp, db) -> None:
    idp.claim_overrides["aud"] = "another-application"
    await assert_refused(db, await sign_in(browser), "token_audience")


async def test_issuer_of_another_directory_is_refused(browser, tenant_a, idp, db) -> None:
    idp.claim_overrides["iss"] = idp.issuer(DIRECTORY_B)
    await assert_refused(db, await sign_in(browser), "token_issuer")


@pytest.mark.parametrize(("expired_seconds_ago", "accepted"), [(30, True), (120, False)])
async def test_expiry_allows_a_small_clock_leeway(browser, tenant_a, idp, db, expired_seconds_ago: int,
                                                  accepted: bool) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    clock.set_clock(clock.ManualClock(now))
    idp.claim_overrides.update(exp=int(now.timestamp()) - expired_seconds_ago, iat=int(now.timestamp()) - 3600,
                               nbf=int(now.timestamp()) - 3600)
    answer = await sign_in(browser)
    if accepted:
        assert answer.status_code == 303, answer.text
    else:
        await assert_refused(db, answer, "token_expired")


async def test_alg_none_is_refused(browser, tenant_a, idp, db) -> None:
    idp.raw_id_token = idp.unsigned({"iss": idp.issuer(DIRECTORY_A), "aud": CLIENT_ID, "exp": int(time.time()) + 600,
                                     "tid": DIRECTORY_A, "oid": "oid-person-1", "groups": [GROUP_SALES]})
    body = await assert_refused(db, await sign_in(browser), "token_algorithm")
    assert "'none'" in body["detail"]


async def test_key_id_the_provider_does_not_publish_is_refused_after_one_refetch(browser, tenant_a, idp,
                                                                                 db) -> None:
    idp.signing_key = RSAKey.generate_key(2048, parameters={"kid": "rogue-key"})
    await assert_refused(db, await sign_in(browser), "token_unknown_key")
    assert idp.jwks_reads == 2  # the cached set, then one fresh read


async def test_rotated_key_is_picked_up_by_refetching_the_key_set(browser, tenant_a, idp) -> None:
    assert (await sign_in(browser)).status_code == 303  # the key set is now cached
    rotated = RSAKey.generate_key(2048, parameters={"kid": "key-2"})
    idp.published.append(rotated)
    idp.signing_key = rotated
    browser.cookies.clear()
    assert (await sign_in(browser)).status_code == 303


async def test_forged_signature_with_a_published_key_id_is_refused(browser, tenant_a, idp, db) -> None:
    idp.signing_key = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
    await assert_refused(db, await sign_in(browser), "token_signature")


async def test_group_overage_reads_groups_from_graph(browser, tenant_a, idp, graph) -> None:
    idp.person.pop("groups")
    idp.claim_overrides.update({"_claim_names": {"groups": "src1"},
                                "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/x"}}})
    graph.groups["oid-person-1"] = ["unrelated-group", GROUP_SALES]
    assert (await sign_in(browser)).status_code == 303
    assert (await browser.get("/api/v1/auth/me")).json()["roles"] == ["sales"]
    assert graph.requests[0].path == "/v1.0/users/oid-person-1/getMemberObjects"


async def test_group_overage_with_graph_down_is_refused(browser, tenant_a, idp, graph, db) -> None:
    idp.person.pop("groups")
    idp.claim_overrides["hasgroups"] = True
    graph.script.append(Reply(503, b'{"error": {"code": "serviceNotAvailable"}}', {"Retry-After": "10"}))
    body = await assert_refused(db, await sign_in(browser), "graph_unavailable", 503)
    assert "Microsoft Graph" in body["detail"]


async def test_person_in_no_mapped_group_is_refused_with_a_page_saying_so(browser, tenant_a, idp, db) -> None:
    idp.person["groups"] = ["group-of-the-canteen"]
    query = await at_provider(await start(browser))
    page = await browser.get(f"/api/v1/auth/sso/callback?{query}", headers={"Accept": "text/html"})
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "none of your groups gives you a role" in page.text
    assert [e.after["reason"] for e in await audit_entries(db) if e.action == "sign_in.refused"] == ["no_role"]


async def test_person_of_tenant_a_asking_for_tenant_b_is_refused(browser, tenant_a, tenant_b, idp, db) -> None:
    assert idp.person["tid"] == DIRECTORY_A
    body = await assert_refused(db, await sign_in(browser, tenant="other"), "wrong_directory")
    assert "another organisation" in body["detail"]
    refusal = next(e for e in await audit_entries(db) if e.action == "sign_in.refused")
    assert refusal.tenant_id == tenant_b.id
    assert (await browser.get("/api/v1/auth/me")).status_code == 401


async def test_disabled_users_live_session_ends_at_once(browser, tenant_a, idp, db) -> None:
    assert (await sign_in(browser)).status_code == 303
    user_id = (await browser.get("/api/v1/auth/me")).json()["user_id"]
    async with db.session() as session:
        _user, revoked = await sessions.set_disabled(session, tenant_a, user_id, disabled=True, actor="test")
    assert revoked == 1
    answer = await browser.get("/api/v1/crm/pipelines")
    assert answer.status_code == 401 and answer.json()["reason"] in ("revoked", "disabled")
    browser.cookies.clear()
    await assert_refused(db, await sign_in(browser), "user_disabled")


async def test_provider_error_is_named(browser, tenant_a, idp, db) -> None:
    login = await start(browser)
    state = login.headers["location"].split("state=")[1].split("&")[0]
    answer = await browser.get(f"/api/v1/auth/sso/callback?error=access_denied&state={state}")
    body = await assert_refused(db, answer, "provider_error")
    assert "access_denied" in body["detail"]


async def test_unresolvable_client_secret_is_named_without_naming_the_reference(browser, tenant_a, idp, db,
                                                                               monkeypatch) -> None:
    monkeypatch.delenv("CRM_TEST_SSO_CLIENT_SECRET")
    body = await assert_refused(db, await start(browser), "sso_secret_unavailable", 503)
    assert "login-link" in body["detail"] and "client secret" in body["detail"]
    assert "env:" not in body["detail"] and "CRM_TEST_SSO_CLIENT_SECRET" not in body["detail"]  # anonymous caller
    refusal = next(e for e in await audit_entries(db) if e.action == "sign_in.refused")
    assert "CRM_TEST_SSO_CLIENT_SECRET" in refusal.after["cause"] and refusal.tenant_id == tenant_a.id
