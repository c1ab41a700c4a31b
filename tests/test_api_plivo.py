"""The Plivo dialect through the Flask test client: Plivo's own response fixtures define every shape."""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from routing.clock import US, now_us
from routing.store import Store
from tests.conftest import TenantFixture, changed, make_tenant
from tests.sessions_helpers import UNSAFE_URLS

FIXTURES = Path(os.environ.get("PLIVO_FIXTURES", "/work/shared/plivo-fixtures"))
FIRST = "+14155551234"
SECOND = "+14155554321"
PARTIES = {"first_party": FIRST, "second_party": SECOND}
PLIVO_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{1,6} \+0000 UTC")
TIME_FIELDS = ("created_time", "modified_time", "expiry_time")
META_KEYS = {"limit", "next", "offset", "previous", "total_count"}

# A create request asking for everything Plivo's create fixture shows.
EVERYTHING = {
    **PARTIES,
    "session_expiry": 6000,
    "call_time_limit": 14400,
    "ring_timeout": 120,
    "record": False,
    "record_file_format": "mp3",
    "recording_callback_url": "https://hooks.example.com/recording.xml",
    "recording_callback_method": "GET",
    "callback_url": "https://hooks.example.com/callback.xml",
    "callback_method": "GET",
    "initiate_call_to_first_party": False,
    "first_party_play_url": "https://hooks.example.com/play.xml",
    "second_party_play_url": "https://hooks.example.com/play.xml",
    "is_pin_authentication_required": True,
    "first_party_pin": "1234",
    "second_party_pin": "1235",
    "pin_prompt_play": "https://hooks.example.com/pin_prompt.xml",
    "pin_retry": 2,
    "pin_retry_wait": 5,
    "incorrect_pin_play": "https://hooks.example.com/incorrect.xml",
    "unknown_caller_play": "https://hooks.example.com/unknown.xml",
}


def plivo_fixture(name: str) -> dict[str, Any]:
    """Return Plivo's own fixture `maskingSession{name}Response.json`."""
    return json.loads((FIXTURES / f"maskingSession{name}Response.json").read_text())


