from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from routing import pool
from routing.clock import US, now_us
from routing.sessions import lifecycle
from tests.conftest import make_tenant
from tests.sessions_helpers import UNSAFE_URLS, credential

DRIVER = "+14155551234"
CUSTOMER = "+14155554321"
STRANGER = "+14155550199"


def auth(tenant) -> dict[str, str]:
    return {"X-API-Key": tenant.api_key}


def create(client, tenant, **fields):
    """Post a create request for DRIVER and CUSTOMER with `fields` on top."""
    return client.post(
        "/v1/sessions", json={"driver_phone": DRIVER, "customer_phone": CUSTOMER, **fields}, headers=auth(tenant)
    )


def parse_iso(text: str) -> datetime:
    assert text.endswith("Z")
    return datetime.fromisoformat(text)


def open_directly(store, tenant, now: int, **fields):
    """Open a session through the domain, for states this dialect cannot ask for."""
    return lifecycle.open_session(
        store,
        credential(tenant),
        {"first_party": DRIVER, "second_party": CUSTOMER, **fields},
        now,
        wanted_number=tenant.numbers[0],
    )


# -- sessions ---------------------------------------------------------------------------------------------
def test_creating_a_session_answers_201_with_a_number_from_the_pool(client, tenant):
    response = create(client, tenant)

    assert response.status_code == 201
    session = response.get_json()
    assert list(session)[:8] == [
        "id",
        "status",
        "driver_phone",
        "customer_phone",
        "masked_e164",
        "created_at",
        "expires_at",
        "ttl_minutes",
    ]
    assert session["status"] == "active"
    assert session["driver_phone"] == DRIVER
    assert session["customer_phone"] == CUSTOMER
    assert session["masked_e164"] in tenant.numbers
    assert session["ttl_minutes"] == 60
    assert parse_iso(session["expires_at"]) - parse_iso(session["created_at"]) == timedelta(minutes=60)
    assert response.headers["Location"] == f"/v1/sessions/{session['id']}"


