"""The Plivo create in one round trip: credentials, rate limit and DID together, and every answer as before."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from app import create_app
from routing import tenants
from routing.clock import US, now_us
from routing.rate_limit import ADMITTED, Admission
from routing.sessions import lifecycle
from tests.conftest import make_tenant, serving

LIMIT, WINDOW = 3, 60  # one request every 20 s once the burst of 3 is spent
FIRST, SECOND = "+14155551234", "+14155554321"
PARTIES = {"first_party": FIRST, "second_party": SECOND}


@pytest.fixture
def app(store):
    return create_app({"STORE": store, "TESTING": True, "MASQ_RATE_LIMIT": LIMIT, "MASQ_RATE_WINDOW": WINDOW})


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


def free_numbers(store, tenant) -> int:
    return int(store.redis.scard(store.keys.free(tenant.auth_id, "US")))


def open_count(store, tenant) -> int:
    return int(store.redis.zcard(store.keys.sessions_by_created(tenant.auth_id)))


def assert_error(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) - {"field"} == {"api_id", "error"}
    return str(body["error"])


# -- one round trip --------------------------------------------------------------------------------------
def test_a_create_is_one_round_trip(client, store, tenant, commands):
    client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)  # the first loads the script
    commands.clear()

    response = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)

    assert response.status_code == 200
    assert response.get_json()["message"] == "Session created"
    assert commands == ["EVALSHA"]


def test_the_session_opened_in_one_step_is_the_one_the_domain_opens(client, store, tenant):
    created = client.post(tenant.plivo_base, auth=tenant.basic, json={**PARTIES, "record": True}).get_json()

    kept = lifecycle.get_session(store, tenant.auth_id, created["session_uuid"])
    assert (kept.virtual_number, kept.first_party, kept.second_party, kept.record) == (
        created["virtual_number"],
        FIRST,
        SECOND,
        True,
    )
    assert created["session"]["created_time"] == created["session"]["modified_time"]


# -- who asks comes first ----------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [PARTIES, {"first_party": "nope"}, {"unknown": 1}, "not json"])
def test_a_wrong_token_is_a_401_whatever_the_body_and_spends_nothing(client, store, tenant, body):
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}

    for _ in range(LIMIT + 2):
        response = client.post(tenant.plivo_base, auth=(tenant.auth_id, tenant.auth_token[:-1] + "x"), **kwargs)
        assert "wrong auth_id or auth_token" in assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Basic")

    assert not store.redis.exists(store.keys.rate_limit(tenant.auth_id))
    assert (free_numbers(store, tenant), open_count(store, tenant)) == (len(tenant.numbers), 0)


def test_a_body_too_large_from_a_stranger_is_a_401(store, tenant):
    client = create_app({"STORE": store, "TESTING": True, "MAX_CONTENT_LENGTH": 100}).test_client()

    response = client.post(tenant.plivo_base, auth=(tenant.auth_id, "x" * 40), json={**PARTIES, "pad": "a" * 200})

    assert_error(response, 401)


def test_an_unknown_account_or_another_accounts_path_is_a_401_as_before(client, store, tenant):
    other = make_tenant(store, ["+14155550190"], name="other")

    unknown = client.post(
        "/v1/Account/MAZZZZZZZZZZZZZZZZZZ/Masking/Session/", auth=("MAZZZZZZZZZZZZZZZZZZ", "x" * 40), json=PARTIES
    )
    elsewhere = client.post(other.plivo_base, auth=tenant.basic, json=PARTIES)
    malformed = client.post("/v1/Account/nope/Masking/Session/", auth=("nope", tenant.auth_token), json=PARTIES)

    assert "wrong auth_id or auth_token" in assert_error(unknown, 401)
    assert "does not match the credentials" in assert_error(elsewhere, 401)
    assert "wrong auth_id or auth_token" in assert_error(malformed, 401)
    assert open_count(store, other) == 0


def test_credentials_without_an_account_record_are_a_404(client, store):
    auth_id = "MA" + "Y" * 18
    store.redis.hset(store.keys.tenant(auth_id), "auth_token", "t" * 40)

    response = client.post(f"/v1/Account/{auth_id}/Masking/Session/", auth=(auth_id, "t" * 40), json=PARTIES)

    assert_error(response, 404)
    assert not store.redis.exists(store.keys.rate_limit(auth_id))


# -- the rate limit --------------------------------------------------------------------------------------
def test_over_the_limit_a_create_is_a_429_and_takes_no_number(client, store, tenant):
    numbers = [client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES).status_code for _ in range(2)]
    client.get(tenant.plivo_base, auth=tenant.basic)

    response = client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)

    assert numbers == [200, 200]
    assert "too many requests" in assert_error(response, 429)
    assert response.headers["Retry-After"] == "20"
    assert (free_numbers(store, tenant), open_count(store, tenant)) == (len(tenant.numbers) - 2, 2)


@pytest.mark.parametrize(("body", "status"), [({"first_party": "nope"}, 400), (PARTIES, 409)])
def test_a_create_that_fails_still_counts(client, store, tenant, body, status):
    if status == 409:
        store.redis.delete(store.keys.free(tenant.auth_id, "US"))  # every number taken

    answers = [client.post(tenant.plivo_base, auth=tenant.basic, json=body).status_code for _ in range(LIMIT + 1)]

    assert answers == [status] * LIMIT + [429]


def test_a_bad_create_over_the_limit_is_told_about_the_limit_first(client, tenant):
    for _ in range(LIMIT):
        client.get(tenant.plivo_base, auth=tenant.basic)

    assert_error(client.post(tenant.plivo_base, auth=tenant.basic, json={"first_party": "nope"}), 429)


def test_refused_and_failed_creates_are_logged_with_the_account(client, store, tenant, capsys):
    store.redis.delete(store.keys.free(tenant.auth_id, "US"))
    capsys.readouterr()

    statuses = [client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES).status_code for _ in range(LIMIT + 1)]

    access = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"masq.access"' in line]
    assert statuses == [409] * LIMIT + [429]
    assert [(line["status"], line["auth_id"]) for line in access] == [(s, tenant.auth_id) for s in statuses]


# -- what goes the way of every request -------------------------------------------------------------------
def test_a_create_for_a_subaccount_checks_the_subaccount(client, store, tenant, commands):
    sub = tenants.create_tenant(store, "support", now_us(), parent=tenant.auth_id)
    stranger = tenants.create_tenant(store, "globex", now_us())
    theirs = tenants.create_tenant(store, "globex support", now_us(), parent=stranger.auth_id)

    client.post(tenant.plivo_base, auth=tenant.basic, json={**PARTIES, "subaccount": sub.auth_id})  # loads scripts
    commands.clear()

    mine = client.post(tenant.plivo_base, auth=tenant.basic, json={**PARTIES, "subaccount": sub.auth_id})
    refused = client.post(tenant.plivo_base, auth=tenant.basic, json={**PARTIES, "subaccount": theirs.auth_id})

    assert mine.status_code == 200
    assert mine.get_json()["session"]["subaccount"] == sub.auth_id
    assert "not a subaccount" in assert_error(refused, 400)
    assert commands.count("EVALSHA") == 3  # each checked and counted, and one session opened


def test_open_session_checked_opens_nothing_for_a_wrong_credential_or_over_the_limit(store, tenant):
    now = now_us()
    wrong = tenants.Credential(tenant.auth_id, "auth_token", "x" * 40, LIMIT, WINDOW)
    right = tenants.Credential(tenant.auth_id, "auth_token", tenant.auth_token, 1, WINDOW)

    assert lifecycle.open_session_checked(store, lifecycle.prepare_session(tenant.auth_id, PARTIES, now), wrong) is None
    first = lifecycle.prepare_session(tenant.auth_id, PARTIES, now)
    _, admitted, placed = lifecycle.open_session_checked(store, first, right)
    _, refused, nothing = lifecycle.open_session_checked(
        store, lifecycle.prepare_session(tenant.auth_id, PARTIES, now), right
    )

    assert (admitted, refused) == (ADMITTED, Admission(False, WINDOW))
    assert "number" not in nothing and "error" not in nothing
    assert first.opened(placed).virtual_number in tenant.numbers
    assert open_count(store, tenant) == 1


# -- on the real Redis (its Lua is not fakeredis's) --------------------------------------------------------------
@pytest.fixture
def served(real_store) -> Iterator[str]:
    with serving(real_store, MASQ_RATE_LIMIT=LIMIT, MASQ_RATE_WINDOW=WINDOW) as url:
        yield url


def test_creates_over_real_http_on_the_real_redis(served, real_store):
    tenant = make_tenant(real_store, ["+14155550100", "+14155550101"])
    url = served + tenant.plivo_base
    with requests.Session() as http:
        wrong = http.post(url, auth=(tenant.auth_id, tenant.auth_token.lower()), json=PARTIES, timeout=10)
        answers = [http.post(url, auth=tenant.basic, json=PARTIES, timeout=10) for _ in range(LIMIT + 1)]

    assert wrong.status_code == 401
    assert [a.status_code for a in answers] == [200, 200, 409, 429]
    assert {a.json()["virtual_number"] for a in answers[:2]} == set(tenant.numbers)
    assert answers[-1].headers["Retry-After"] == "20"
    until = int(real_store.redis.get(real_store.keys.rate_limit(tenant.auth_id)))
    assert now_us() < until <= now_us() + 3 * 20 * US


def test_open_session_checked_refuses_an_opening_for_another_tenant_or_a_subaccount(store, tenant):
    other = make_tenant(store, ["+14155550190"], name="other")
    sub = tenants.create_tenant(store, "support", now_us(), parent=tenant.auth_id)
    credential = tenants.Credential(tenant.auth_id, "auth_token", tenant.auth_token)

    for opening in (
        lifecycle.prepare_session(other.auth_id, PARTIES, now_us()),
        lifecycle.prepare_session(tenant.auth_id, {**PARTIES, "subaccount": sub.auth_id}, now_us()),
    ):
        with pytest.raises(ValueError):
            lifecycle.open_session_checked(store, opening, credential)

    assert open_count(store, tenant) == open_count(store, other) == 0