def moment(text: str) -> datetime:
    """Return a Plivo timestamp (`2023-07-12 15:52:14.772699 +0000 UTC`) as an aware datetime."""
    assert PLIVO_TIME.fullmatch(text), f"{text!r} is not a Plivo timestamp"
    return datetime.strptime(text.removesuffix(" +0000 UTC"), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def _is_number(value: object) -> bool:
    """Return whether `value` is a JSON number (amounts included: never a string)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_kind(ours: object, theirs: object) -> bool:
    """Return whether `ours` is the kind of value Plivo shows as `theirs`."""
    if theirs is None:
        return True
    if isinstance(theirs, bool):
        return isinstance(ours, bool)
    if isinstance(theirs, int | float):
        return _is_number(ours)
    return isinstance(ours, type(theirs))


def assert_like(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Assert `ours` carries every key of Plivo's object, each holding the same kind of value."""
    missing = set(theirs) - set(ours)
    assert not missing, f"keys Plivo has and masq lacks: {sorted(missing)}"
    for key, example in theirs.items():
        assert _same_kind(ours[key], example), f"{key}: {ours[key]!r} is not like Plivo's {example!r}"
    for key in TIME_FIELDS:
        moment(ours[key])
    for key in ("first_party", "second_party", "virtual_number"):
        assert ours[key].isdigit(), f"{key} {ours[key]!r} should be digits without '+', as Plivo shows parties"


def send(client, method: str, path: str, auth: tuple[str, str] | None = None, **kwargs: Any):
    """Make a request and check what every answer must be: JSON with a uuid `api_id`, and never a 5xx."""
    response = client.open(path, method=method, auth=auth, **kwargs)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    uuid.UUID(response.get_json()["api_id"])
    return response


def create(client, tenant: TenantFixture, **fields: Any):
    """Create a session for FIRST and SECOND with `fields` on top."""
    return send(client, "POST", tenant.plivo_base, tenant.basic, json={**PARTIES, **fields})


def opened(client, tenant: TenantFixture, **fields: Any) -> dict[str, Any]:
    """Create a session that must succeed; return its create answer."""
    response = create(client, tenant, **fields)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def ended(client, tenant: TenantFixture, **fields: Any) -> dict[str, Any]:
    """Create a session and delete it at once; return its create answer."""
    session = opened(client, tenant, **fields)
    assert send(client, "DELETE", tenant.plivo_base + session["session_uuid"] + "/", tenant.basic).status_code == 200
    return session


def assert_error(response, status: int, field: str | None = None) -> str:
    """Assert a Plivo error answer `{"api_id", "error"}` with `status`; return its text."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert {"api_id", "error"} <= set(body)
    assert set(body) - {"api_id", "error"} <= {"field"}
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert body["error"].startswith(f"{field}:"), body["error"]
    return str(body["error"])


def listing(client, tenant: TenantFixture, **params: Any) -> dict[str, Any]:
    """Return the `response` of a listing with `params` in the query string."""
    response = send(client, "GET", tenant.plivo_base, tenant.basic, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["response"]


def uuids(page: dict[str, Any]) -> set[str]:
    return {s["session_uuid"] for s in page["objects"]}


@pytest.fixture
def other(store) -> TenantFixture:
    """A second tenant with pool numbers of its own."""
    return make_tenant(store, ["+14155550110", "+14155550111"], name="globex")


@pytest.fixture
def travel(monkeypatch):
    """Move the API's clock `seconds` ahead of now."""

    def to(seconds: int) -> None:
        later = now_us() + seconds * US
        monkeypatch.setattr(Store, "now_us", lambda self: later)

    return to


# -- shapes -----------------------------------------------------------------------------------------------
def test_the_fixtures_timestamps_have_the_shape_these_tests_expect():
    for name in ("Create", "Get"):
        body = plivo_fixture(name)
        session = body.get("session") or body["response"]
        for key in TIME_FIELDS:
            assert PLIVO_TIME.fullmatch(session[key])


def test_create_answers_like_plivos_create_fixture(client, tenant):
    response = create(client, tenant, **EVERYTHING)

    assert response.status_code in (200, 201)
    body = response.get_json()
    theirs = plivo_fixture("Create")
    assert set(body) == set(theirs)
    assert body["message"] == "Session created"
    assert body["virtual_number"].startswith("+") and body["virtual_number"] in tenant.numbers
    session = body["session"]
    assert_like(session, theirs["session"])
    assert session["session_uuid"] == body["session_uuid"]
    assert session["virtual_number"] == body["virtual_number"].removeprefix("+")
    assert (session["first_party"], session["second_party"]) == ("14155551234", "14155554321")
    assert session["status"] == "active"
    assert session["created_time"] == session["modified_time"]
    assert moment(session["expiry_time"]) - moment(session["created_time"]) == timedelta(seconds=6000)
    assert session["duration"] == 6000
    for key in (
        "first_party_pin",
        "second_party_pin",
        "pin_prompt_play",
        "pin_retry",
        "pin_retry_wait",
        "callback_url",
        "callback_method",
        "recording_callback_method",
        "unknown_caller_play",
    ):
        assert session[key] == EVERYTHING[key], key


def test_a_plain_create_still_has_every_field_of_plivos_get_fixture(client, tenant):
    session = opened(client, tenant)["session"]

    assert_like(session, plivo_fixture("Get")["response"])
    assert session["duration"] == 3600


def test_retrieve_answers_like_plivos_get_fixture(client, tenant):
    created = opened(client, tenant, **EVERYTHING)

    response = send(client, "GET", tenant.plivo_base + created["session_uuid"] + "/", tenant.basic)

    assert response.status_code == 200
    body = response.get_json()
    theirs = plivo_fixture("Get")
    assert set(body) == set(theirs)
    assert_like(body["response"], theirs["response"])
    assert body["response"]["session_uuid"] == created["session_uuid"]
    for key in ("virtual_number", "created_time", "expiry_time", "first_party_pin", "pin_prompt_play"):
        assert body["response"][key] == created["session"][key], key


def test_list_answers_like_plivos_list_fixture(client, tenant):
    created = [opened(client, tenant)["session_uuid"], ended(client, tenant)["session_uuid"]]

    response = send(client, "GET", tenant.plivo_base, tenant.basic)

    assert response.status_code == 200
    body = response.get_json()
    theirs = plivo_fixture("List")
    assert set(body) == set(theirs)
    assert set(body["response"]) == set(theirs["response"])
    meta = body["response"]["meta"]
    assert set(meta) == META_KEYS == set(theirs["response"]["meta"])
    assert meta == {"limit": 20, "next": None, "offset": 0, "previous": None, "total_count": 2}
    objects = body["response"]["objects"]
    assert {s["session_uuid"] for s in objects} == set(created)
    for session in objects:
        assert_like(session, theirs["response"]["objects"][0])
        assert session["resource_uri"] == f"/v1/Account/{tenant.auth_id}/Masking/Session/{session['session_uuid']}/"
    assert {s["status"] for s in objects} == {"active", "expired"}


def test_update_answers_like_plivos_update_fixture_and_counts_the_new_expiry_from_the_update(client, tenant):
    created = opened(client, tenant, session_expiry=6000)["session"]

    response = send(
        client,
        "POST",
        tenant.plivo_base + created["session_uuid"] + "/",
        tenant.basic,
        json={
            "session_uuid": created["session_uuid"],
            "session_expiry": 600,
            "call_time_limit": 14600,
            "record": True,
            "ring_timeout": 45,
        },
    )

    assert response.status_code == 200
    body = response.get_json()
    theirs = plivo_fixture("Update")
    assert set(body) == set(theirs)
    assert body["message"] == "Session updated"
    session = body["session"]
    assert_like(session, theirs["session"])
    assert (session["call_time_limit"], session["record"], session["ring_timeout"]) == (14600, True, 45)
    assert session["created_time"] == created["created_time"]
    assert moment(session["modified_time"]) >= moment(created["modified_time"])
    assert moment(session["expiry_time"]) - moment(session["modified_time"]) == timedelta(seconds=600)
    lifetime = moment(session["expiry_time"]) - moment(session["created_time"])
    assert session["duration"] == lifetime // timedelta(seconds=1)
    again = send(client, "GET", tenant.plivo_base + created["session_uuid"] + "/", tenant.basic).get_json()
    assert {k: again["response"][k] for k in TIME_FIELDS} == {k: session[k] for k in TIME_FIELDS}


def test_delete_answers_like_plivos_delete_fixture_and_expires_the_session(client, tenant):
    created = opened(client, tenant)

    response = send(
        client,
        "DELETE",
        tenant.plivo_base + created["session_uuid"] + "/",
        tenant.basic,
        json={"session_uuid": created["session_uuid"]},
    )

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == set(plivo_fixture("Delete"))
    assert body["message"] == "Session Deleted"
    after = send(client, "GET", tenant.plivo_base + created["session_uuid"] + "/", tenant.basic).get_json()
    assert after["response"]["status"] == "expired"


def test_a_deleted_sessions_number_goes_back_to_the_pool(client, tenant):
    sessions = [opened(client, tenant) for _ in tenant.numbers]
    assert_error(create(client, tenant), 409)

    send(client, "DELETE", tenant.plivo_base + sessions[1]["session_uuid"] + "/", tenant.basic)

    assert opened(client, tenant)["virtual_number"] == sessions[1]["virtual_number"]


# -- how the SDK sends requests ---------------------------------------------------------------------------
def test_a_get_with_a_json_content_type_and_no_body_works(client, tenant):
    created = opened(client, tenant)
    headers = {"Content-Type": "application/json"}

    listed = send(client, "GET", tenant.plivo_base, tenant.basic, headers=headers)
    retrieved = send(client, "GET", tenant.plivo_base + created["session_uuid"] + "/", tenant.basic, headers=headers)

    assert listed.status_code == 200 and listed.get_json()["response"]["meta"]["total_count"] == 1
    assert retrieved.status_code == 200 and retrieved.get_json()["response"]["status"] == "active"


@pytest.mark.parametrize("slash", ["/", ""], ids=["with-slash", "without-slash"])
def test_every_operation_works_with_and_without_the_trailing_slash(client, tenant, slash):
    collection = tenant.plivo_base.rstrip("/") + slash

    created = send(client, "POST", collection, tenant.basic, json=PARTIES)
    one = tenant.plivo_base + created.get_json()["session_uuid"] + slash
    listed = send(client, "GET", collection, tenant.basic)
    retrieved = send(client, "GET", one, tenant.basic)
    updated = send(client, "POST", one, tenant.basic, json={"ring_timeout": 30})
    deleted = send(client, "DELETE", one, tenant.basic)

    assert [r.status_code for r in (listed, retrieved, updated, deleted)] == [200] * 4
    assert created.status_code in (200, 201)
    assert updated.get_json()["session"]["ring_timeout"] == 30
    assert deleted.get_json()["message"] == "Session Deleted"


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_the_session_uuid_echoed_in_the_body_is_accepted(client, tenant, method):
    created = opened(client, tenant)
    body = {"session_uuid": created["session_uuid"]} | ({"ring_timeout": 30} if method == "POST" else {})

    response = send(client, method, tenant.plivo_base + created["session_uuid"] + "/", tenant.basic, json=body)

    assert response.status_code == 200


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_a_session_uuid_in_the_body_that_differs_from_the_url_is_a_400_and_changes_nothing(client, tenant, method):
    created = opened(client, tenant)
    url = tenant.plivo_base + created["session_uuid"] + "/"

    response = send(client, method, url, tenant.basic, json={"session_uuid": str(uuid.uuid4()), "ring_timeout": 30})

    assert_error(response, 400, "session_uuid")
    after = send(client, "GET", url, tenant.basic).get_json()["response"]
    assert (after["status"], after["ring_timeout"], after["modified_time"]) == (
        "active",
        120,
        created["session"]["modified_time"],
    )


@pytest.mark.parametrize("field, value", [("ring_timeout", 30), ("reason", "done")])
def test_a_delete_with_any_field_but_the_session_uuid_is_a_400_naming_it_and_the_session_stays_open(
    client, tenant, field, value
):
    created = opened(client, tenant)
    url = tenant.plivo_base + created["session_uuid"] + "/"

    response = send(client, "DELETE", url, tenant.basic, json={"session_uuid": created["session_uuid"], field: value})

    assert assert_error(response, 400, field).endswith("is not a parameter of this request")
    assert send(client, "GET", url, tenant.basic).get_json()["response"]["status"] == "active"


def test_a_form_encoded_create_is_read_too(client, tenant):
    response = send(
        client,
        "POST",
        tenant.plivo_base,
        tenant.basic,
        data={"first_party": "14155551234", "second_party": "14155554321", "record": "true"},
    )

    assert response.status_code in (200, 201)
    assert response.get_json()["session"]["record"] is True


# -- api_id -----------------------------------------------------------------------------------------------
def test_every_answer_has_its_own_api_id_errors_included(client, tenant):
    created = opened(client, tenant)
    one = tenant.plivo_base + created["session_uuid"] + "/"
    answers = [
        send(client, "GET", tenant.plivo_base, tenant.basic),
        send(client, "GET", one, tenant.basic),
        send(client, "POST", one, tenant.basic, json={"ring_timeout": 30}),
        send(client, "DELETE", one, tenant.basic),
        send(client, "DELETE", one, tenant.basic),
        send(client, "GET", tenant.plivo_base),
        send(client, "GET", tenant.plivo_base + str(uuid.uuid4()) + "/", tenant.basic),
        send(client, "PUT", one, tenant.basic),
        send(client, "POST", tenant.plivo_base, tenant.basic, json={}),
        send(client, "GET", f"/v1/Account/{tenant.auth_id}/Masking/Nothing/", tenant.basic),
    ]

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 409, 401, 404, 405, 400, 404]
    api_ids = [created["api_id"]] + [a.get_json()["api_id"] for a in answers]
    assert len(set(api_ids)) == len(api_ids)
    assert all(list(a.get_json())[0] == "api_id" for a in answers)


