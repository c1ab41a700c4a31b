"""Logs are JSON lines on stderr: one access line per request, numbers masked, no secret ever written."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import uuid

import pytest
import redis
from rq import Queue

from app.logs import JsonFormatter, StderrHandler, configure_logging, scrub
from routing.calls import inbound
from routing.clock import now_us
from routing.sessions import lifecycle
from tests.conftest import make_tenant
from tests.sessions_helpers import credential
from tests.twilio_helpers import PUBLIC, TOKEN, call, inbound_fields, new_sid, post, sign

FIRST, SECOND = "+14155551234", "+14155554321"
PIN = "97531864"


def lines(capsys) -> list[dict]:
    """Return what was written to stderr, each line parsed as JSON (any other line fails the test)."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def access_lines(capsys) -> list[dict]:
    return [line for line in lines(capsys) if line["logger"] == "masq.access"]


def format_line(message: str, *args: object, **extra: object) -> dict:
    """Return a log record of `message` formatted as masq writes it, parsed back."""
    record = logging.LogRecord("masq.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))


# -- access lines ----------------------------------------------------------------------------------------------
def test_a_request_writes_one_json_access_line(client, tenant, capsys):
    capsys.readouterr()

    response = client.get(tenant.plivo_base, auth=tenant.basic)

    [line] = access_lines(capsys)
    assert set(line) >= {"ts", "level", "logger", "message", "request_id", "method", "path", "status", "duration_ms"}
    assert line["ts"].endswith("Z") and line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("GET", tenant.plivo_base, 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["auth_id"] == tenant.auth_id
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert line["message"] == f"GET {tenant.plivo_base} 200"


@pytest.mark.parametrize(("path", "status"), [("/v1/nowhere", 404), ("/v1/sessions", 401)])
def test_refused_requests_get_their_access_line_too(client, capsys, path, status):
    capsys.readouterr()

    client.post(path)

    [line] = access_lines(capsys)
    assert (line["path"], line["status"]) == (path, status)
    assert "auth_id" not in line


def test_a_request_id_from_the_client_is_kept_and_a_malformed_one_replaced(client, capsys):
    capsys.readouterr()

    kept = client.get("/v1/nowhere", headers={"X-Request-Id": "lb-1234.abc"})
    replaced = client.get("/v1/nowhere", headers={"X-Request-Id": "not an id: +14155551234"})

    assert kept.headers["X-Request-Id"] == "lb-1234.abc"
    assert len(replaced.headers["X-Request-Id"]) == 32
    assert [line["request_id"] for line in access_lines(capsys)] == ["lb-1234.abc", replaced.headers["X-Request-Id"]]


def test_a_session_request_names_its_session_in_both_dialects(client, store, tenant, capsys):
    session = lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND}, now_us()
    )
    capsys.readouterr()

    client.get(f"{tenant.plivo_base}{session.session_uuid}/", auth=tenant.basic)
    client.get(f"/v1/sessions/{session.session_uuid}", headers={"X-API-Key": tenant.api_key})

    assert [(line["session_uuid"], line["auth_id"]) for line in access_lines(capsys)] == [
        (session.session_uuid, tenant.auth_id)
    ] * 2


def test_a_carrier_webhook_line_names_its_call(client, store, tenant, capsys):
    session = lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND}, now_us()
    )
    sid = new_sid()
    capsys.readouterr()

    call(client, FIRST, session.virtual_number, sid)
    post(client, f"/voice/dial-complete?t={tenant.auth_id}&c={sid}", {"CallSid": sid, "DialCallStatus": "busy"})

    inbound, done = access_lines(capsys)
    assert (inbound["path"], inbound["call_sid"]) == ("/voice/inbound", sid)
    assert (done["path"], done["call_sid"], done["auth_id"]) == ("/voice/dial-complete", sid, tenant.auth_id)


def test_rate_limited_and_too_large_requests_are_logged_with_their_status(make_app, tenant, capsys):
    app = make_app(MASQ_RATE_LIMIT=2, MAX_CONTENT_LENGTH=100)
    client = app.test_client()
    capsys.readouterr()

    client.get(tenant.plivo_base, auth=tenant.basic)
    client.post("/v1/sessions", headers={"X-API-Key": tenant.api_key}, json={"pad": "a" * 200})
    client.get(tenant.plivo_base, auth=tenant.basic)

    assert [line["status"] for line in access_lines(capsys)] == [200, 413, 429]