def test_ttl_callback_record_and_geomatch_reach_the_domain(client, tenant, store):
    response = create(
        client, tenant, ttl_minutes=30, callback_url="https://hooks.example.com/masq", record=True, geomatch=False
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["ttl_minutes"] == 30
    assert body["callback_url"] == "https://hooks.example.com/masq"
    assert body["record"] is True
    assert body["geomatch"] is False
    kept = lifecycle.get_session(store, tenant.auth_id, body["id"])
    assert kept.expiry - kept.created == 30 * 60 * US
    assert (kept.callback_url, kept.record, kept.geomatch) == ("https://hooks.example.com/masq", True, False)


@pytest.mark.parametrize("ttl", [1, 1440, "45"])
def test_ttl_minutes_within_one_minute_and_one_day_is_accepted(client, tenant, ttl):
    response = create(client, tenant, ttl_minutes=ttl)

    assert response.status_code == 201
    assert response.get_json()["ttl_minutes"] == int(ttl)


def test_a_wanted_masked_number_is_the_one_handed_out(client, tenant):
    response = create(client, tenant, masked_e164=tenant.numbers[2])

    assert response.status_code == 201
    assert response.get_json()["masked_e164"] == tenant.numbers[2]


def test_a_driver_in_a_country_without_numbers_is_told_so_in_this_dialects_words(client, tenant):
    response = create(client, tenant, driver_phone="+4915123456789")

    assert response.status_code == 409
    assert response.get_json()["error"] == (
        "no virtual number in DE: the pool has no number in DE, and geomatch asks for one in driver_phone's country; "
        "add one, or set geomatch to false to take a free number from US"
    )


def test_a_session_reads_back_as_it_was_created(client, tenant):
    created = create(client, tenant).get_json()

    response = client.get(f"/v1/sessions/{created['id']}", headers=auth(tenant))

    assert response.status_code == 200
    assert response.get_json() == created


def test_completing_a_session_ends_it_and_frees_its_number(client, tenant):
    created = create(client, tenant, masked_e164=tenant.numbers[0]).get_json()

    response = client.post(f"/v1/sessions/{created['id']}/complete", headers=auth(tenant))

    assert response.status_code == 200
    completed = response.get_json()
    assert completed["status"] == "completed"
    assert parse_iso(completed["expires_at"]) <= datetime.now(UTC)
    assert client.get(f"/v1/sessions/{created['id']}", headers=auth(tenant)).get_json()["status"] == "completed"
    assert create(client, tenant, masked_e164=tenant.numbers[0]).status_code == 201


def test_completing_a_completed_session_is_a_conflict(client, tenant):
    created = create(client, tenant).get_json()
    client.post(f"/v1/sessions/{created['id']}/complete", headers=auth(tenant))

    response = client.post(f"/v1/sessions/{created['id']}/complete", headers=auth(tenant))

    assert response.status_code == 409
    assert response.get_json()["error"] == f"session {created['id']} is already completed"
    assert client.get(f"/v1/sessions/{created['id']}", headers=auth(tenant)).get_json()["status"] == "completed"


def test_a_session_past_its_ttl_reads_as_expired_and_cannot_be_completed(client, tenant, store):
    session = open_directly(store, tenant, now_us() - 2 * 3600 * US, session_expiry=3600)

    read = client.get(f"/v1/sessions/{session.session_uuid}", headers=auth(tenant))
    completed = client.post(f"/v1/sessions/{session.session_uuid}/complete", headers=auth(tenant))

    assert read.get_json()["status"] == "expired"
    assert read.get_json()["ttl_minutes"] == 60
    assert completed.status_code == 409
    assert completed.get_json()["error"] == f"session {session.session_uuid} is already expired"


def test_complete_takes_no_parameters(client, tenant):
    created = create(client, tenant).get_json()

    response = client.post(f"/v1/sessions/{created['id']}/complete", json={"reason": "done"}, headers=auth(tenant))

    assert response.status_code == 400
    assert response.get_json()["field"] == "reason"


# -- authentication and tenancy ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/v1/sessions"),
        ("get", "/v1/sessions/00000000-0000-4000-8000-000000000000"),
        ("post", "/v1/sessions/00000000-0000-4000-8000-000000000000/complete"),
        ("get", "/v1/did/assignments"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": "mk_MA000000000000000000_nope"},
        {"X-API-Key": "not-a-key"},
    ],
    ids=["missing", "empty", "unknown", "malformed"],
)
def test_a_request_without_a_valid_api_key_is_refused(client, tenant, method, path, headers):
    body = {"json": {"driver_phone": DRIVER, "customer_phone": CUSTOMER}} if method == "post" else {}

    response = getattr(client, method)(path, headers=headers, **body)

    assert response.status_code == 401
    assert "X-API-Key" in response.get_json()["error"]


def test_a_tampered_api_key_of_a_real_tenant_is_refused(client, tenant):
    response = client.get("/v1/did/assignments", headers={"X-API-Key": tenant.api_key + "x"})

    assert response.status_code == 401


@pytest.mark.parametrize("method, suffix", [("get", ""), ("post", "/complete")])
def test_another_tenants_session_is_not_found(client, tenant, store, method, suffix):
    other = make_tenant(store, [STRANGER], name="other")
    session_id = create(client, tenant).get_json()["id"]

    response = getattr(client, method)(f"/v1/sessions/{session_id}{suffix}", headers=auth(other))

    assert response.status_code == 404
    assert client.get(f"/v1/sessions/{session_id}", headers=auth(tenant)).get_json()["status"] == "active"


@pytest.mark.parametrize("session_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid"])
def test_an_unknown_session_is_not_found(client, tenant, session_id):
    assert client.get(f"/v1/sessions/{session_id}", headers=auth(tenant)).status_code == 404
    assert client.post(f"/v1/sessions/{session_id}/complete", headers=auth(tenant)).status_code == 404


# -- conflicts --------------------------------------------------------------------------------------------
def _taken(client, store, tenant) -> str:
    create(client, tenant, masked_e164=tenant.numbers[0])
    return tenant.numbers[0]


def _suspended(client, store, tenant) -> str:
    pool.set_suspended(store, tenant.auth_id, tenant.numbers[1], True, now_us())
    return tenant.numbers[1]