# -- 400 --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"first_party": None, "second_party": SECOND}, "first_party"),
        ({"second_party": None}, "second_party"),
        ({"second_party": FIRST}, "second_party"),
        ({"first_party": "not a number"}, "first_party"),
        ({"first_party": [FIRST]}, "first_party"),
        ({"first_party": True}, "first_party"),
        ({"second_party": "+1"}, "second_party"),
        ({"session_expiry": 59}, "session_expiry"),
        ({"session_expiry": 86401}, "session_expiry"),
        ({"session_expiry": "soon"}, "session_expiry"),
        ({"session_expiry": 600.5}, "session_expiry"),
        ({"session_expiry": 10**40}, "session_expiry"),
        ({"call_time_limit": 0}, "call_time_limit"),
        ({"ring_timeout": 121}, "ring_timeout"),
        ({"record": "maybe"}, "record"),
        ({"record_file_format": "ogg"}, "record_file_format"),
        ({"callback_url": "ftp://hooks.example.com/x"}, "callback_url"),
        ({"callback_url": "/relative"}, "callback_url"),
        ({"callback_method": "PUT"}, "callback_method"),
        ({"recording_callback_method": 1}, "recording_callback_method"),
        ({"colour": "blue"}, "colour"),
        ({"first_party_pin": "1234"}, "first_party_pin"),
        (
            {
                "is_pin_authentication_required": True,
                "first_party_pin": "1234",
                "pin_prompt_play": "https://hooks.example.com/p.xml",
            },
            "second_party_pin",
        ),
        (
            {
                "is_pin_authentication_required": True,
                "first_party_pin": "1234",
                "second_party_pin": "1234",
                "pin_prompt_play": "https://hooks.example.com/p.xml",
            },
            "second_party_pin",
        ),
        (
            {
                "is_pin_authentication_required": True,
                "first_party_pin": "12",
                "second_party_pin": "1234",
                "pin_prompt_play": "https://hooks.example.com/p.xml",
            },
            "first_party_pin",
        ),
        (
            {"is_pin_authentication_required": True, "first_party_pin": "1234", "second_party_pin": "1235"},
            "pin_prompt_play",
        ),
        ({"pin_retry": 6}, "pin_retry"),
        ({"virtual_number_cooloff_period": -1}, "virtual_number_cooloff_period"),
        ({"subaccount": "not-a-subaccount"}, "subaccount"),
        ({"subaccount": "SA" + "0" * 18}, "subaccount"),
        ({"geomatch": "sometimes"}, "geomatch"),
    ],
)
def test_a_bad_create_is_a_400_that_names_the_field(client, tenant, fields, field):
    payload = {k: v for k, v in {**PARTIES, **fields}.items() if v is not None}

    response = send(client, "POST", tenant.plivo_base, tenant.basic, json=payload)

    assert_error(response, 400, field)
    assert listing(client, tenant)["meta"]["total_count"] == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "session"),
        ({"session_expiry": 30}, "session_expiry"),
        ({"ring_timeout": "long"}, "ring_timeout"),
        ({"first_party": "+14155550199"}, "first_party"),
        ({"is_pin_authentication_required": True}, "is_pin_authentication_required"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_update_is_a_400_that_names_the_field(client, tenant, fields, field):
    created = opened(client, tenant)

    response = send(client, "POST", tenant.plivo_base + created["session_uuid"] + "/", tenant.basic, json=fields)

    assert_error(response, 400, field)


PLIVO_URL_FIELDS = ["callback_url", "recording_callback_url", "first_party_play_url", "second_party_play_url"]


@pytest.mark.parametrize("field", [*PLIVO_URL_FIELDS, "unknown_caller_play"])
@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_a_create_with_a_url_parsers_read_differently_or_with_control_characters_is_a_400(client, tenant, field, url):
    response = send(client, "POST", tenant.plivo_base, tenant.basic, json={**PARTIES, field: url})

    assert_error(response, 400, field)
    assert response.get_json()["field"] == field
    assert listing(client, tenant)["meta"]["total_count"] == 0


@pytest.mark.parametrize("field", PLIVO_URL_FIELDS)
def test_an_update_with_a_url_parsers_read_differently_or_with_control_characters_is_a_400(client, tenant, field):
    created = opened(client, tenant, **{field: "https://hooks.example.com/kept"})
    path = tenant.plivo_base + created["session_uuid"] + "/"

    for url in UNSAFE_URLS:
        response = send(client, "POST", path, tenant.basic, json={field: url})

        assert_error(response, 400, field)
        assert response.get_json()["field"] == field
    kept = send(client, "GET", path, tenant.basic).get_json()["response"]
    assert kept[field] == "https://hooks.example.com/kept"


BAD_BODIES = [
    pytest.param("not json", "application/json", id="not-json"),
    pytest.param('{"first_party": ', "application/json", id="truncated"),
    pytest.param("[1, 2]", "application/json", id="array"),
    pytest.param("null", "application/json", id="null"),
    pytest.param('"text"', "application/json", id="string"),
    pytest.param("1e999", "application/json", id="infinite-number"),
    pytest.param(b"\xff\xfe\x00{", "application/json", id="not-utf-8"),
    pytest.param("[" * 20_000, "application/json", id="deeply-nested-array"),
    pytest.param('{"a":' * 5_000 + "1" + "}" * 5_000, "application/json", id="deeply-nested-object"),
    pytest.param('{"first_party": "+14155551234"}', "text/plain", id="text-plain"),
    pytest.param("<xml/>", "application/xml", id="xml"),
    pytest.param('{"session_expiry": ' + "9" * 5_000 + "}", "application/json", id="number-of-5000-digits"),
]


@pytest.mark.parametrize(("data", "content_type"), BAD_BODIES)
@pytest.mark.parametrize("operation", ["create", "update", "delete"])
def test_a_body_that_is_not_a_json_object_is_a_400_never_a_500(client, tenant, data, content_type, operation):
    created = opened(client, tenant)
    method, url = {
        "create": ("POST", tenant.plivo_base),
        "update": ("POST", tenant.plivo_base + created["session_uuid"] + "/"),
        "delete": ("DELETE", tenant.plivo_base + created["session_uuid"] + "/"),
    }[operation]

    response = send(client, method, url, tenant.basic, data=data, content_type=content_type)

    assert_error(response, 400, "body")
    readable = data in ("[1, 2]", "null", '"text"', "1e999")  # JSON, but not an object
    assert ("not JSON that masq can read" in response.get_json()["error"]) is not readable
    assert listing(client, tenant)["meta"]["total_count"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "21"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"status": "open"}, "status"),
        ({"colour": "blue"}, "colour"),
        ({"first_party": "nobody"}, "first_party"),
        ({"virtual_number": "12"}, "virtual_number"),
        ({"created_time__gte": "yesterday"}, "created_time__gte"),
        ({"created_time__gte": "2020-01-01"}, "created_time"),
        ({"expiry_time__between": "2024-01-01"}, "expiry_time__between"),
        ({"duration__gt": "long"}, "duration__gt"),
    ],
)
def test_a_bad_listing_filter_is_a_400_that_names_it(client, tenant, params, field):
    response = send(client, "GET", tenant.plivo_base, tenant.basic, query_string=params)

    assert_error(response, 400, field)


