"""The one session create, `lifecycle.open_session`, and the two dialects' views over it: the credential, the
rate limit and the DID in one round trip; who asks is answered before what is asked."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
import requests

from routing import pool, tenants
from routing.clock import US, now_us
from routing.errors import InvalidInput, NotFound, RateLimited, Unauthenticated
from routing.sessions import lifecycle
from tests.conftest import changed, make_tenant, serving
from tests.sessions_helpers import credential

LIMIT, WINDOW = 3, 60  # one request every 20 s once the burst of 3 is spent
FIRST, SECOND = "+14155551234", "+14155554321"
PARTIES = {"first_party": FIRST, "second_party": SECOND}
CLOUDTALK = {"driver_phone": FIRST, "customer_phone": SECOND}


@pytest.fixture
def app_config():
    return {"MASQ_RATE_LIMIT": LIMIT, "MASQ_RATE_WINDOW": WINDOW}


@pytest.fixture
def commands(store, monkeypatch) -> list[str]:
    """Record the name of every command the store sends (a script is one EVALSHA: one round trip)."""
    sent: list[str] = []
    send = store.redis.execute_command

    def counting(*args, **options):
        sent.append(str(args[0]))
        return send(*args, **options)

    monkeypatch.setattr(store.redis, "execute_command", counting)
    return sent


def limited(tenant, token: str | None = None) -> tenants.Credential:
    return tenants.basic_credential(tenant.auth_id, token or tenant.auth_token, LIMIT, WINDOW)


def free_numbers(store, tenant) -> int:
    return int(store.redis.scard(store.keys.free(tenant.auth_id, "US")))


def open_count(store, tenant) -> int:
    return int(store.redis.zcard(store.keys.sessions_by_created(tenant.auth_id)))


def spent_nothing(store, tenant) -> bool:
    return not store.redis.exists(store.keys.rate_limit(tenant.auth_id)) and (
        free_numbers(store, tenant),
        open_count(store, tenant),
    ) == (len(tenant.numbers), 0)


def assert_error(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) - {"field"} == {"api_id", "error"}
    return str(body["error"])


def access_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"masq.access"' in line]


# -- the domain ----------------------------------------------------------------------------------------------
def test_a_session_opens_in_one_round_trip(store, tenant, commands):
    lifecycle.open_session(store, credential(tenant), PARTIES, now_us())  # the first loads the script
    commands.clear()

    session = lifecycle.open_session(store, credential(tenant), PARTIES, now_us())

    assert commands == ["EVALSHA"]
    assert lifecycle.get_session(store, tenant.auth_id, session.session_uuid) == session
    assert session.virtual_number in tenant.numbers


def test_a_request_that_does_not_check_out_is_refused_reading_nothing(store, tenant, commands):
    with pytest.raises(InvalidInput):
        lifecycle.open_session(store, limited(tenant), {"first_party": "nope"}, now_us())
    with pytest.raises(InvalidInput):
        lifecycle.open_session(store, limited(tenant), PARTIES, now_us(), wanted_number="the nice one")

    assert commands == []


@pytest.mark.parametrize("fields", [{}, {"subaccount": "SA" + "Z" * 18}], ids=["plain", "naming a subaccount"])
def test_a_wrong_credential_opens_nothing_and_spends_nothing(store, tenant, fields):
    for wrong in (limited(tenant, changed(tenant.auth_token)), tenants.basic_credential("nope", tenant.auth_token)):
        with pytest.raises(Unauthenticated, match="wrong auth_id or auth_token"):
            lifecycle.open_session(store, wrong, {**PARTIES, **fields}, now_us())

    assert spent_nothing(store, tenant)


def test_over_the_limit_the_create_is_rate_limited_and_takes_no_number(store, tenant):
    now = now_us()
    opened = [lifecycle.open_session(store, limited(tenant), PARTIES, now) for _ in range(LIMIT)]
    tat = store.redis.get(store.keys.rate_limit(tenant.auth_id))

    with pytest.raises(RateLimited) as refused:
        lifecycle.open_session(store, limited(tenant), PARTIES, now)

    assert refused.value.retry_after == 20
    assert store.redis.get(store.keys.rate_limit(tenant.auth_id)) == tat  # a refused request counts nothing
    assert open_count(store, tenant) == len(opened) == LIMIT


def test_a_credential_without_a_tenant_record_is_not_found_and_spends_nothing(store):
    auth_id = "MA" + "Y" * 18
    store.redis.hset(store.keys.tenant(auth_id), "auth_token", "t" * 40)

    with pytest.raises(NotFound):
        lifecycle.open_session(store, tenants.basic_credential(auth_id, "t" * 40, LIMIT, WINDOW), PARTIES, now_us())
    assert not store.redis.exists(store.keys.rate_limit(auth_id))


def test_a_subaccount_is_checked_after_who_asks_and_counted_once(store, tenant, commands):
    sub = tenants.create_tenant(store, "support", now_us(), parent=tenant.auth_id)
    pool.add_numbers(store, sub.auth_id, ["+14155550110", "+14155550111"], now_us())
    stranger = tenants.create_tenant(store, "globex", now_us())
    theirs = tenants.create_tenant(store, "globex support", now_us(), parent=stranger.auth_id)
    lifecycle.open_session(store, limited(tenant), {**PARTIES, "subaccount": sub.auth_id}, now_us())  # loads scripts
    commands.clear()

    mine = lifecycle.open_session(store, limited(tenant), {**PARTIES, "subaccount": sub.auth_id}, now_us())
    # who asks (uncounted), the subaccount, the parent's count and note, the open in the subaccount
    assert commands == ["EVALSHA", "HMGET", "EVALSHA", "EVALSHA"]
    with pytest.raises(InvalidInput, match="not a subaccount"):
        lifecycle.open_session(store, limited(tenant), {**PARTIES, "subaccount": theirs.auth_id}, now_us())

    assert (mine.subaccount, mine.auth_id) == (sub.auth_id, sub.auth_id)
    assert mine.virtual_number in ("+14155550110", "+14155550111")
    with pytest.raises(RateLimited):  # two opens counted; the refused one was not
        [lifecycle.open_session(store, limited(tenant), PARTIES, now_us()) for _ in range(2)]


# -- over HTTP: both dialects --------------------------------------------------------------------------------------
def test_a_plivo_create_is_one_round_trip_and_is_logged_with_its_account(client, store, tenant, commands, capsys):
    client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)  # the first loads the script
    commands.clear()
    capsys.readouterr()

    response = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES, headers={"X-Request-Id": "lb-9"})

    assert response.status_code == 200 and response.get_json()["message"] == "Session created"
    assert commands == ["EVALSHA"]
    assert response.headers["X-Request-Id"] == "lb-9"
    [line] = access_lines(capsys)
    assert (line["status"], line["request_id"], line["auth_id"]) == (200, "lb-9", tenant.auth_id)
    created = response.get_json()
    kept = lifecycle.get_session(store, tenant.auth_id, created["session_uuid"])
    assert kept.virtual_number == created["virtual_number"] == "+" + created["session"]["virtual_number"]


def test_a_cloudtalk_create_is_one_round_trip_too(client, tenant, commands):
    headers = {"X-API-Key": tenant.api_key}
    client.post("/v1/sessions", json=CLOUDTALK, headers=headers)
    commands.clear()

    response = client.post("/v1/sessions", json=CLOUDTALK, headers=headers)

    assert response.status_code == 201 and response.headers["Location"].endswith(response.get_json()["id"])
    assert commands == ["EVALSHA"]


def as_sent(body) -> dict:
    """Return the test client's arguments that send `body`: JSON, or a string as it is, labelled JSON."""
    return {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}