# -- masking -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("call from +14155551234", "call from +14155****34"),
        ("+447911123456 rang 14155554321", "+447911****56 rang 14155****21"),
        ("first_party=%2B14155551234&x=1", "first_party=%2B14155****34&x=1"),
        ("tel:+2348011112222.", "tel:+2348011****22."),
        ("short +2901234 too", "short +2****34 too"),
    ],
)
def test_phone_numbers_in_messages_are_masked(text, shown):
    assert format_line(text)["message"] == shown
    assert format_line("%s", text)["message"] == shown


@pytest.mark.parametrize(
    "text",
    [
        "CA987ce6cd71aa4e929cb4af86a81523456789012",  # a CallSid ending in digits
        "1b4e28ba-2fa1-11d2-883f-001234567890",  # a uuid whose last group is all digits
        "at 1700000000123456 µs",  # a time in µs
        "MA12345678901234567X",  # an auth_id
        "took 1234567890.25 s",  # a decimal
        "expired 12 sessions",
    ],
)
def test_ids_times_and_counts_are_not_mistaken_for_phone_numbers(text):
    assert format_line(text)["message"] == text


@pytest.mark.parametrize(
    "text",
    [
        "/v1/Account/MAYTT2G2FO13HAVQWV1N/Masking/Session/8b1a9953-c461-4d7b-9f2a-2c1ddcc9b1f0/",
        "POST /v1/Account/MAYTT2G2FO13HAVQWV1N/Masking/Session/ 200",
        "x" * 500,
    ],
)
def test_long_text_without_numbers_or_credentials_is_written_as_is(text):
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "GET /v1/Account/MAYTT2G2FO13HAVQWV1N/Masking/Session/+14155551234 404",
            "GET /v1/Account/MAYTT2G2FO13HAVQWV1N/Masking/Session/+14155****34 404",
        ),
        (
            "a long line about a call, and then a number near its end: 14155554321",
            "a long line about a call, and then a number near its end: 14155****21",
        ),
        (
            "a long line with a token far along it: " + "Ab1" * 13 + "Z",
            "a long line with a token far along it: [redacted]",
        ),
    ],
)
def test_numbers_and_credentials_anywhere_in_long_text_are_still_hidden(text, shown):
    assert scrub(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("CA0123456789abcdef0123456789abcdef", "CA0123456789abcdef0123456789abcdef"),  # a CallSid
        ("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),  # a request id
        ("a1234567890", "a1234567890"),
        ("14155554321", "14155****21"),
        ("Ab1" * 13 + "Z", "[redacted]"),
        ("Ab1" * 13 + "Zq", "Ab1" * 13 + "Zq"),  # longer than a token
    ],
)
def test_a_single_word_is_hidden_only_when_it_is_a_number_or_a_token(text, shown):
    assert scrub(text) == shown


def test_phone_numbers_in_extra_fields_are_masked_at_any_depth():
    line = format_line(
        "dialled",
        caller="+14155551234",
        number=14155554321,
        legs={"to": ["+447911123456", "keep"]},
        session_uuid="1b4e28ba-2fa1-11d2-883f-001234567890",
    )

    assert line["caller"] == "+14155****34"
    assert line["number"] == "14155****21"
    assert line["legs"] == {"to": ["+447911****56", "keep"]}
    assert line["session_uuid"] == "1b4e28ba-2fa1-11d2-883f-001234567890"


def test_numbers_in_a_traceback_are_masked():
    try:
        raise ValueError(f"{FIRST} is not a valid phone number")
    except ValueError:
        record = logging.LogRecord("masq.test", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())

    line = json.loads(JsonFormatter().format(record))
    assert "+14155****34 is not a valid phone number" in line["exc"]
    assert FIRST not in json.dumps(line)


# -- secrets ----------------------------------------------------------------------------------------------------
def test_fields_named_like_secrets_are_never_written():
    line = format_line(
        "x",
        auth_token="s3cr3t",
        api_key="k",
        first_party_pin="1234",
        X_Twilio_Signature="sig",
        authorization="Basic Zm9vOmJhcg==",
        password="p",
    )

    assert {
        line[name]
        for name in ("auth_token", "api_key", "first_party_pin", "X_Twilio_Signature", "authorization", "password")
    } == {"[redacted]"}
    assert "s3cr3t" not in json.dumps(line)