def test_a_listing_filter_given_twice_is_a_400(client, tenant):
    response = send(client, "GET", tenant.plivo_base + "?limit=1&limit=2", tenant.basic)

    assert_error(response, 400, "limit")


# -- 401 --------------------------------------------------------------------------------------------------
def _every_operation(tenant: TenantFixture, session_uuid: str, base: str | None = None) -> list[tuple[str, str]]:
    base = base or tenant.plivo_base
    return [
        ("POST", base),
        ("GET", base),
        ("GET", base + session_uuid + "/"),
        ("POST", base + session_uuid + "/"),
        ("DELETE", base + session_uuid + "/"),
    ]


@pytest.mark.parametrize(
    "credentials",
    ["none", "wrong token", "unknown auth_id", "another tenant's", "bearer", "empty", "garbled", "not utf-8"],
)
def test_a_request_without_the_right_credentials_is_a_401(client, tenant, other, credentials):
    created = opened(client, tenant)
    auth, headers = {
        "none": (None, {}),
        "wrong token": ((tenant.auth_id, changed(tenant.auth_token)), {}),
        "unknown auth_id": (("MA" + "Z" * 18, tenant.auth_token), {}),
        "another tenant's": (other.basic, {}),
        "bearer": (None, {"Authorization": f"Bearer {tenant.auth_token}"}),
        "empty": (("", ""), {}),
        "garbled": (None, {"Authorization": "Basic !!!not-base64"}),
        "not utf-8": (None, {"Authorization": "Basic " + base64.b64encode(b"\xffMA:\xfe").decode()}),
    }[credentials]

    for method, url in _every_operation(tenant, created["session_uuid"]):
        response = send(client, method, url, auth, headers=headers, json=PARTIES if method == "POST" else None)
        assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert listing(client, tenant)["meta"]["total_count"] == 1


