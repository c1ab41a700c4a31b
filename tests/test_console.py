"""The console's pages, through Flask's test client on fakeredis: logins, who sees what, forms and headers."""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime

import pytest

from app import create_app
from routing import outbox, pool
from routing.clock import now_us
from routing.phone import mask
from routing.sessions import lifecycle
from tests.conftest import backlog, changed, make_tenant
from tests.sessions_helpers import credential
from tests.shared_helpers import dids, people, shared_tenant
from tests.twilio_helpers import PUBLIC, TOKEN, call, new_sid, xml

SECRET = "console-secret-" + "k" * 32
OPERATOR = "operator-token-" + "o" * 32
FIRST, SECOND = "+14155551234", "+14155554321"


@pytest.fixture
def app_config():
    return {"MASQ_SECRET_KEY": SECRET, "MASQ_OPERATOR_TOKEN": OPERATOR}


def csrf_token(client, path="/console/login") -> str:
    """Return the CSRF token of the first form on the page at `path`."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, tenant=None, secret=None, operator=None, **extra):
    """Post the tenant's (or the operator's) login form with its CSRF token; return the answer."""
    token = csrf_token(client)
    if operator is not None:
        return client.post("/console/login/operator", data={"token": operator, "csrf_token": token, **extra})
    secret = tenant.auth_token if secret is None else secret
    return client.post(
        "/console/login", data={"auth_id": tenant.auth_id, "secret": secret, "csrf_token": token, **extra}
    )


def page(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


@pytest.fixture
def opened(store, tenant):
    """A session of the tenant's with a callback URL, on its first DID."""
    parties = {"first_party": FIRST, "second_party": SECOND, "callback_url": "https://hooks.example.com/masq"}
    return lifecycle.open_session(store, credential(tenant), parties, now_us(), wanted_number=tenant.numbers[0])


# -- logging in ---------------------------------------------------------------------------------------------------
def test_a_visitor_not_logged_in_is_sent_to_the_login_page_and_back_after(client, tenant):
    wanted = f"/console/{tenant.auth_id}/numbers"
    response = client.get(wanted)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/console/login?next={wanted}"

    answer = log_in(client, tenant, next=wanted)

    assert (answer.status_code, answer.headers["Location"]) == (302, wanted)
    assert "Capacity over the last 7 days" in page(client, wanted)


def test_a_tenant_logs_in_with_its_auth_id_and_auth_token_and_lands_on_its_sessions(client, tenant):
    answer = log_in(client, tenant)

    assert answer.headers["Location"] == f"/console/{tenant.auth_id}/sessions"
    assert "<h1>Sessions</h1>" in page(client, answer.headers["Location"])


def test_a_tenant_logs_in_with_its_api_key_alone(client, tenant):
    token = csrf_token(client)
    answer = client.post("/console/login", data={"secret": tenant.api_key, "csrf_token": token})

    assert answer.headers["Location"] == f"/console/{tenant.auth_id}/sessions"


def test_a_login_to_another_site_goes_to_the_sessions_instead(client, tenant):
    for elsewhere in ("https://evil.example.com/console/", "//evil.example.com/console/", "/console//evil"):
        assert log_in(client, tenant, next=elsewhere).headers["Location"] == f"/console/{tenant.auth_id}/sessions"


def test_a_wrong_token_is_refused_with_the_form_again(client, tenant):
    answer = log_in(client, tenant, secret=changed(tenant.auth_token))

    assert answer.status_code == 401
    assert "Wrong account, auth token or API key." in answer.get_data(as_text=True)
    assert client.get(f"/console/{tenant.auth_id}/sessions").status_code == 302


def test_failed_logins_are_bounded_as_the_apis_bound_them(make_app, tenant):
    client = make_app(MASQ_SECRET_KEY=SECRET, MASQ_LOGIN_FAILURES=2, MASQ_LOGIN_WINDOW=600).test_client()
    wrong = changed(tenant.auth_token)
    assert [log_in(client, tenant, secret=wrong).status_code for _ in range(2)] == [401, 401]

    held = log_in(client, tenant)  # the right token, once the address has spent its failures

    assert held.status_code == 429
    assert int(held.headers["Retry-After"]) > 0
    assert "too many failed logins" in held.get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(client, tenant):
    answer = client.post("/console/login", data={"auth_id": tenant.auth_id, "secret": tenant.auth_token})

    assert answer.status_code == 400
    assert answer.mimetype == "text/html"
    assert "CSRF" in answer.get_data(as_text=True)


