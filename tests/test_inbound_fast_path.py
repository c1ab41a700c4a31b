"""The inbound webhook's fast path answers signed carrier requests itself, exactly as the Flask view would,
and hands every other request to that view."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from app import create_app
from app.inbound_fast_path import Form, InboundFastPath
from routing.clock import now_us
from routing.sessions import lifecycle
from tests.conftest import count_view
from tests.sessions_helpers import credential
from tests.twilio_helpers import PUBLIC, TOKEN, call, inbound_fields, new_sid, post, sign, verbs, xml

FIRST, SECOND, STRANGER = "+14155551234", "+14155554321", "+14155559999"
URL = PUBLIC + "/voice/inbound"


def build(store, **config) -> Flask:
    return create_app(
        {"STORE": store, "TESTING": True, "MASQ_PUBLIC_URL": PUBLIC, "TWILIO_AUTH_TOKEN": TOKEN, **config}
    )


@pytest.fixture
def app(store):
    return build(store)


@pytest.fixture
def flask_views(app, monkeypatch):
    """Count the requests the Flask view at /voice/inbound answers."""
    return count_view(app, monkeypatch, "voice.inbound")


def open_session(store, tenant, **options):
    return lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND, **options}, now_us()
    )


def raw_post(client, body: bytes, content_type: str, signature: str, path: str = "/voice/inbound"):
    return client.post(path, data=body, content_type=content_type, headers={"X-Twilio-Signature": signature})


def test_a_signed_call_is_answered_without_the_flask_view(client, store, tenant, flask_views, capsys):
    session = open_session(store, tenant, record=True)
    capsys.readouterr()

    response = call(client, FIRST, session.virtual_number, headers={"X-Request-Id": "lb-7.abc"})

    root = xml(response)
    assert root.find("Dial/Number").text == SECOND
    assert root.find("Dial").get("callerId") == session.virtual_number
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert response.headers["X-Request-Id"] == "lb-7.abc"
    assert flask_views == []
    [line] = [json.loads(text) for text in capsys.readouterr().err.splitlines() if '"masq.access"' in text]
    assert (line["method"], line["path"], line["status"], line["request_id"]) == (
        "POST",
        "/voice/inbound",
        200,
        "lb-7.abc",
    )
    assert line["call_sid"].startswith("CA") and line["duration_ms"] >= 0


def test_the_fast_path_records_the_webhook_latency(client, store, tenant):
    session = open_session(store, tenant)
    call(client, FIRST, session.virtual_number)

    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'masq_webhook_seconds_count{step="voice.inbound"} 1.0' in metrics


def test_every_decision_is_the_one_the_flask_view_makes(store, tenant):
    """The same calls, once through the fast path and once through the view alone, get the same TwiML."""
    fast, plain = build(store).test_client(), build(store)
    plain.wsgi_app = plain.extensions["masq.flask_wsgi"]  # type: ignore[method-assign]
    plain_client = plain.test_client()
    cases = [
        ({"record": True, "first_party_play_url": "https://cdn.example.com/a.mp3"}, FIRST),
        ({"second_party_play_url": "https://cdn.example.com/b.mp3"}, SECOND),
        ({}, STRANGER),
        ({"unknown_caller_play": "https://cdn.example.com/u.mp3"}, STRANGER),
        (
            {
                "is_pin_authentication_required": True,
                "first_party_pin": "1234",
                "second_party_pin": "5678",
                "pin_prompt_play": "https://cdn.example.com/p.mp3",
            },
            STRANGER,
        ),
        ({}, "anonymous"),
    ]
    for options, caller in cases:
        answers = []
        for client in (fast, plain_client):
            session, sid = open_session(store, tenant, **options), new_sid()
            body = call(client, caller, session.virtual_number, sid).get_data(as_text=True)
            answers.append(body.replace(sid, "SID").replace(session.virtual_number, "DID"))
            lifecycle.end_session(store, tenant.auth_id, session.session_uuid, now_us())
        assert answers[0] == answers[1], (options, caller)
    for client in (fast, plain_client):
        assert verbs(xml(call(client, FIRST, "+14155550000"))) == ["Reject"]  # no session on that number


def test_a_second_call_on_a_live_session_hears_busy(client, store, tenant, flask_views):
    session = open_session(store, tenant)
    call(client, FIRST, session.virtual_number)

    root = xml(call(client, SECOND, session.virtual_number))

    assert root.find("Reject").get("reason") == "busy"
    assert flask_views == []


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", sign(URL, {"CallSid": "CAx"})])
def test_a_bad_or_missing_signature_goes_to_the_flask_view_which_refuses_it(
    client, store, tenant, flask_views, signature
):
    session = open_session(store, tenant)
    response = call(client, FIRST, session.virtual_number, signature=signature)
    assert response.status_code == 403 and response.is_json
    assert flask_views == [1]


def test_without_an_auth_token_the_flask_view_refuses(store, tenant):
    session = open_session(store, tenant)
    client = build(store, TWILIO_AUTH_TOKEN="").test_client()
    assert call(client, FIRST, session.virtual_number).status_code == 403


def test_with_signature_checks_off_the_fast_path_answers_unsigned_calls(store, tenant):
    session = open_session(store, tenant)
    client = build(store, MASQ_SKIP_TWILIO_SIGNATURE=True).test_client()
    assert verbs(xml(call(client, FIRST, session.virtual_number, signature=""))) == ["Dial"]


def test_a_signature_made_for_the_url_with_its_port_is_checked_by_the_flask_view(client, store, tenant, flask_views):
    session = open_session(store, tenant)
    response = post(client, "https://masq.example.com:443/voice/inbound", inbound_fields(FIRST, session.virtual_number))
    assert verbs(xml(response)) == ["Dial"]
    assert flask_views == [1]


def test_the_signature_covers_the_query_string_on_the_fast_path_too(client, store, tenant, flask_views):
    session = open_session(store, tenant)
    fields = inbound_fields(FIRST, session.virtual_number)
    assert verbs(xml(post(client, URL + "?region=eu", fields))) == ["Dial"]
    assert flask_views == []
    forged = sign(URL + "?region=us", fields)
    assert post(client, URL + "?region=eu", fields, signature=forged).status_code == 403


def test_a_field_given_twice_is_signed_with_both_values(client, store, tenant, flask_views):
    session = open_session(store, tenant)
    fields = list(inbound_fields(FIRST, session.virtual_number).items()) + [("Called", "+14155550001")]
    body = urlencode(fields).encode()
    signature = RequestValidator(TOKEN).compute_signature(URL, Form.parse(body))  # all values of each field
    assert verbs(xml(raw_post(client, body, "application/x-www-form-urlencoded", signature))) == ["Dial"]
    assert flask_views == []


def test_other_content_types_go_to_the_flask_view(client, store, tenant, flask_views):
    session = open_session(store, tenant)
    fields = inbound_fields(FIRST, session.virtual_number)
    response = client.post(
        "/voice/inbound",
        data=fields,
        content_type="multipart/form-data",
        headers={"X-Twilio-Signature": sign(URL, fields)},
    )
    assert verbs(xml(response)) == ["Dial"]
    assert flask_views == [1]


def test_a_body_over_the_limit_is_refused_by_the_flask_view(store, tenant):
    client = build(store, MAX_CONTENT_LENGTH=256).test_client()
    fields = {**inbound_fields(FIRST, "+14155550000"), "Padding": "x" * 300}
    assert post(client, "/voice/inbound", fields).status_code == 413


def test_a_body_that_is_not_utf8_goes_to_the_flask_view(client, flask_views):
    response = raw_post(client, b"CallSid=CA1&From=%2B1415\xff", "application/x-www-form-urlencoded", "x")
    assert response.status_code == 403
    assert flask_views == [1]


def test_other_methods_and_paths_are_flasks(client):
    assert client.get("/voice/inbound").status_code == 405
    assert client.post("/voice/inbound/").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_a_failure_inside_masq_still_gets_the_caller_an_apology(client, store, tenant, monkeypatch, capsys):
    session = open_session(store, tenant)

    def down(*args, **kwargs):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(store.redis, "execute_command", down)
    capsys.readouterr()
    root = xml(call(client, FIRST, session.virtual_number))

    assert verbs(root) == ["Say", "Hangup"]
    logged = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    [failure] = [line for line in logged if line["logger"] == "masq.voice"]
    assert failure["message"] == "voice step /voice/inbound failed" and "exc" in failure
    assert failure["call_sid"].startswith("CA") and failure["request_id"]


def test_the_form_reads_like_werkzeugs():
    form = Form.parse(b"A=1&B=&A=2&C=%2B1%20x&D=%E2%82%AC")
    assert form.getall("A") == ["1", "2"] and form.first("A") == "1"
    assert form.first("B") == "" and form.first("missing") == ""
    assert form.first("C") == "+1 x" and form.first("D") == "\u20ac"


def test_the_fast_path_wraps_flask_once(app):
    wrappers = []
    wsgi = app.wsgi_app
    while hasattr(wsgi, "flask_wsgi"):
        wrappers.append(type(wsgi))
        wsgi = wsgi.flask_wsgi
    assert wrappers.count(InboundFastPath) == 1
    assert wsgi == app.extensions["masq.flask_wsgi"]


def test_a_failure_before_the_decision_is_left_to_the_flask_view(client, store, tenant, flask_views, monkeypatch):
    session = open_session(store, tenant)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Form, "parse", broken)

    assert verbs(xml(call(client, FIRST, session.virtual_number))) == ["Dial"]
    assert flask_views == [1]