def test_credentials_for_another_account_than_the_path_names_are_a_401(client, tenant, other):
    created = opened(client, tenant)

    for method, url in _every_operation(tenant, created["session_uuid"], base=other.plivo_base):
        response = send(client, method, url, tenant.basic, json=PARTIES if method == "POST" else None)
        assert_error(response, 401)


# -- 404 --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_another_tenants_session_is_indistinguishable_from_an_unknown_one(client, tenant, other, method):
    theirs = opened(client, other)["session_uuid"]
    unknown = str(uuid.uuid4())
    body = {"ring_timeout": 30} if method == "POST" else None

    foreign = send(client, method, tenant.plivo_base + theirs + "/", tenant.basic, json=body)
    missing = send(client, method, tenant.plivo_base + unknown + "/", tenant.basic, json=body)

    assert_error(foreign, 404)
    assert_error(missing, 404)
    assert set(foreign.get_json()) == set(missing.get_json())
    assert foreign.get_json()["error"].replace(theirs, "ID") == missing.get_json()["error"].replace(unknown, "ID")
    kept = send(client, "GET", other.plivo_base + theirs + "/", other.basic).get_json()["response"]
    assert (kept["status"], kept["ring_timeout"]) == ("active", 120)


@pytest.mark.parametrize("session_uuid", ["not-a-uuid", "12345", "' OR 1=1 --", "%00", "x" * 300])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_a_malformed_session_uuid_is_a_404(client, tenant, method, session_uuid):
    body = {"ring_timeout": 30} if method == "POST" else None

    response = send(client, method, tenant.plivo_base + session_uuid + "/", tenant.basic, json=body)

    assert_error(response, 404)