def test_a_csrf_token_of_another_login_is_refused(make_app, client, tenant):
    other = make_app(MASQ_SECRET_KEY=SECRET).test_client()
    answer = client.post(
        "/console/login", data={"auth_id": tenant.auth_id, "secret": tenant.auth_token, "csrf_token": csrf_token(other)}
    )
    assert answer.status_code == 400


def test_logging_out_ends_the_login(client, tenant):
    log_in(client, tenant)
    token = csrf_token(client, f"/console/{tenant.auth_id}/sessions")

    assert client.post("/console/logout", data={"csrf_token": token}).headers["Location"] == "/console/login"
    assert client.get(f"/console/{tenant.auth_id}/sessions").status_code == 302


def test_an_operator_logs_in_with_the_operator_token_and_sees_every_tenant(client, store, tenant):
    other = make_tenant(store, ["+14155550190"], name="other")

    assert log_in(client, operator=OPERATOR).headers["Location"] == "/console/tenants"

    listing = page(client, "/console/tenants")
    assert tenant.auth_id in listing and other.auth_id in listing


def test_a_wrong_operator_token_is_refused_and_counted(make_app, store):
    client = make_app(MASQ_SECRET_KEY=SECRET, MASQ_OPERATOR_TOKEN=OPERATOR, MASQ_LOGIN_FAILURES=1).test_client()

    assert log_in(client, operator=changed(OPERATOR)).status_code == 401
    assert log_in(client, operator=OPERATOR).status_code == 429


def test_without_an_operator_token_nobody_logs_in_as_operator(make_app):
    client = make_app(MASQ_SECRET_KEY=SECRET, MASQ_OPERATOR_TOKEN="").test_client()

    assert "Operator token" not in page(client, "/console/login")
    assert log_in(client, operator="").status_code == 403


def test_a_tenant_is_not_shown_the_operators_page(client, tenant):
    log_in(client, tenant)
    page(client, "/console/tenants", status=404)


# -- who sees what ------------------------------------------------------------------------------------------------
def test_another_tenants_pages_are_not_found(client, store, tenant):
    other = make_tenant(store, ["+14155550190"], name="other")
    theirs = lifecycle.open_session(store, credential(other), {"first_party": FIRST, "second_party": SECOND}, now_us())
    log_in(client, tenant)

    for path in ("sessions", f"sessions/{theirs.session_uuid}", "numbers", "live"):
        assert "There is no such page" in page(client, f"/console/{other.auth_id}/{path}", status=404)
    page(client, f"/console/{tenant.auth_id}/sessions/{theirs.session_uuid}", status=404)


def test_the_tenant_sees_its_numbers_and_the_operator_sees_them_masked(make_app, store, tenant, opened):
    owner, operator = (make_app(MASQ_SECRET_KEY=SECRET, MASQ_OPERATOR_TOKEN=OPERATOR).test_client() for _ in range(2))
    log_in(owner, tenant)
    log_in(operator, operator=OPERATOR)
    lifecycle.end_session(store, tenant.auth_id, opened.session_uuid, now_us())  # an event carrying the numbers
    paths = [f"/console/{tenant.auth_id}/{p}" for p in ("sessions", f"sessions/{opened.session_uuid}", "numbers")]

    for path in paths:
        seen_by_owner, seen_by_operator = page(owner, path), page(operator, path)
        for number in (FIRST, SECOND, opened.virtual_number):
            if number in seen_by_owner:
                assert mask(number) not in seen_by_owner
            assert number not in seen_by_operator
        assert opened.virtual_number in seen_by_owner and mask(opened.virtual_number) in seen_by_operator
    assert "hooks.example.com" in page(owner, paths[1])


# -- pages --------------------------------------------------------------------------------------------------------
def test_the_sessions_are_listed_newest_first_and_filtered_by_status_and_party(client, store, tenant):
    first = lifecycle.open_session(store, credential(tenant), {"first_party": FIRST, "second_party": SECOND}, now_us())
    other = {"first_party": "+14155550111", "second_party": SECOND}
    second = lifecycle.open_session(store, credential(tenant), other, now_us() + 1)
    lifecycle.end_session(store, tenant.auth_id, second.session_uuid, now_us() + 2)
    log_in(client, tenant)
    base = f"/console/{tenant.auth_id}/sessions"

    listing = page(client, base)
    assert listing.index(second.session_uuid) < listing.index(first.session_uuid)
    assert first.session_uuid not in page(client, base + "?status=expired")
    assert second.session_uuid not in page(client, base + "?party=%2B14155551234&as=first_party")
    assert first.session_uuid in page(client, base + "?party=%2B14155551234&as=first_party")