@pytest.mark.parametrize("body", ["valid", {"first_party": "nope"}, {"unknown": 1}, [PARTIES], "not json"])
def test_a_wrong_credential_is_a_401_whatever_the_body_and_spends_nothing(client, store, tenant, body):
    kwargs, cloudtalk = (as_sent(PARTIES), as_sent(CLOUDTALK)) if body == "valid" else (as_sent(body), as_sent(body))

    for _ in range(LIMIT + 2):
        response = client.post(tenant.plivo_base, auth=(tenant.auth_id, changed(tenant.auth_token)), **kwargs)
        assert "wrong auth_id or auth_token" in assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        keyed = client.post("/v1/sessions", headers={"X-API-Key": tenant.api_key + "x"}, **cloudtalk)
        assert "X-API-Key" in assert_error(keyed, 401)

    assert spent_nothing(store, tenant)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no auth", 401),
        ("bearer", 401),
        ("bad base64", 401),
        ("not json", 400),
        ("json list", 400),
        ("bad field", 400),
        ("form body", 200),
        ("subaccount", 200),
    ],
)
def test_every_kind_of_plivo_create_gets_its_answer(client, store, tenant, case, status):
    sub = tenants.create_tenant(store, "sub", now_us(), parent=tenant.auth_id).auth_id
    pool.add_numbers(store, sub, ["+14155550110"], now_us())
    headers = {"no auth": {}, "bearer": {"Authorization": "Bearer x"}, "bad base64": {"Authorization": "Basic %%%"}}
    kwargs: dict = {"headers": headers[case]} if case in headers else {"auth": tenant.basic}
    kwargs.update(
        {
            "not json": {"data": "{", "content_type": "application/json"},
            "json list": {"json": [PARTIES]},
            "bad field": {"json": {**PARTIES, "ring_timeout": "soon"}},
            "form body": {"data": PARTIES},
            "subaccount": {"json": {**PARTIES, "subaccount": sub}},
        }.get(case, {"json": PARTIES})
    )

    response = client.post(tenant.plivo_base, **kwargs)

    assert response.status_code == status, response.get_json()