def test_credentials_in_a_message_are_blanked(tenant):
    header = "Basic " + base64.b64encode(f"{tenant.auth_id}:{tenant.auth_token}".encode()).decode()

    text = scrub(f"token {tenant.auth_token} key {tenant.api_key} header {header}")

    assert text == "token [redacted] key [redacted] header [redacted]"


def test_no_secret_used_in_requests_reaches_the_log(client, store, tenant, capsys, monkeypatch):
    basic = base64.b64encode(f"{tenant.auth_id}:{tenant.auth_token}".encode()).decode()
    created = client.post(
        tenant.plivo_base,
        auth=tenant.basic,
        json={
            "first_party": FIRST,
            "second_party": SECOND,
            "is_pin_authentication_required": True,
            "first_party_pin": PIN,
            "second_party_pin": "86420975",
            "pin_prompt_play": "https://cdn.example.com/p.mp3",
            "force_pin_authentication": True,
        },
    ).get_json()
    client.get(tenant.plivo_base, auth=(tenant.auth_id, tenant.auth_token + "x"))
    client.get("/v1/did/assignments", headers={"X-API-Key": tenant.api_key})
    sid = new_sid()
    fields = inbound_fields(FIRST, created["virtual_number"], sid)
    signature = sign(PUBLIC + "/voice/inbound", fields)
    call(client, FIRST, created["virtual_number"], sid)
    post(client, f"/voice/pin-check?t={tenant.auth_id}&c={sid}", {"CallSid": sid, "Digits": PIN})

    def broken(*args: object) -> None:
        raise RuntimeError(f"failed with {tenant.auth_token} for {FIRST}")

    monkeypatch.setattr(inbound, "identify_caller", broken)
    monkeypatch.setattr(lifecycle, "get_session", broken)
    failed_sid = new_sid()
    call(client, FIRST, created["virtual_number"], failed_sid)
    client.get(f"/v1/sessions/{created['session_uuid']}", headers={"X-API-Key": tenant.api_key})

    written = capsys.readouterr().err
    for secret in (
        tenant.auth_token,
        tenant.api_key,
        basic,
        PIN,
        "86420975",
        signature,
        TOKEN,
        FIRST,
        FIRST.lstrip("+"),
        SECOND,
        SECOND.lstrip("+"),
    ):
        assert secret not in written
    parsed = [json.loads(line) for line in written.splitlines()]
    voice = next(line for line in parsed if line["message"] == "voice step /voice/inbound failed")
    assert voice["call_sid"] == failed_sid and "+14155****34" in voice["exc"]
    http = next(line for line in parsed if line["message"].startswith("unexpected error on GET /v1/sessions/"))
    assert (http["session_uuid"], http["auth_id"]) == (created["session_uuid"], tenant.auth_id)


# -- configuration -----------------------------------------------------------------------------------------------
def test_logging_is_configured_once_however_many_apps_are_built(make_app):
    for _ in range(3):
        make_app()
    configure_logging("WARNING")

    root = logging.getLogger()
    assert sum(isinstance(handler, StderrHandler) for handler in root.handlers) == 1
    assert root.level == logging.WARNING
    assert logging.getLogger("werkzeug").level == logging.getLogger("twilio.http_client").level == logging.WARNING
    configure_logging("INFO")


def test_the_worker_writes_json_lines(redis_url, real_store):
    tenant = make_tenant(real_store)
    queue_name = f"masqtest-{uuid.uuid4().hex[:8]}"
    connection = redis.Redis.from_url(redis_url)
    session_uuid = str(uuid.uuid4())
    job = Queue(queue_name, connection=connection).enqueue(
        "workers.outbound.call_first_party", tenant.auth_id, session_uuid, "https://masq.example.com/answer"
    )
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "QUEUE_REDIS_URL": redis_url,
        "MASQ_QUEUE": queue_name,
        "MASQ_KEY_PREFIX": real_store.keys.prefix,
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.audited_masq", "worker", "--burst", "--threads", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        job.delete()
        connection.close()

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    written = [json.loads(line) for line in done.stderr.splitlines()]
    assert {line["logger"] for line in written} >= {"masq.worker", "rq.worker", "masq.outbound"}
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in written)
    [skipped] = [line for line in written if line["logger"] == "masq.outbound"]
    assert (skipped["session_uuid"], skipped["auth_id"]) == (session_uuid, tenant.auth_id)