def test_the_sessions_come_a_page_at_a_time(client, store, tenant):
    parties = {"first_party": FIRST, "second_party": SECOND, "create_session_with_single_party": False}
    pool.add_numbers(store, tenant.auth_id, [f"+1415555{n:04d}" for n in range(200, 222)], now_us())
    opened = [lifecycle.open_session(store, credential(tenant), parties, now_us() + n) for n in range(22)]
    log_in(client, tenant)

    one, two = (page(client, f"/console/{tenant.auth_id}/sessions?page={n}") for n in (1, 2))

    assert "page 1 of 2" in one and "Older" in one
    assert opened[0].session_uuid in two and opened[0].session_uuid not in one
    assert opened[-1].session_uuid in one


def test_a_bad_filter_is_said_on_an_html_page(client, tenant):
    log_in(client, tenant)
    response = client.get(f"/console/{tenant.auth_id}/sessions?party=12ab")

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "is not a phone number" in response.get_data(as_text=True)


def test_a_session_shows_its_calls_and_its_events_with_their_delivery(client, store, tenant, opened):
    sid = new_sid()
    xml(call(client, FIRST, opened.virtual_number, sid))
    lifecycle.end_session(store, tenant.auth_id, opened.session_uuid, now_us())
    [event] = outbox.claim(store, tenant.auth_id, "w1", now_us())
    outbox.failed(store, tenant.auth_id, event, "HTTP 503 from hooks.example.com", now_us())
    log_in(client, tenant)

    shown = page(client, f"/console/{tenant.auth_id}/sessions/{opened.session_uuid}")

    assert sid in shown
    assert "SessionEnded" in shown and "retrying" in shown and "HTTP 503 from hooks.example.com" in shown
    assert "Retry now" in shown


def test_a_dead_event_is_replayed_from_its_button(client, store, tenant, opened):
    lifecycle.end_session(store, tenant.auth_id, opened.session_uuid, now_us())
    [event] = outbox.claim(store, tenant.auth_id, "w1", now_us())
    outbox.failed(store, tenant.auth_id, event, "HTTP 404", now_us(), retry=False)
    log_in(client, tenant)
    path = f"/console/{tenant.auth_id}/sessions/{opened.session_uuid}"
    assert "dead" in page(client, path) and backlog(store, tenant.auth_id) == 0

    answer = client.post(f"{path}/events/{event.entry_id}/replay", data={"csrf_token": csrf_token(client, path)})

    assert answer.headers["Location"] == path + "#events"
    assert outbox.dead_letters(store, tenant.auth_id) == []
    assert backlog(store, tenant.auth_id) == 1
    shown = page(client, path)
    assert "is back in the outbox" in shown and "queued" in shown and f"replay of {event.entry_id}" in shown


def test_a_replay_posted_without_its_csrf_token_replays_nothing(client, store, tenant, opened):
    lifecycle.end_session(store, tenant.auth_id, opened.session_uuid, now_us())
    [event] = outbox.claim(store, tenant.auth_id, "w1", now_us())
    outbox.failed(store, tenant.auth_id, event, "HTTP 404", now_us(), retry=False)
    log_in(client, tenant)

    path = f"/console/{tenant.auth_id}/sessions/{opened.session_uuid}/events/{event.entry_id}/replay"
    assert client.post(path).status_code == 400
    assert len(outbox.dead_letters(store, tenant.auth_id)) == 1


def test_a_replay_of_an_event_that_is_not_dead_does_nothing(client, store, tenant, opened):
    lifecycle.end_session(store, tenant.auth_id, opened.session_uuid, now_us())
    [event] = outbox.claim(store, tenant.auth_id, "w1", now_us())
    log_in(client, tenant)
    path = f"/console/{tenant.auth_id}/sessions/{opened.session_uuid}"

    client.post(f"{path}/events/{event.entry_id}/replay", data={"csrf_token": csrf_token(client, path)})

    assert "is not dead (any more)" in page(client, path)
    assert backlog(store, tenant.auth_id) == 1


