"""The sign-in flow against the Entra-like provider: a person in a mapped group gets a session and is a principal
like an API key; sign-out ends the session and names the provider's end-session URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from rentguy_crm.auth.sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from tests.identity.conftest import sign_in, start
from tests.identity.idp_fake import CLIENT_ID, DIRECTORY_A, GROUP_ADMIN
from tests.table_counts import audit_entries


async def test_login_redirects_with_pkce_s256_state_and_nonce(browser, tenant_a, idp) -> None:
    login = await start(browser)
    assert login.status_code == 302
    query = parse_qs(urlparse(login.headers["location"]).query)
    assert urlparse(login.headers["location"]).path == f"/{DIRECTORY_A}/oauth2/v2.0/authorize"
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["state"][0] and query["nonce"][0] and len(query["code_challenge"][0]) == 43
    cookie = next(c for c in browser.cookies.jar if c.name == "crm_sso_state")
    assert cookie.path == "/api/v1/auth/sso" and cookie.secure


async def test_person_in_mapped_group_gets_a_session_and_reads_crm(browser, tenant_a, idp) -> None:
    callback = await sign_in(browser)
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/"  # the staff web app
    set_cookie = callback.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookie if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session_cookie and "Secure" in session_cookie and "SameSite=lax" in session_cookie
    me = await browser.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert (me.json()["tenant"], me.json()["roles"], me.json()["kind"]) == ("mrdj", ["sales"], "session")
    assert (await browser.get("/api/v1/crm/pipelines")).status_code == 200


async def test_next_returns_to_a_path_on_this_site(browser, tenant_a, idp) -> None:
    callback = await sign_in(browser, next="/api/v1/crm/pipelines")
    assert callback.headers["location"] == "/api/v1/crm/pipelines"


async def test_next_to_another_site_is_refused(browser, tenant_a, idp) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        answer = await start(browser, next=target)
        assert answer.status_code == 400, target
        assert "next" in answer.json()["detail"]


async def test_user_is_created_once_by_directory_and_object_id(browser, tenant_a, idp, db) -> None:
    await sign_in(browser)
    idp.person["preferred_username"] = "anna.new-name@mrdj.example"  # the address changes, the person does not
    browser.cookies.clear()
    await sign_in(browser)
    from rentguy_crm.auth import repository

    async with db.session() as session:
        users = await repository.list_users(session, tenant_a.id)
    assert [(u.directory_id, u.object_id, u.email) for u in users] == [
        (DIRECTORY_A, "oid-person-1", "anna.new-name@mrdj.example")]


async def test_no_email_verified_claim_is_needed(browser, tenant_a, idp) -> None:
    assert "email_verified" not in idp.person
    assert (await sign_in(browser)).status_code == 303


async def test_app_roles_map_to_our_roles(browser, factory, idp) -> None:
    from tests.identity.conftest import sso_section

    await factory.tenant("mrdj", sso=sso_section(DIRECTORY_A, group_roles={}, app_roles={"CRM.Operator":
                                                                                        ["operations"]}))
    idp.person.update(groups=[], roles=["CRM.Operator"])
    assert (await sign_in(browser)).status_code == 303
    assert (await browser.get("/api/v1/auth/me")).json()["roles"] == ["operations"]


async def test_session_changes_need_the_csrf_token(browser, tenant_a, idp) -> None:
    idp.person["groups"] = [GROUP_ADMIN]
    await sign_in(browser)
    without = await browser.post("/api/v1/auth/logout")
    assert without.status_code == 403 and without.json()["reason"] == "csrf"
    wrong = await browser.post("/api/v1/auth/logout", headers={CSRF_HEADER: "0" * 64})
    assert wrong.status_code == 403
    token = browser.cookies.get(CSRF_COOKIE)
    assert token == (await browser.get("/api/v1/auth/me")).json()["csrf_token"]
    assert (await browser.post("/api/v1/auth/logout", headers={CSRF_HEADER: token})).status_code == 200


async def test_logout_ends_the_session_and_names_the_provider_end_session(browser, tenant_a, idp) -> None:
    await sign_in(browser)
    raw = browser.cookies.get(SESSION_COOKIE)
    answer = await browser.post("/api/v1/auth/logout", headers={CSRF_HEADER: browser.cookies.get(CSRF_COOKIE)})
    assert answer.json()["signed_out"] is True
    assert answer.json()["end_session_url"].startswith(f"{idp.authority}/{DIRECTORY_A}/oauth2/v2.0/logout?")
    again = await browser.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={raw}"})
    assert again.status_code == 401 and again.json()["reason"] == "revoked"


async def test_sign_in_is_audited_without_personal_data(browser, tenant_a, idp, db) -> None:
    await sign_in(browser)
    entries = await audit_entries(db)
    actions = [e.action for e in entries if e.tenant_id == tenant_a.id]
    assert "user.created" in actions and "session.started" in actions
    text = repr([(e.actor, e.before, e.after) for e in entries])
    assert "anna" not in text.lower()


async def test_api_keys_need_no_csrf_token(client, tenant_a, factory) -> None:
    headers = await factory.headers(tenant_a, "admin")
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 200