def test_a_body_too_large_from_a_stranger_is_a_401(make_app, store, tenant):
    client = make_app(MAX_CONTENT_LENGTH=100).test_client()
    padded = {**PARTIES, "pad": "a" * 200}

    assert_error(client.post(tenant.plivo_base, auth=(tenant.auth_id, changed(tenant.auth_token)), json=padded), 401)
    assert_error(client.post("/v1/sessions", headers={"X-API-Key": tenant.api_key + "x"}, json=padded), 401)
    assert_error(client.post(tenant.plivo_base, auth=tenant.basic, json=padded), 413)


def test_an_unknown_account_or_another_accounts_path_is_a_401(client, store, tenant):
    other = make_tenant(store, ["+14155550190"], name="other")

    unknown = client.post(
        "/v1/Account/MAZZZZZZZZZZZZZZZZZZ/Masking/Session/", auth=("MAZZZZZZZZZZZZZZZZZZ", "x" * 40), json=PARTIES
    )
    elsewhere = client.post(other.plivo_base, auth=tenant.basic, json=PARTIES)
    wrong_elsewhere = client.post(other.plivo_base, auth=(tenant.auth_id, changed(tenant.auth_token)), json=PARTIES)
    malformed = client.post("/v1/Account/nope/Masking/Session/", auth=("nope", tenant.auth_token), json=PARTIES)

    assert "wrong auth_id or auth_token" in assert_error(unknown, 401)
    assert "does not match the credentials" in assert_error(elsewhere, 401)
    assert "wrong auth_id or auth_token" in assert_error(wrong_elsewhere, 401)  # wrong credentials are told first
    assert "wrong auth_id or auth_token" in assert_error(malformed, 401)
    assert open_count(store, other) == 0


def test_credentials_without_an_account_record_are_a_404(client, store):
    auth_id = "MA" + "Y" * 18
    store.redis.hset(store.keys.tenant(auth_id), "auth_token", "t" * 40)

    response = client.post(f"/v1/Account/{auth_id}/Masking/Session/", auth=(auth_id, "t" * 40), json=PARTIES)

    assert_error(response, 404)
    assert not store.redis.exists(store.keys.rate_limit(auth_id))