# -- 409 --------------------------------------------------------------------------------------------------
def test_creating_on_an_exhausted_pool_is_a_409(client, tenant):
    numbers = {opened(client, tenant)["virtual_number"] for _ in tenant.numbers}

    response = create(client, tenant)

    assert numbers == set(tenant.numbers)
    assert "no free virtual number" in assert_error(response, 409)
    assert listing(client, tenant)["meta"]["total_count"] == len(tenant.numbers)


def test_geomatch_for_a_country_without_numbers_says_the_pool_has_none_there(client, tenant):
    response = create(client, tenant, first_party="+4915123456789")

    assert assert_error(response, 409) == (
        "no virtual number in DE: the pool has no number in DE, and geomatch asks for one in first_party's country; "
        "add one, or set geomatch to false to take a free number from US"
    )
    assert create(client, tenant, first_party="+4915123456789", geomatch=False).status_code in (200, 201)


def test_a_deleted_session_can_be_neither_updated_nor_deleted_again(client, tenant):
    uuid = ended(client, tenant)["session_uuid"]
    url = tenant.plivo_base + uuid + "/"

    assert send(client, "GET", url, tenant.basic).get_json()["response"]["status"] == "expired"
    updated = assert_error(send(client, "POST", url, tenant.basic, json={"ring_timeout": 30}), 409)
    assert updated == f"session {uuid} has expired (ended by a request) and can no longer be updated"
    assert assert_error(send(client, "DELETE", url, tenant.basic), 409) == (
        f"session {uuid} has already expired (ended by a request)"
    )


