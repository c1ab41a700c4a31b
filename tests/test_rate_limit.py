"""Per-tenant rate limits on the REST APIs, and the largest body masq reads."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import plivo
import pytest
import requests
from plivo import exceptions
from plivo.rest import client as plivo_client

from routing import tenants
from routing.clock import US, now_us
from routing.errors import RateLimited
from routing.rate_limit import ADMITTED, Admission
from routing.sessions import lifecycle
from tests.conftest import make_tenant, serving
from tests.sessions_helpers import credential
from tests.twilio_helpers import call, inbound_fields, new_sid, post, xml

LIMIT, WINDOW = 3, 60  # one request every 20 s once the burst of 3 is spent
FIRST, SECOND = "+14155551234", "+14155554321"


# -- the limiter ---------------------------------------------------------------------------------------------
def admit(store, tenant, now, limit, window):
    """Return whether the limiter admits one request of `tenant`, checked as the REST APIs check it."""
    try:
        tenants.admit(store, tenants.basic_credential(tenant.auth_id, tenant.auth_token, limit, window), now)
    except RateLimited as refused:
        return Admission(False, refused.retry_after)
    return ADMITTED


def test_a_tenant_gets_its_limit_then_is_told_when_the_next_request_passes(store, tenant):
    now = now_us()

    answers = [admit(store, tenant, now, LIMIT, WINDOW) for _ in range(LIMIT + 2)]

    assert answers == [ADMITTED] * LIMIT + [Admission(False, WINDOW // LIMIT)] * 2


def test_a_refused_request_passes_once_its_retry_after_has_passed(store, tenant):
    now = now_us()
    for _ in range(LIMIT + 5):  # refused requests cost nothing: retrying early does not push the tenant back
        admit(store, tenant, now, LIMIT, WINDOW)

    assert admit(store, tenant, now + 20 * US - 1, LIMIT, WINDOW) == Admission(False, 1)
    assert admit(store, tenant, now + 20 * US, LIMIT, WINDOW) == ADMITTED
    assert admit(store, tenant, now + 20 * US, LIMIT, WINDOW) == Admission(False, 20)


def test_a_tenant_has_its_whole_limit_again_after_a_quiet_window(store, tenant):
    now = now_us()
    for _ in range(LIMIT + 1):
        admit(store, tenant, now, LIMIT, WINDOW)
    later = now + WINDOW * US

    answers = [admit(store, tenant, later, LIMIT, WINDOW) for _ in range(LIMIT + 1)]

    assert answers == [ADMITTED] * LIMIT + [Admission(False, 20)]


def admit_while_time_stands_still(store, tenant, now, limit, window):
    """`admit`, keeping the limiter's key from expiring: this test's clock stands still while Redis's runs. (The
    key lives one request's interval after the first request, so each case below has an interval of 0.5 s or
    more: a key of a few milliseconds could expire, on a busy machine, before it is kept.)"""
    answer = admit(store, tenant, now, limit, window)
    store.redis.persist(store.keys.rate_limit(tenant.auth_id))
    return answer


@pytest.mark.parametrize(("limit", "window", "retry_after"), [(2, 1.5, 1), (1, 0.5, 1), (2, 5, 3), (1, 3600, 3600)])
def test_retry_after_is_in_whole_seconds_and_at_least_one(store, tenant, limit, window, retry_after):
    now = now_us()
    for _ in range(limit):
        assert admit_while_time_stands_still(store, tenant, now, limit, window).allowed

    assert admit_while_time_stands_still(store, tenant, now, limit, window) == Admission(False, retry_after)


def test_tenants_are_limited_apart(store, tenant):
    other = make_tenant(store, ["+14155550190"], name="other")
    now = now_us()
    for _ in range(LIMIT + 1):
        admit(store, tenant, now, LIMIT, WINDOW)

    assert [admit(store, other, now, LIMIT, WINDOW) for _ in range(LIMIT)] == [ADMITTED] * LIMIT
    assert not admit(store, tenant, now, LIMIT, WINDOW).allowed


@pytest.mark.parametrize(("limit", "window"), [(0, 1), (-1, 1), (5, 0)])
def test_a_limit_of_zero_admits_everything_and_writes_nothing(store, tenant, limit, window):
    now = now_us()

    assert all(admit(store, tenant, now, limit, window).allowed for _ in range(500))
    assert not store.redis.exists(store.keys.rate_limit(tenant.auth_id))


def test_the_state_is_one_tenant_key_that_expires_when_the_burst_is_whole_again(store, tenant):
    now = now_us()
    admit(store, tenant, now, LIMIT, WINDOW)

    key = store.keys.rate_limit(tenant.auth_id)
    assert key.startswith(store.keys.tenant_base(tenant.auth_id))
    assert int(store.redis.get(key)) == now + 20 * US
    assert 19_000 <= store.redis.pttl(key) <= 20_001


def test_racing_requests_on_a_real_redis_get_exactly_the_limit(real_store):
    tenant = make_tenant(real_store)
    now, limit = now_us(), 50
    start = threading.Event()

    def one(_: int) -> bool:
        start.wait(timeout=10)
        return admit(real_store, tenant, now, limit, WINDOW).allowed

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(one, i) for i in range(200)]
        start.set()
        admitted = [f.result(timeout=30) for f in futures]

    assert admitted.count(True) == limit
    assert admit(real_store, tenant, now + WINDOW * US, limit, WINDOW) == ADMITTED


# -- over HTTP -----------------------------------------------------------------------------------------------
@pytest.fixture
def app_config():
    return {"MASQ_RATE_LIMIT": LIMIT, "MASQ_RATE_WINDOW": WINDOW}


def assert_too_many(response, retry_after: str = "20") -> None:
    assert response.status_code == 429
    assert response.headers["Retry-After"] == retry_after
    body = response.get_json()
    assert set(body) == {"api_id", "error"}
    assert "too many requests" in body["error"]


def test_the_plivo_dialect_answers_429_with_retry_after_once_the_tenant_is_over(client, tenant):
    answers = [client.get(tenant.plivo_base, auth=tenant.basic) for _ in range(LIMIT + 1)]

    assert [r.status_code for r in answers[:LIMIT]] == [200] * LIMIT
    assert_too_many(answers[LIMIT])


def test_the_cloudtalk_dialect_answers_429_with_retry_after_once_the_tenant_is_over(client, tenant):
    headers = {"X-API-Key": tenant.api_key}

    answers = [client.get("/v1/did/assignments", headers=headers) for _ in range(LIMIT + 1)]

    assert [r.status_code for r in answers[:LIMIT]] == [200] * LIMIT
    assert_too_many(answers[LIMIT])


def test_both_dialects_draw_on_one_limit_per_tenant(client, tenant):
    client.get(tenant.plivo_base, auth=tenant.basic)
    client.get("/v1/did/assignments", headers={"X-API-Key": tenant.api_key})
    client.get(tenant.plivo_base, auth=tenant.basic)

    assert_too_many(client.get("/v1/did/assignments", headers={"X-API-Key": tenant.api_key}))


def test_every_kind_of_request_counts_even_one_that_fails(client, tenant):
    client.post(tenant.plivo_base, auth=tenant.basic, json={"first_party": "nope"})
    client.get(f"{tenant.plivo_base}no-such-session/", auth=tenant.basic)
    client.delete(f"{tenant.plivo_base}no-such-session/", auth=tenant.basic)

    assert_too_many(client.post(tenant.plivo_base, auth=tenant.basic, json={"first_party": FIRST}))


def test_a_tenant_over_its_limit_leaves_others_alone(client, store, tenant):
    other = make_tenant(store, ["+14155550190"], name="other")
    for _ in range(LIMIT + 1):
        client.get(tenant.plivo_base, auth=tenant.basic)

    assert client.get(other.plivo_base, auth=other.basic).status_code == 200
    assert client.get("/v1/did/assignments", headers={"X-API-Key": other.api_key}).status_code == 200


def test_authentication_comes_first_and_failed_attempts_do_not_spend_the_tenants_limit(client, tenant):
    for _ in range(LIMIT + 2):
        assert client.get(tenant.plivo_base, auth=(tenant.auth_id, "wrong")).status_code == 401
        assert client.get("/v1/did/assignments", headers={"X-API-Key": "mk_nope_nope"}).status_code == 401

    assert client.get(tenant.plivo_base, auth=tenant.basic).status_code == 200


def test_a_limit_of_zero_turns_the_limiter_off(make_app, store, tenant):
    client = make_app(MASQ_RATE_LIMIT=0).test_client()

    assert {client.get(tenant.plivo_base, auth=tenant.basic).status_code for _ in range(150)} == {200}
    assert not store.redis.exists(store.keys.rate_limit(tenant.auth_id))


def test_the_limit_is_read_from_the_environment(monkeypatch, make_app, tenant):
    monkeypatch.setenv("MASQ_RATE_LIMIT", "2")
    monkeypatch.setenv("MASQ_RATE_WINDOW", "10")
    client = make_app().test_client()

    answers = [client.get(tenant.plivo_base, auth=tenant.basic).status_code for _ in range(3)]

    assert answers == [200, 200, 429]


def test_the_default_is_100_requests_a_second(monkeypatch):
    from routing.settings import from_environment

    monkeypatch.delenv("MASQ_RATE_LIMIT")
    monkeypatch.delenv("MASQ_RATE_WINDOW", raising=False)

    assert (from_environment()["MASQ_RATE_LIMIT"], from_environment()["MASQ_RATE_WINDOW"]) == (100, 1)


def test_carrier_webhooks_are_never_limited_and_do_not_spend_the_tenants_limit(client, store, tenant):
    session = lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND}, now_us()
    )
    for _ in range(3 * LIMIT):
        sid = new_sid()
        assert xml(call(client, FIRST, session.virtual_number, sid)).find("Dial") is not None
        dial_done = f"/voice/dial-complete?t={tenant.auth_id}&c={sid}"
        assert post(client, dial_done, {"CallSid": sid, "DialCallStatus": "no-answer"}).status_code == 200

    answers = [client.get(tenant.plivo_base, auth=tenant.basic).status_code for _ in range(LIMIT)]
    assert answers == [200] * LIMIT


# -- the Plivo SDK and real HTTP, on the real Redis --------------------------------------------------------------
@pytest.fixture
def limited_server(real_store) -> Iterator[str]:
    """masq with a limit of LIMIT per WINDOW, served over real HTTP on the real Redis; yields its base URL."""
    with serving(real_store, MASQ_RATE_LIMIT=LIMIT, MASQ_RATE_WINDOW=WINDOW) as url:
        yield url


def test_the_plivo_sdk_is_refused_with_a_429_once_over_the_limit(limited_server, real_store, monkeypatch):
    for name in (
        "PLIVO_API_BASE_URI",
        "API_VOICE_BASE_URI",
        "API_VOICE_BASE_URI_FALLBACK_1",
        "API_VOICE_BASE_URI_FALLBACK_2",
    ):
        monkeypatch.setattr(plivo_client, name, f"{limited_server}/v1/Account")
    tenant = make_tenant(real_store)
    with plivo.RestClient(tenant.auth_id, tenant.auth_token) as sdk:
        for _ in range(LIMIT):
            sdk.masking_sessions.list_masking_session()
        with pytest.raises(exceptions.PlivoRestError, match="429"):
            sdk.masking_sessions.list_masking_session()

    with requests.get(f"{limited_server}{tenant.plivo_base}", auth=tenant.basic, timeout=10) as response:
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "20"
        assert response.headers["Content-Type"] == "application/json"
        assert set(response.json()) == {"api_id", "error"}


def test_the_api_key_is_refused_with_a_429_over_real_http(limited_server, real_store):
    tenant = make_tenant(real_store)
    headers = {"X-API-Key": tenant.api_key}
    with requests.Session() as http:
        answers = [
            http.get(f"{limited_server}/v1/did/assignments", headers=headers, timeout=10) for _ in range(LIMIT + 1)
        ]

    assert [r.status_code for r in answers] == [200] * LIMIT + [429]
    assert answers[-1].headers["Retry-After"] == "20"
    assert json.loads(answers[-1].text)["error"].startswith("too many requests")


# -- the largest body ------------------------------------------------------------------------------------------
SMALL = 1024


@pytest.fixture
def small_bodies(make_app):
    return make_app(MAX_CONTENT_LENGTH=SMALL).test_client()


def assert_too_large(response) -> None:
    assert response.status_code == 413
    assert response.mimetype == "application/json"
    assert set(response.get_json()) == {"api_id", "error"}


@pytest.mark.parametrize("how", ["json", "form"])
def test_a_body_too_large_for_the_plivo_dialect_is_a_413_in_json(small_bodies, tenant, how):
    fields = {"first_party": FIRST, "second_party": SECOND, "callback_url": "https://x.example.com/" + "a" * SMALL}

    response = small_bodies.post(tenant.plivo_base, auth=tenant.basic, **{how if how == "json" else "data": fields})

    assert_too_large(response)


def test_a_body_too_large_for_the_cloudtalk_dialect_is_a_413_in_json(small_bodies, tenant):
    response = small_bodies.post(
        "/v1/sessions",
        headers={"X-API-Key": tenant.api_key},
        json={"driver_phone": FIRST, "customer_phone": SECOND, "pad": "a" * SMALL},
    )

    assert_too_large(response)


@pytest.mark.parametrize("step", ["/voice/inbound", "/voice/leg-status?t=MA00000000000000000000&c=CA0"])
def test_a_carrier_webhook_too_large_is_a_413_not_a_500(small_bodies, step):
    fields = {**inbound_fields(FIRST, "+14155550100"), "Pad": "a" * SMALL}

    assert_too_large(post(small_bodies, step, fields))


def test_the_default_largest_body_is_64_kib(make_app, tenant):
    client = make_app().test_client()
    fields = {"first_party": FIRST, "second_party": SECOND}

    assert_too_large(client.post(tenant.plivo_base, auth=tenant.basic, json={**fields, "pad": "a" * 65536}))
    assert client.post(tenant.plivo_base, auth=tenant.basic, json=fields).status_code == 200
