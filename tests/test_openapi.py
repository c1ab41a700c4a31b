"""The OpenAPI document tells the truth: valid, complete, bound for bound the code's, and the API keeps to it."""

from __future__ import annotations

import copy
import re
import uuid

import hypothesis
import jsonschema_rs
import pytest
import redis
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.parameters import ParameterLocation

from app import cloudtalk_format, openapi
from routing import capacity, pool, tenants
from routing.clock import US, now_us
from routing.errors import InvalidInput
from routing.sessions import lifecycle
from routing.sessions.options import CREATE_FIELDS, DEFAULT_SESSION_EXPIRY, UPDATE_FIELDS
from routing.sessions.query import check_query
from routing.sessions.session import Session
from tests.conftest import make_tenant
from tests.sessions_helpers import credential
from tests.twilio_helpers import call, new_sid, post, xml

DOC = openapi.document()
OPERATIONS = [
    (path, method.upper()) for path, item in DOC["paths"].items() for method in item if method != "parameters"
]
CONFORMS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# A request the document forbids must be refused: the code may take nothing its document does not say it takes.
CHECKS = [not_a_server_error, negative_data_rejection, *CONFORMS]

POOL = [f"+1415555{n:04d}" for n in range(100, 140)]
FIRST, SECOND = "+14155551234", "+14155554321"
# Stand-ins the fuzzer draws for a session id; each test maps them to a session of that kind in its own store.
KINDS = ["called", "in-call", "single-party", "pin", "subaccount", "timed-out", "completed", "another-account"]
SLOTS = {kind: str(uuid.UUID(int=n)) for n, kind in enumerate(KINDS, start=1)}
# Strings that look like numbers or URLs to a careless parser ("²".isdigit() is true; urlsplit raises on "[").
TRICKY = ["²", "①", "١٢", "--5", " 7 ", "1e3", "0x10", "NaN", "https://[x", "http://[::1"]
TRICKY_FIELDS = [
    "query.limit",
    "query.offset",
    "query.duration__gt",
    "query.created_time",
    "query.on",
    "query.days",
    "body.session_expiry",
    "body.ring_timeout",
    "body.ttl_minutes",
    "body.callback_url",
    "body.pin_prompt_play",
    "body.first_party_pin",
]
PARTY_FIELDS = ["body.first_party", "body.second_party", "body.driver_phone", "body.customer_phone"]

# Deterministic for CI (derandomized, no example database). The dictionaries steer a share of the generated
# values to sessions that exist, to parties that can open a session, and to strings that tripped parsers.
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"deterministic": True, "database": "none", "max-examples": 25},
        "dictionaries": {
            "sessions": {"values": list(SLOTS.values())},
            "tricky": {"values": TRICKY},
            "parties": {"values": [FIRST, SECOND, "+14155559999"]},
        },
        "parameters": {
            "path.session_uuid": {"dictionary": "sessions", "probability": 0.8},
            "path.session_id": {"dictionary": "sessions", "probability": 0.8},
            **{name: {"dictionary": "tricky", "probability": 0.3} for name in TRICKY_FIELDS},
            **{name: {"dictionary": "parties", "probability": 0.8} for name in PARTY_FIELDS},
        },
    }
)
# schemathesis writes into the document it is given, so it gets a copy.
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOC), config=CONFIG)
# Tests that run schemathesis cases against a store seeded with every kind of session: a tenth of a second each,
# so they run with the integration tests, not in the fast loop.
SCHEMATHESIS = pytest.mark.integration


METRICS_TOKEN = "m" * 32


@pytest.fixture
def app_config():
    return {"MASQ_RATE_LIMIT": 0, "MASQ_METRICS_TOKEN": METRICS_TOKEN}  # the fuzzer sends hundreds a second


def place_call(client, virtual_number: str, hang_up: bool) -> None:
    """Call `virtual_number` as FIRST, as the carrier would; with `hang_up`, the recorded call also ends."""
    sid = new_sid()
    dial = xml(call(client, FIRST, virtual_number, sid)).find("Dial")
    if hang_up:
        post(
            client,
            dial.get("recordingStatusCallback"),
            {
                "CallSid": sid,
                "RecordingSid": new_sid("RE"),
                "RecordingStatus": "completed",
                "RecordingUrl": "https://api.twilio.com/rec",
                "RecordingDuration": "61",
            },
        )
        post(
            client,
            dial.get("action"),
            {
                "CallSid": sid,
                "DialCallStatus": "completed",
                "DialCallSid": new_sid(),
                "DialCallDuration": "61",
                "DialBridged": "true",
            },
        )