def test_a_session_past_its_expiry_reads_expired_refuses_changes_and_frees_its_number(client, tenant, travel):
    short = opened(client, tenant, session_expiry=60)
    for _ in tenant.numbers[1:]:
        opened(client, tenant)
    url = tenant.plivo_base + short["session_uuid"] + "/"

    travel(61)

    assert send(client, "GET", url, tenant.basic).get_json()["response"]["status"] == "expired"
    assert_error(send(client, "POST", url, tenant.basic, json={"session_expiry": 600}), 409)
    assert_error(send(client, "DELETE", url, tenant.basic), 409)
    assert opened(client, tenant)["virtual_number"] == short["virtual_number"]


# -- 405 --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("slash", ["/", ""], ids=["with-slash", "without-slash"])
@pytest.mark.parametrize(
    ("method", "target"),
    [("PUT", "one"), ("PATCH", "one"), ("PUT", "all"), ("PATCH", "all"), ("DELETE", "all")],
)
def test_a_wrong_method_is_a_405(client, tenant, method, target, slash):
    created = opened(client, tenant)
    url = tenant.plivo_base + (created["session_uuid"] if target == "one" else "")
    url = url.rstrip("/") + slash

    response = send(client, method, url, tenant.basic, json={"ring_timeout": 30})

    assert_error(response, 405)
    assert listing(client, tenant)["objects"][0]["status"] == "active"