# -- the rate limit over HTTP -----------------------------------------------------------------------------------------
def test_over_the_limit_a_create_is_a_429_with_retry_after_and_takes_no_number(client, store, tenant):
    numbers = [client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES).status_code for _ in range(2)]
    client.get(tenant.plivo_base, auth=tenant.basic)
    tat = store.redis.get(store.keys.rate_limit(tenant.auth_id))

    response = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)
    keyed = client.post("/v1/sessions", json=CLOUDTALK, headers={"X-API-Key": tenant.api_key})

    assert numbers == [200, 200]
    assert "too many requests" in assert_error(response, 429) and "too many requests" in assert_error(keyed, 429)
    assert response.headers["Retry-After"] == keyed.headers["Retry-After"] == "20"
    assert (free_numbers(store, tenant), open_count(store, tenant)) == (len(tenant.numbers) - 2, 2)
    assert store.redis.get(store.keys.rate_limit(tenant.auth_id)) == tat


@pytest.mark.parametrize(("body", "status"), [({"first_party": "nope"}, 400), (PARTIES, 409), ("{", 400)])
def test_a_create_that_fails_still_counts(client, store, tenant, body, status):
    if status == 409:
        store.redis.delete(store.keys.free(tenant.auth_id, "US"))  # every number taken
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}

    answers = [client.post(tenant.plivo_base, auth=tenant.basic, **kwargs).status_code for _ in range(LIMIT + 1)]

    assert answers == [status] * LIMIT + [429]


def test_a_bad_create_over_the_limit_is_told_about_the_limit_first(client, tenant):
    for _ in range(LIMIT):
        client.get(tenant.plivo_base, auth=tenant.basic)

    assert_error(client.post(tenant.plivo_base, auth=tenant.basic, json={"first_party": "nope"}), 429)
    assert_error(client.post("/v1/sessions", json={"driver_phone": "nope"}, headers={"X-API-Key": tenant.api_key}), 429)


def test_refused_and_failed_creates_are_logged_with_the_account(client, store, tenant, capsys):
    store.redis.delete(store.keys.free(tenant.auth_id, "US"))
    capsys.readouterr()

    statuses = [client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES).status_code for _ in range(LIMIT + 1)]
    client.post(tenant.plivo_base, auth=(tenant.auth_id, changed(tenant.auth_token)), json=PARTIES)

    access = access_lines(capsys)
    assert statuses == [409] * LIMIT + [429]
    assert [(line["status"], line.get("auth_id")) for line in access] == [(s, tenant.auth_id) for s in statuses] + [
        (401, None)
    ]


# -- failures inside masq ----------------------------------------------------------------------------------------
def test_redis_down_is_a_logged_503_never_a_500(client, store, tenant, monkeypatch, capsys):
    def down(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(store.redis, "execute_command", down)
    capsys.readouterr()

    response = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)

    assert_error(response, 503)
    logged = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    assert any(line["message"] == f"unexpected error on POST {tenant.plivo_base}" and "exc" in line for line in logged)


def test_a_failure_after_the_script_is_a_503_not_a_500(client, tenant, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(lifecycle.Opening, "opened", broken)
    capsys.readouterr()

    assert_error(client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES), 503)
    assert "unexpected error on POST" in capsys.readouterr().err


# -- on the real Redis (its Lua is not fakeredis's) --------------------------------------------------------------
@pytest.fixture
def served(real_store) -> Iterator[str]:
    with serving(real_store, MASQ_RATE_LIMIT=LIMIT, MASQ_RATE_WINDOW=WINDOW) as url:
        yield url


def test_creates_over_real_http_on_the_real_redis(served, real_store):
    tenant = make_tenant(real_store, ["+14155550100", "+14155550101"])
    url = served + tenant.plivo_base
    with requests.Session() as http:
        wrong = http.post(url, auth=(tenant.auth_id, changed(tenant.auth_token)), json=PARTIES, timeout=10)
        answers = [http.post(url, auth=tenant.basic, json=PARTIES, timeout=10) for _ in range(LIMIT + 1)]

    assert wrong.status_code == 401
    assert [a.status_code for a in answers] == [200, 200, 409, 429]
    assert {a.json()["virtual_number"] for a in answers[:2]} == set(tenant.numbers)
    assert answers[-1].headers["Retry-After"] == "20"
    until = int(real_store.redis.get(real_store.keys.rate_limit(tenant.auth_id)))
    assert now_us() < until <= now_us() + 3 * 20 * US