@pytest.fixture
def seeded(store, client):
    """A tenant and its sessions of every kind the API can show, keyed by the slot the fuzzer draws for each."""
    tenant = make_tenant(store, POOL)
    now = now_us()
    sub = tenants.create_tenant(store, "acme-sub", now, parent=tenant.auth_id)
    pool.add_numbers(store, sub.auth_id, ["+14155550180"], now)  # a subaccount's session takes its own DID
    other = make_tenant(store, ["+14155550190"], name="other")

    def open_(owner=tenant, at=now, **fields) -> Session:
        parties = {"first_party": FIRST, "second_party": SECOND, **fields}
        return lifecycle.open_session(store, credential(owner), parties, at)

    called, in_call, completed = open_(record=True), open_(callback_url="https://hooks.example.com/masq"), open_()
    place_call(client, called.virtual_number, hang_up=True)
    place_call(client, in_call.virtual_number, hang_up=False)
    lifecycle.end_session(store, tenant.auth_id, completed.session_uuid, now)
    kinds = [
        called,
        in_call,
        open_(second_party=None, create_session_with_single_party=True),
        open_(
            is_pin_authentication_required=True,
            generate_pin=True,
            pin_prompt_play="https://cdn.example.com/p.mp3",
            force_pin_authentication=True,
        ),
        open_(subaccount=sub.auth_id, virtual_number_cooloff_period=60),
        open_(at=now - 7200 * US, session_expiry=60),
        completed,
        open_(owner=other),
    ]
    return tenant, dict(zip(SLOTS.values(), [s.session_uuid for s in kinds], strict=True))


def credentials(case, tenant) -> dict:
    """Return the call arguments that authenticate `case` as `tenant`, as its dialect expects."""
    if case.path.startswith("/v1/Account/"):
        return {"auth": tenant.basic}
    if case.path == "/metrics":
        return {"headers": {"Authorization": f"Bearer {METRICS_TOKEN}"}}
    return {"headers": {"X-API-Key": tenant.api_key}} if case.path.startswith("/v1/") else {}


def path_parameters(path: str, tenant, session_uuid: str) -> dict:
    return {name: tenant.auth_id if name == "auth_id" else session_uuid for name in re.findall(r"\{(\w+)\}", path)}


def case_for(path: str, method: str, tenant, session_uuid: str, **given):
    """Return a request for one documented operation, with the given query or body."""
    return schema[path][method].Case(path_parameters=path_parameters(path, tenant, session_uuid), **given)