def _cooling(client, store, tenant) -> str:
    session = open_directly(store, tenant, now_us(), virtual_number_cooloff_period=600)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, now_us())
    return tenant.numbers[0]


def _not_in_pool(client, store, tenant) -> str:
    return STRANGER


@pytest.mark.parametrize(
    "arrange, reason",
    [
        (_taken, "already carries an open session"),
        (_suspended, "is suspended"),
        (_cooling, "cooling off"),
        (_not_in_pool, "is not in this account's pool"),
    ],
    ids=["taken", "suspended", "cooling", "not-in-pool"],
)
def test_a_masked_number_that_cannot_be_handed_out_is_a_conflict(client, store, tenant, arrange, reason):
    wanted = arrange(client, store, tenant)

    response = create(client, tenant, masked_e164=wanted)

    assert response.status_code == 409
    assert reason in response.get_json()["error"]


def test_an_exhausted_pool_is_a_conflict(client, tenant):
    for _ in tenant.numbers:
        assert create(client, tenant).status_code == 201

    response = create(client, tenant)

    assert response.status_code == 409
    assert "no free virtual number" in response.get_json()["error"]


# -- bad input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields, field",
    [
        ({"driver_phone": "abc"}, "driver_phone"),
        ({"driver_phone": ""}, "driver_phone"),
        ({"driver_phone": None}, "driver_phone"),
        ({"driver_phone": True}, "driver_phone"),
        ({"customer_phone": "+1"}, "customer_phone"),
        ({"customer_phone": None}, "customer_phone"),
        ({"customer_phone": DRIVER}, "customer_phone"),
        ({"ttl_minutes": 0}, "ttl_minutes"),
        ({"ttl_minutes": 1441}, "ttl_minutes"),
        ({"ttl_minutes": -5}, "ttl_minutes"),
        ({"ttl_minutes": 1.5}, "ttl_minutes"),
        ({"ttl_minutes": "soon"}, "ttl_minutes"),
        ({"ttl_minutes": True}, "ttl_minutes"),
        ({"masked_e164": "nope"}, "masked_e164"),
        ({"callback_url": "ftp://hooks.example.com"}, "callback_url"),
        ({"record": "maybe"}, "record"),
        ({"geomatch": 1}, "geomatch"),
        ({"first_party": DRIVER}, "first_party"),
        ({"session_expiry": 600}, "session_expiry"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_create_input_is_a_400_naming_the_field(client, tenant, fields, field):
    response = create(client, tenant, **fields)

    assert response.status_code == 400
    error = response.get_json()
    assert error["field"] == field
    assert error["error"].startswith(f"{field}: ")
    leaked = {"first_party", "second_party", "virtual_number"} - {field}
    assert not any(name in error["error"] for name in leaked)


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_a_callback_url_parsers_read_differently_or_with_control_characters_is_a_400(client, tenant, url):
    response = create(client, tenant, callback_url=url)

    assert response.status_code == 400
    assert response.get_json()["field"] == "callback_url"
    assert response.get_json()["error"].startswith("callback_url: must")


def test_a_customer_equal_to_the_driver_is_refused_in_this_dialects_words(client, tenant):
    response = create(client, tenant, customer_phone=DRIVER)

    assert response.get_json()["error"] == "customer_phone: must differ from driver_phone"


@pytest.mark.parametrize(
    "data, content_type",
    [
        ("driver_phone=+14155551234", "application/x-www-form-urlencoded"),
        ("hello", "text/plain"),
        ("{not json", "application/json"),
        ('["+14155551234"]', "application/json"),
        ('"+14155551234"', "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400_naming_the_body(client, tenant, data, content_type):
    response = client.post("/v1/sessions", data=data, content_type=content_type, headers=auth(tenant))

    assert response.status_code == 400
    assert response.get_json()["field"] == "body"


def test_an_empty_body_asks_for_the_driver_phone_first(client, tenant):
    response = client.post("/v1/sessions", headers=auth(tenant))

    assert response.status_code == 400
    assert response.get_json()["field"] == "driver_phone"


# -- DID assignments --------------------------------------------------------------------------------------
def assignments(client, tenant, **params) -> list[dict]:
    response = client.get("/v1/did/assignments", query_string=params, headers=auth(tenant))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["assignments"]


def test_assignments_list_the_tenants_active_numbers_by_default(client, tenant):
    held = assignments(client, tenant)

    assert [a["e164"] for a in held] == tenant.numbers
    for item in held:
        assert list(item) == ["id", "e164", "country", "status", "assigned_at", "released_at"]
        assert (item["country"], item["status"], item["released_at"]) == ("US", "active", None)
        parse_iso(item["assigned_at"])


MIXED_STATUSES = ["active", "suspended", "released"]


@pytest.fixture
def mixed_pool(store, tenant):
    """The tenant's pool with number 0 active, number 1 suspended and number 2 released."""
    pool.set_suspended(store, tenant.auth_id, tenant.numbers[1], True, now_us())
    pool.release_number(store, tenant.auth_id, tenant.numbers[2], now_us())
    return tenant


@pytest.mark.parametrize(
    "status, held",
    [
        ("active", [0]),
        ("suspended", [1]),
        ("released", [2]),
        ("all", [0, 1, 2]),
    ],
)
def test_assignments_filter_by_status(client, mixed_pool, status, held):
    listed = assignments(client, mixed_pool, status=status)

    assert [a["e164"] for a in listed] == [mixed_pool.numbers[i] for i in held]
    assert [a["status"] for a in listed] == [MIXED_STATUSES[i] for i in held]


def test_a_released_number_shows_when_and_as_released(client, mixed_pool):
    (released,) = assignments(client, mixed_pool, status="released")

    assert released["e164"] == mixed_pool.numbers[2]
    assert parse_iso(released["released_at"]) >= parse_iso(released["assigned_at"])


@pytest.mark.parametrize(
    "days_from_release, status, held",
    [
        (0, None, [0, 1, 2]),
        (0, "released", [2]),
        (0, "active", [0]),
        (-1, None, []),
        (1, None, [0, 1]),
        (1, "released", []),
    ],
)
def test_assignments_on_a_day_list_what_was_held_that_day(client, mixed_pool, days_from_release, status, held):
    released_on = date.fromisoformat(assignments(client, mixed_pool, status="released")[0]["released_at"][:10])
    params = {"on": (released_on + timedelta(days=days_from_release)).isoformat()}
    if status:
        params["status"] = status

    listed = assignments(client, mixed_pool, **params)

    assert [a["e164"] for a in listed] == [mixed_pool.numbers[i] for i in held]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "gone"}, "status"),
        ({"on": "yesterday"}, "on"),
        ({"on": "2024-13-01"}, "on"),
        ({"country": "US"}, "country"),
        ([("status", "active"), ("status", "released")], "status"),
    ],
)
def test_bad_assignment_queries_are_a_400_naming_the_parameter(client, tenant, params, field):
    response = client.get("/v1/did/assignments", query_string=params, headers=auth(tenant))

    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_assignments_show_only_the_tenants_own_numbers(client, store, tenant):
    other = make_tenant(store, [STRANGER], name="other")

    assert [a["e164"] for a in assignments(client, other, status="all")] == [STRANGER]


# -- over real HTTP, on the real Redis --------------------------------------------------------------------
def test_a_session_is_created_read_and_completed_over_real_http(live_server, real_store):
    tenant = make_tenant(real_store)
    headers = auth(tenant)

    created = requests.post(
        f"{live_server}/v1/sessions",
        headers=headers,
        timeout=10,
        json={"driver_phone": DRIVER, "customer_phone": CUSTOMER, "ttl_minutes": 15},
    )
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["masked_e164"] in tenant.numbers

    read = requests.get(f"{live_server}/v1/sessions/{session['id']}", headers=headers, timeout=10)
    assert read.status_code == 200
    assert read.json() == session

    completed = requests.post(f"{live_server}/v1/sessions/{session['id']}/complete", headers=headers, timeout=10)
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"

    again = requests.post(f"{live_server}/v1/sessions/{session['id']}/complete", headers=headers, timeout=10)
    assert again.status_code == 409
    assert (
        requests.get(f"{live_server}/v1/sessions/{session['id']}", headers=headers, timeout=10).json()["status"]
        == "completed"
    )