def test_a_retrying_event_is_made_due_now_from_its_button(client, store, tenant, opened):
    lifecycle.end_session(store, tenant.auth_id, opened.session_uuid, now_us())
    [event] = outbox.claim(store, tenant.auth_id, "w1", now_us())
    outbox.failed(store, tenant.auth_id, event, "HTTP 503", now_us())
    log_in(client, tenant)
    path = f"/console/{tenant.auth_id}/sessions/{opened.session_uuid}"

    client.post(f"{path}/events/{event.entry_id}/retry", data={"csrf_token": csrf_token(client, path)})

    assert store.redis.zscore(store.keys.event_retries(tenant.auth_id), event.entry_id) <= now_us()


def test_the_numbers_page_shows_the_pool_the_holdings_of_a_day_and_the_capacity_chart(client, store, tenant, opened):
    log_in(client, tenant)
    today = f"{datetime.now(UTC):%Y-%m-%d}"

    shown = page(client, f"/console/{tenant.auth_id}/numbers?on={today}&days=2")

    assert re.search(r"<td>US</td><td class=\"n\">2</td><td class=\"n\">1</td>", shown)  # 2 free, 1 in use
    assert f"Assignments held on {today}" in shown and tenant.numbers[2] in shown
    assert shown.count("<rect ") == 1 and "1 open at once" in shown
    assert "<dt>Recommended size</dt><dd>2</dd>" in shown and 'role="alert"' not in shown  # 1 open of 3: not hot
    assert "No assignment held on 2001-01-01" in page(client, f"/console/{tenant.auth_id}/numbers?on=2001-01-01")


def test_a_pool_running_hot_is_warned_of(client, store):
    tenant = make_tenant(store, ["+14155550100"])
    lifecycle.open_session(store, credential(tenant), {"first_party": FIRST, "second_party": SECOND}, now_us())
    log_in(client, tenant)

    assert "the peak of 1 open session is 100 % of the pool" in page(client, f"/console/{tenant.auth_id}/numbers")


def shared_rides(store):
    """A shared tenant of 3 DIDs, 5 parties a DID: 4 sessions, one party in 2 of them, on 2 DIDs full at 4."""
    tenant = shared_tenant(store, dids(3), parties_per_number=5)
    crowd = people(8)
    pairs = [(crowd[0], crowd[1]), (crowd[2], crowd[3]), (crowd[4], crowd[5]), (crowd[0], crowd[6])]
    sessions = [
        lifecycle.open_session(store, credential(tenant), {"first_party": a, "second_party": b}, now_us() + i)
        for i, (a, b) in enumerate(pairs)
    ]
    return tenant, sessions