# -- listing ----------------------------------------------------------------------------------------------
def test_pages_link_to_each_other_and_cover_every_session_once(client, tenant):
    for _ in range(5):
        ended(client, tenant)
    for _ in range(2):
        opened(client, tenant)

    pages = [listing(client, tenant, limit=3)]
    while pages[-1]["meta"]["next"]:
        link = pages[-1]["meta"]["next"]
        assert link.startswith(tenant.plivo_base + "?")
        response = send(client, "GET", link, tenant.basic)
        assert response.status_code == 200
        pages.append(response.get_json()["response"])

    metas = [page["meta"] for page in pages]
    assert [(m["offset"], m["limit"], m["total_count"]) for m in metas] == [(0, 3, 7), (3, 3, 7), (6, 3, 7)]
    assert [len(page["objects"]) for page in pages] == [3, 3, 1]
    assert metas[0]["previous"] is None and metas[2]["next"] is None
    for meta, (previous_offset, next_offset) in zip(metas, [(None, 3), (0, 6), (3, None)], strict=True):
        for key, offset in (("previous", previous_offset), ("next", next_offset)):
            if offset is not None:
                assert parse_qs(urlsplit(meta[key]).query) == {"limit": ["3"], "offset": [str(offset)]}
    seen = [s["session_uuid"] for page in pages for s in page["objects"]]
    assert len(seen) == len(set(seen)) == 7
    created = [moment(s["created_time"]) for page in pages for s in page["objects"]]
    assert created == sorted(created, reverse=True)


def test_an_offset_past_the_end_gives_an_empty_page_that_links_back(client, tenant):
    opened(client, tenant)

    page = listing(client, tenant, limit=2, offset=4)

    assert page["objects"] == []
    assert page["meta"]["total_count"] == 1 and page["meta"]["next"] is None
    assert parse_qs(urlsplit(page["meta"]["previous"]).query) == {"limit": ["2"], "offset": ["2"]}


def test_listing_filters_come_from_the_query_string(client, tenant):
    a = opened(client, tenant)["session"]
    b = ended(client, tenant, first_party="+12125550123")["session"]
    c = opened(client, tenant)["session"]
    everyone = {a["session_uuid"], b["session_uuid"], c["session_uuid"]}
    active = {a["session_uuid"], c["session_uuid"]}

    assert uuids(listing(client, tenant)) == everyone
    assert uuids(listing(client, tenant, status="active")) == active
    assert uuids(listing(client, tenant, status="expired")) == {b["session_uuid"]}
    assert uuids(listing(client, tenant, status="all")) == everyone
    assert uuids(listing(client, tenant, first_party="14155551234")) == active
    assert uuids(listing(client, tenant, first_party="+12125550123")) == {b["session_uuid"]}
    assert uuids(listing(client, tenant, second_party=SECOND)) == everyone
    assert uuids(listing(client, tenant, virtual_number=a["virtual_number"])) == {a["session_uuid"]}
    assert uuids(listing(client, tenant, duration__gte=3000)) == active
    assert uuids(listing(client, tenant, duration__lt=1)) == {b["session_uuid"]}
    assert uuids(listing(client, tenant, created_time__gte=a["created_time"])) == everyone
    assert uuids(listing(client, tenant, created_time__gt=a["created_time"])) == {b["session_uuid"], c["session_uuid"]}
    assert uuids(listing(client, tenant, created_time__lt=c["created_time"])) == {a["session_uuid"], b["session_uuid"]}
    assert uuids(listing(client, tenant, created_time=b["created_time"])) == {b["session_uuid"]}
    assert uuids(listing(client, tenant, expiry_time__gt=b["created_time"], status="active")) == active
    page = listing(client, tenant, status="active", limit=1)
    assert len(page["objects"]) == 1 and page["meta"]["total_count"] == 2
    assert parse_qs(urlsplit(page["meta"]["next"]).query) == {"status": ["active"], "limit": ["1"], "offset": ["1"]}
    assert uuids(listing(client, tenant, status="active", limit=1, offset=1)) == active - uuids(page)


def test_a_listing_shows_only_the_callers_sessions(client, tenant, other):
    mine = opened(client, tenant)["session_uuid"]
    opened(client, other)

    page = listing(client, tenant)

    assert uuids(page) == {mine}
    assert page["meta"]["total_count"] == 1