# -- fuzzing ------------------------------------------------------------------------------------------------------
@SCHEMATHESIS
@schema.parametrize()
# One store serves every example of an operation, on purpose: later examples meet the sessions and the pool
# that earlier ones changed.
@hypothesis.settings(deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
def test_the_api_keeps_to_its_document(case, app, seeded):
    tenant, slots = seeded
    for name in ("session_uuid", "session_id"):
        if name in case.path_parameters:
            case.path_parameters[name] = slots.get(case.path_parameters[name], case.path_parameters[name])
    if "auth_id" in case.path_parameters:
        case.path_parameters["auth_id"] = tenant.auth_id
    # A case made invalid in its headers goes without the credential the fuzzer left out or spoilt on purpose.
    spoilt = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    case.call_and_validate(app=app, checks=CHECKS, **({} if spoilt else credentials(case, tenant)))


# -- the document itself ------------------------------------------------------------------------------------------
def schemas_in(node):
    """Yield every JSON Schema the document holds: components, parameters, bodies and answers."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" or (key == "schemas" and node is DOC["components"]):
                yield from ([value] if key == "schema" else value.values())
            else:
                yield from schemas_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from schemas_in(item)


def test_the_served_document_is_valid_openapi_3_1(app):
    served = schemathesis.openapi.from_wsgi("/openapi.json", app)

    served.validate()
    assert served.raw_schema["openapi"].startswith("3.1.")
    found = list(schemas_in(DOC))
    assert len(found) > 50
    for each in found:
        jsonschema_rs.meta.validate(each)


def test_the_document_is_served_as_json_without_credentials(client):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == DOC


def test_every_rest_route_is_documented_and_every_documented_operation_is_routed(app):
    def template(rule: str) -> str:
        return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule).rstrip("/")

    routed = {
        (method, template(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.endpoint.startswith(("voice.", "console."))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routed == {(method, path.rstrip("/")) for path, method in OPERATIONS}
    urls = app.url_map.bind("masq.example.com")
    for path, method in OPERATIONS:
        urls.match(re.sub(r"\{\w+\}", "x", path), method=method)  # the documented spelling routes as it is


def body_of(path: str, method: str = "post") -> dict:
    return DOC["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def test_the_request_bodies_name_exactly_the_fields_the_code_takes():
    assert set(body_of(openapi.PLIVO)["properties"]) == set(CREATE_FIELDS)
    assert set(body_of(openapi.PLIVO_SESSION)["properties"]) == set(UPDATE_FIELDS) | {"session_uuid"}
    assert set(body_of("/v1/sessions")["properties"]) == set(cloudtalk_format.CREATE_FIELDS)
    assert body_of("/v1/sessions")["required"] == list(cloudtalk_format.REQUIRED)


FIELDS = [
    *(
        pytest.param(name, spec, CREATE_FIELDS[name], id=f"plivo-{name}")
        for name, spec in body_of(openapi.PLIVO)["properties"].items()
    ),
    *(
        pytest.param(name, spec, cloudtalk_format.CREATE_FIELDS[name], id=f"cloudtalk-{name}")
        for name, spec in body_of("/v1/sessions")["properties"].items()
    ),
]


@pytest.mark.parametrize(("name", "spec", "checker"), [f for f in FIELDS if "minimum" in f.values[1]])
def test_each_documented_integer_bound_is_the_codes(name, spec, checker):
    assert int(checker(spec["minimum"], name)) == spec["minimum"]
    assert int(checker(spec["maximum"], name)) == spec["maximum"]
    for outside in (spec["minimum"] - 1, spec["maximum"] + 1):
        with pytest.raises(InvalidInput):
            checker(outside, name)


REQUIRED = {*body_of(openapi.PLIVO)["required"], *body_of("/v1/sessions")["required"]}


def taken(checker, value, name) -> bool:
    """Return whether the code takes `value` for the field `name`: check_fields reads `null` as left out, which
    only an optional field may be."""
    if value is None:
        return name not in REQUIRED
    try:
        checker(value, name)
    except InvalidInput:
        return False
    return True


# Values that tell loose parsers apart: padded, signed, other digits, other spaces, other cases, other types.
ODD_VALUES = [
    *TRICKY,
    *("600", "-0", "0600", " 600", "600 ", "\t600", "600\n", "+600", "6e2", "600.0", "６００", "\u00a0600"),
    *("true", "TRUE", "False", " true", "yes", "1", "get", "Post", " GET", "mp3", "WAV", "mp4"),
    *(
        "+14155551234",
        " +1 (415) 555-1234 ",
        "\t+14155551234",
        "+14155551234\n",
        "1415555\u00a01234",
        "+1415555１２３４",
    ),
    *("1234", "012345", "１２３４", "SA0123456789ABCDEFGH", "sa0123456789ABCDEFGH", "SA0123456789ABCDEFG"),
    *("https://example.com/x", "HTTPS://example.com/x", "Https://example.com", "https://exa mple.com", "ftp://x.y", ""),
    *(600, 600.0, 600.5, -1, 0, 1234, 14155551234, True, False, None, [], {}),
]


@pytest.mark.parametrize(("name", "spec", "checker"), FIELDS)
def test_whatever_the_code_takes_for_a_field_its_document_takes(name, spec, checker):
    document = jsonschema_rs.validator_for(spec)
    for value in ODD_VALUES:
        if taken(checker, value, name):
            assert document.is_valid(value), f"{name} takes {value!r}, which its document forbids"


# Checkers whose rule is the whole of what they take (no phone numbering plan, no URL host rules, no bounds that a
# text spelling of a number cannot carry in JSON Schema): the document takes exactly what they take.
LEXICAL = ["record", "record_file_format", "callback_method", "geomatch", "first_party_pin", "subaccount"]


@pytest.mark.parametrize(("name", "spec", "checker"), [f for f in FIELDS if f.values[0] in LEXICAL])
@hypothesis.given(
    value=st.one_of(st.sampled_from(ODD_VALUES), st.text(max_size=20), st.integers(), st.floats(), st.booleans())
)
def test_a_lexical_fields_document_takes_exactly_what_its_checker_takes(name, spec, checker, value):
    assert jsonschema_rs.validator_for(spec).is_valid(value) == taken(checker, value, name)


def test_the_documented_defaults_are_the_codes():
    create = body_of(openapi.PLIVO)["properties"]
    for name, spec in create.items():
        if "default" in spec and name in Session.__dataclass_fields__:
            assert Session.__dataclass_fields__[name].default == spec["default"], name
    assert create["session_expiry"]["default"] == DEFAULT_SESSION_EXPIRY
    assert body_of("/v1/sessions")["properties"]["ttl_minutes"]["default"] == cloudtalk_format.DEFAULT_TTL_MINUTES


def test_the_pool_window_is_the_codes():
    days = DOC["paths"]["/v1/did/pool"]["get"]["parameters"][0]["schema"]
    assert (days["minimum"], days["maximum"], days["default"]) == (1, capacity.MAX_DAYS, capacity.DEFAULT_DAYS)


LIST_FILTERS = {p["name"]: p["schema"] for p in DOC["paths"][openapi.PLIVO]["get"]["parameters"]}


@pytest.mark.parametrize("name", list(LIST_FILTERS))
def test_each_documented_list_filter_is_taken_within_its_bounds(name):
    spec = LIST_FILTERS[name]
    for value in spec.get("enum") or spec.get("examples") or [spec.get("minimum", "x"), spec.get("maximum", "x")]:
        check_query({name: str(value)})
    if "maximum" in spec:
        for outside in (spec["minimum"] - 1, spec["maximum"] + 1):
            with pytest.raises(InvalidInput):
                check_query({name: str(outside)})


# -- documented answers, state by state ---------------------------------------------------------------------------
@SCHEMATHESIS
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_session_reads_as_documented(app, seeded, kind):
    tenant, slots = seeded
    reads = [
        (openapi.PLIVO_SESSION, None),
        ("/v1/sessions/{session_id}", None),
        (openapi.PLIVO, {"limit": 20}),
        (openapi.PLIVO, {"status": "expired"}),
    ]
    for path, query in reads:
        case = case_for(path, "GET", tenant, slots[SLOTS[kind]], query=query)

        response = case.call_and_validate(app=app, checks=CHECKS, **credentials(case, tenant))

        one = "{session" in path
        assert response.status_code == (404 if one and kind == "another-account" else 200)


@SCHEMATHESIS
def test_a_session_with_calls_shows_its_interactions_as_documented(app, seeded):
    tenant, slots = seeded
    for kind, status in (("called", "active"), ("in-call", "in-progress")):
        case = case_for(openapi.PLIVO_SESSION, "GET", tenant, slots[SLOTS[kind]])

        shown = case.call_and_validate(app=app, checks=CHECKS, auth=tenant.basic).json()["response"]

        assert shown["status"] == status
        assert shown["total_call_count"] == 1 and len(shown["interaction"]) == 1


PARTIES = {"first_party": FIRST, "second_party": SECOND}
DRIVE = {"driver_phone": FIRST, "customer_phone": SECOND}


@SCHEMATHESIS
@pytest.mark.parametrize(
    ("path", "query", "body"),
    [
        pytest.param(openapi.PLIVO, {"limit": "²"}, None, id="list-limit-superscript"),
        pytest.param(openapi.PLIVO, {"offset": "①"}, None, id="list-offset-circled"),
        pytest.param(openapi.PLIVO, {"duration__gt": "--5"}, None, id="list-duration-two-minus"),
        pytest.param(openapi.PLIVO, None, {**PARTIES, "session_expiry": "²"}, id="create-expiry-superscript"),
        pytest.param(openapi.PLIVO, None, {**PARTIES, "callback_url": "https://[x"}, id="create-url-open-bracket"),
        pytest.param(
            openapi.PLIVO,
            None,
            {
                **PARTIES,
                "is_pin_authentication_required": True,
                "first_party_pin": "²²²²",
                "second_party_pin": "1234",
                "pin_prompt_play": "https://cdn.example.com/p",
            },
            id="create-pin-superscript",
        ),
        pytest.param(openapi.PLIVO_SESSION, None, {"ring_timeout": "①"}, id="update-ring-circled"),
        pytest.param("/v1/sessions", None, {**DRIVE, "ttl_minutes": "²"}, id="cloudtalk-ttl-superscript"),
        pytest.param("/v1/sessions", None, {**DRIVE, "callback_url": "http://[::1"}, id="cloudtalk-url-open-bracket"),
    ],
)
def test_numbers_and_urls_a_careless_parser_would_take_are_documented_400s(app, seeded, path, query, body):
    tenant, slots = seeded
    given = {"query": query} if query else {"body": body, "media_type": "application/json"}
    case = case_for(path, "GET" if query else "POST", tenant, slots[SLOTS["called"]], **given)

    response = case.call_and_validate(app=app, checks=CHECKS, **credentials(case, tenant))

    assert response.status_code == 400


# -- where the document and the code disagreed, each now one way --------------------------------------------
@SCHEMATHESIS
@pytest.mark.parametrize(
    ("path", "method", "query", "body"),
    [
        pytest.param("/v1/did/assignments", "GET", {"status": ""}, None, id="assignments-empty-status"),
        pytest.param("/v1/did/assignments", "GET", {"on": "20240201"}, None, id="assignments-day-without-dashes"),
        pytest.param("/v1/did/pool", "GET", {"days": " 7 "}, None, id="pool-padded-days"),
        pytest.param(openapi.PLIVO, "GET", {"limit": " 5"}, None, id="list-padded-limit"),
        pytest.param(openapi.PLIVO, "GET", {"created_time": "2024-2-1 6:28"}, None, id="list-time-one-digit-fields"),
        pytest.param(openapi.PLIVO, "GET", {"created_time": "２０２４-02-01"}, None, id="list-time-other-digits"),
        pytest.param(openapi.PLIVO, "GET", {"first_party": "\t+14155551234"}, None, id="list-party-tab"),
        pytest.param(openapi.PLIVO, "POST", None, {**PARTIES, "session_expiry": " 600 "}, id="create-padded-number"),
        pytest.param(
            openapi.PLIVO, "POST", None, {**PARTIES, "second_party": SECOND + "\n"}, id="create-phone-newline"
        ),
        pytest.param(openapi.PLIVO, "POST", None, {**PARTIES, "first_party": None}, id="create-required-null"),
        pytest.param(openapi.PLIVO_SESSION, "POST", None, {}, id="update-nothing"),
        pytest.param(openapi.PLIVO_SESSION, "POST", None, {"record": None, "ring_timeout": None}, id="update-nulls"),
        pytest.param("/v1/sessions", "POST", None, {**DRIVE, "customer_phone": None}, id="cloudtalk-required-null"),
    ],
)
def test_what_the_document_forbids_the_api_refuses(app, seeded, path, method, query, body):
    tenant, slots = seeded
    given = {"query": query} if query is not None else {"body": body, "media_type": "application/json"}
    case = case_for(path, method, tenant, slots[SLOTS["single-party"]], **given)

    response = case.call_and_validate(app=app, checks=CHECKS, **credentials(case, tenant))

    assert response.status_code == 400
    if body is not None:
        assert not jsonschema_rs.validator_for(body_of(path, method.lower())).is_valid(body)


@SCHEMATHESIS
@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        pytest.param("/v1/sessions", "POST", {**DRIVE, "masked_e164": None, "geomatch": None}, id="cloudtalk-nulls"),
        pytest.param(openapi.PLIVO, "POST", {**PARTIES, "record": None, "ring_timeout": None}, id="create-nulls"),
        pytest.param(
            openapi.PLIVO,
            "POST",
            {
                **PARTIES,
                "session_expiry": "600",
                "record": "TRUE",
                "callback_method": "get",
                "record_file_format": "WAV",
            },
            id="create-as-text-in-any-case",
        ),
        pytest.param(
            openapi.PLIVO,
            "POST",
            {"first_party": " +1 (415) 555-1234 ", "second_party": 14155554321},
            id="create-phones-with-separators-and-as-numbers",
        ),
        pytest.param(
            openapi.PLIVO,
            "POST",
            {"first_party": FIRST, "create_session_with_single_party": "true"},
            id="create-single-party-as-text",
        ),
        pytest.param(
            openapi.PLIVO, "POST", {**PARTIES, "callback_url": "HTTPS://hooks.example.com/x"}, id="create-scheme-case"
        ),
        pytest.param(
            openapi.PLIVO,
            "POST",
            {
                **PARTIES,
                "is_pin_authentication_required": True,
                "first_party_pin": 1234,
                "second_party_pin": "5678",
                "pin_prompt_play": "https://cdn.example.com/p",
            },
            id="create-pin-as-number",
        ),
        pytest.param(openapi.PLIVO_SESSION, "POST", {"ring_timeout": "30", "record": None}, id="update-text-and-null"),
    ],
)
def test_what_the_code_takes_the_document_takes(app, seeded, path, method, body):
    tenant, slots = seeded
    case = case_for(path, method, tenant, slots[SLOTS["called"]], body=body, media_type="application/json")

    response = case.call_and_validate(app=app, checks=CHECKS, **credentials(case, tenant))

    assert response.status_code in (200, 201)
    assert jsonschema_rs.validator_for(body_of(path, method.lower())).is_valid(body)


@SCHEMATHESIS
def test_delete_takes_the_echoed_uuid_and_its_document_nothing_else(app, seeded):
    tenant, slots = seeded
    uuid_ = slots[SLOTS["called"]]
    schema_ = jsonschema_rs.validator_for(body_of(openapi.PLIVO_SESSION, "delete"))
    assert not schema_.is_valid({"session_uuid": uuid_, "reason": "done"})
    refused = case_for(
        openapi.PLIVO_SESSION, "DELETE", tenant, uuid_, body={"reason": "done"}, media_type="application/json"
    )
    assert refused.call_and_validate(app=app, checks=CHECKS, **credentials(refused, tenant)).status_code == 400

    taken_ = case_for(
        openapi.PLIVO_SESSION, "DELETE", tenant, uuid_, body={"session_uuid": uuid_}, media_type="application/json"
    )
    assert taken_.call_and_validate(app=app, checks=CHECKS, **credentials(taken_, tenant)).status_code == 200


SECURED = [(path, method) for path, method in OPERATIONS if path.startswith("/v1/")]
# Operations behind a credential that no rate limit counts.
TOKEN_SECURED = [("/metrics", "GET")]
WITH_BODIES = [(path, method) for path, method in OPERATIONS if "requestBody" in DOC["paths"][path][method.lower()]]


@SCHEMATHESIS
@pytest.mark.parametrize(("path", "method"), SECURED + TOKEN_SECURED)
def test_without_credentials_each_operation_answers_a_documented_401(app, seeded, path, method):
    tenant, slots = seeded
    case = case_for(path, method, tenant, slots[SLOTS["called"]])

    assert case.call_and_validate(app=app, checks=CHECKS).status_code == 401


@SCHEMATHESIS
@pytest.mark.parametrize(("path", "method"), SECURED)
def test_over_the_rate_limit_each_operation_answers_a_documented_429(make_app, seeded, path, method):
    tenant, slots = seeded
    limited = make_app(MASQ_RATE_LIMIT=1, MASQ_RATE_WINDOW=60)
    case = case_for(path, method, tenant, slots[SLOTS["called"]])
    case.call(app=limited, **credentials(case, tenant))

    assert case.call_and_validate(app=limited, checks=CHECKS, **credentials(case, tenant)).status_code == 429


@SCHEMATHESIS
@pytest.mark.parametrize(("path", "method"), WITH_BODIES)
def test_a_body_over_the_limit_answers_a_documented_413(app, seeded, path, method):
    tenant, slots = seeded
    case = case_for(
        path,
        method,
        tenant,
        slots[SLOTS["called"]],
        media_type="application/json",
        body={"callback_url": "https://example.com/" + "x" * 70_000},
    )

    assert case.call_and_validate(app=app, checks=CHECKS, **credentials(case, tenant)).status_code == 413


@SCHEMATHESIS
@pytest.mark.parametrize(("path", "method"), SECURED + TOKEN_SECURED)
def test_with_redis_down_each_operation_answers_a_documented_503(app, seeded, monkeypatch, path, method):
    tenant, slots = seeded
    case = case_for(path, method, tenant, slots[SLOTS["called"]])

    def down(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(app.extensions["masq.store"].redis, "execute_command", down)

    assert case.call_and_validate(app=app, checks=CONFORMS, **credentials(case, tenant)).status_code == 503


@pytest.mark.parametrize("path", list(DOC["paths"]))
def test_a_method_a_path_does_not_list_answers_405_in_the_error_shape_with_allow(client, seeded, path):
    tenant, slots = seeded
    url = path.format(**path_parameters(path, tenant, slots[SLOTS["called"]]))
    listed = {method.upper() for method in DOC["paths"][path] if method != "parameters"}
    error = jsonschema_rs.validator_for(DOC["components"]["schemas"]["Error"])
    for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - listed:
        response = client.open(url, method=method, auth=tenant.basic)

        assert response.status_code == 405, method
        assert error.is_valid(response.get_json())
        assert listed <= {allowed.strip() for allowed in response.headers["Allow"].split(",")}