def test_a_shared_pool_shows_its_shared_figures_and_charts_dids_in_use_not_sessions(client, store):
    tenant, sessions = shared_rides(store)
    log_in(client, tenant)

    shown = page(client, f"/console/{tenant.auth_id}/numbers")

    assert '<h3 id="shared">Shared numbers</h3>' in shown
    row = re.search(r"<tr><td>US</td>.*?</tr>", shown[shown.index('id="shared"') :], re.S).group(0)
    cells = [cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    # DIDs, in shared use (peak), with open sessions, k now, peak k, 2k − 1, holdings, peak holdings, cap, recommended
    assert cells[1:11] == [
        "3",
        "2 (peak 2)",
        "2",
        "2",
        "2",
        "3",
        "8",
        "8",
        "5 (full at 4)",
        '5 <span class="state short">2 short</span>',
    ]
    assert {f"{s.virtual_number} (4)" for s in sessions} == set(cells[11].split(", "))
    assert "<dt>Peak DIDs in use</dt><dd>2</dd>" in shown and "<dt>Peak open at once</dt><dd>4</dd>" in shown
    assert shown.count("<rect ") == 1 and "2 DIDs in use, 4 open at once" in shown
    assert "hourly peak of DIDs in use" in shown
    # 2 DIDs of 3 is not 80 %: 4 open sessions do not make the pool hot, but the country lacks 2 for 2k − 1 and the cap
    assert "the peak of" not in shown and "US has 3 DIDs, 2 fewer than its shared sessions need" in shown
    assert "shared: 4 parties" in shown


def test_the_operator_sees_the_busiest_shared_dids_masked(make_app, store):
    tenant, sessions = shared_rides(store)
    operator = make_app(MASQ_SECRET_KEY=SECRET, MASQ_OPERATOR_TOKEN=OPERATOR).test_client()
    log_in(operator, operator=OPERATOR)

    shown = page(operator, f"/console/{tenant.auth_id}/numbers")

    assert sessions[0].virtual_number not in shown and f"{mask(sessions[0].virtual_number)} (4)" in shown


def test_the_live_page_lists_the_calls_in_progress(client, tenant, opened):
    sid = new_sid()
    xml(call(client, FIRST, opened.virtual_number, sid))
    log_in(client, tenant)

    shown = page(client, f"/console/{tenant.auth_id}/live")

    assert sid in shown and opened.session_uuid in shown and 'http-equiv="refresh"' in shown


# -- headers, and the rest of masq ----------------------------------------------------------------------------------
def test_pages_are_never_stored_or_framed_and_load_nothing_from_elsewhere(client, tenant):
    log_in(client, tenant)
    for path in ("/console/login", f"/console/{tenant.auth_id}/sessions", "/console/nowhere"):
        headers = client.get(path).headers
        assert headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src" not in headers["Content-Security-Policy"]
        assert (headers["X-Frame-Options"], headers["X-Content-Type-Options"]) == ("DENY", "nosniff")
        assert headers["Referrer-Policy"] == "same-origin"


def test_the_style_sheet_is_cached_for_a_year_under_its_digest(client):
    url = re.search(r'href="(/console/assets/[^"]+)"', page(client, "/console/login")).group(1)

    response = client.get(url)
    response.close()

    assert response.status_code == 200 and response.mimetype == "text/css"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(url.replace("/assets/", "/assets/0").replace("/console.css", "x/console.css")).status_code == 404
    assert client.get("/console/assets/0000000000000000/console.css").status_code == 404


def test_the_login_cookie_is_the_consoles_only(client, tenant):
    cookie = log_in(client, tenant).headers["Set-Cookie"]

    assert cookie.startswith("masq_console=")
    assert "Path=/console" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" in cookie  # the public URL is https


def test_the_apis_read_no_cookie_set_none_and_keep_their_json_errors(client, tenant):
    log_in(client, tenant)

    listing = client.get(tenant.plivo_base)  # no credential: the console's login is no API login
    assert listing.status_code == 401 and listing.is_json and "Set-Cookie" not in listing.headers
    assert "Content-Security-Policy" not in listing.headers
    missing = client.get("/static/console/console.css")
    assert missing.status_code == 404 and missing.is_json


# -- the signing key ------------------------------------------------------------------------------------------------
def test_without_a_secret_key_one_is_made_once_in_the_data_folder_and_kept(store, tmp_path, tenant):
    def app():
        config = {"STORE": store, "TESTING": True, "MASQ_PUBLIC_URL": PUBLIC, "TWILIO_AUTH_TOKEN": TOKEN}
        return create_app({**config, "MASQ_SECRET_KEY": "", "MASQ_DATA_DIR": str(tmp_path / "var")})

    first, second = app().test_client(), app().test_client()
    log_in(first, tenant)
    key = tmp_path / "var" / "console-secret-key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and len(key.read_text()) == 64

    second.set_cookie("masq_console", first.get_cookie("masq_console", path="/console").value, path="/console")
    assert "<h1>Sessions</h1>" in page(second, f"/console/{tenant.auth_id}/sessions")  # another process, same key


@pytest.mark.parametrize("setting", ["MASQ_SECRET_KEY", "MASQ_OPERATOR_TOKEN"])
def test_a_secret_too_short_to_be_one_stops_the_start(make_app, setting):
    with pytest.raises(ValueError, match=setting):
        make_app(**{setting: "short"})


def test_a_session_lasts_twelve_hours_from_the_last_page(app):
    assert app.permanent_session_lifetime.total_seconds() == 12 * 3600


def test_an_event_the_session_asks_no_callback_for_is_told_not_sent(client, store, tenant, opened):
    lifecycle.end_session(store, tenant.auth_id, opened.session_uuid, now_us())
    bare = lifecycle.open_session(store, credential(tenant), {"first_party": FIRST, "second_party": SECOND}, now_us())
    lifecycle.end_session(store, tenant.auth_id, bare.session_uuid, now_us())
    outbox.delivered(store, tenant.auth_id, outbox.claim(store, tenant.auth_id, "w1", now_us()))
    log_in(client, tenant)

    sent = page(client, f"/console/{tenant.auth_id}/sessions/{opened.session_uuid}")
    unsent = page(client, f"/console/{tenant.auth_id}/sessions/{bare.session_uuid}")

    delivered = '<span class="state delivered">'
    assert delivered in sent and "not sent" not in sent
    assert "not sent" in unsent and delivered not in unsent
