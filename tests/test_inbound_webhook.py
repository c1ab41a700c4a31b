"""The inbound-call webhook, `/voice/inbound`: answered in front of Flask, with the app's own edge functions."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from app.edge import Edge
from app.inbound_webhook import InboundWebhook
from app.twilio_signature import Fields, public_url, valid_signature
from routing.calls import inbound
from routing.clock import now_us
from routing.sessions import lifecycle
from tests.sessions_helpers import credential
from tests.twilio_helpers import PUBLIC, TOKEN, call, inbound_fields, post, sign, verbs, xml

FIRST, SECOND, STRANGER = "+14155551234", "+14155554321", "+14155559999"
URL = PUBLIC + "/voice/inbound"
FORM = "application/x-www-form-urlencoded"


def open_session(store, tenant, **options):
    parties = {"first_party": FIRST, "second_party": SECOND, **options}
    return lifecycle.open_session(store, credential(tenant), parties, now_us())


def raw_post(client, body: bytes, content_type: str, signature: str):
    return client.post(
        "/voice/inbound", data=body, content_type=content_type, headers={"X-Twilio-Signature": signature}
    )


def access_lines(capsys) -> list[dict]:
    return [json.loads(text) for text in capsys.readouterr().err.splitlines() if '"masq.access"' in text]


# -- a call --------------------------------------------------------------------------------------------------
def test_a_signed_call_is_bridged_with_the_request_id_and_one_access_line(client, store, tenant, capsys):
    session = open_session(store, tenant, record=True)
    capsys.readouterr()

    response = call(client, FIRST, session.virtual_number, headers={"X-Request-Id": "lb-7.abc"})

    root = xml(response)
    assert root.find("Dial/Number").text == SECOND
    assert root.find("Dial").get("callerId") == session.virtual_number
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert response.headers["X-Request-Id"] == "lb-7.abc"
    [line] = access_lines(capsys)
    assert (line["method"], line["path"], line["status"], line["request_id"]) == (
        "POST",
        "/voice/inbound",
        200,
        "lb-7.abc",
    )
    assert line["call_sid"].startswith("CA") and line["duration_ms"] >= 0


def test_every_call_is_timed_in_the_webhook_latency(make_app, store, tenant):
    token = "t" * 32
    client = make_app(MASQ_METRICS_TOKEN=token).test_client()
    session = open_session(store, tenant)
    call(client, FIRST, session.virtual_number)
    call(client, FIRST, session.virtual_number, signature="")

    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    assert 'masq_webhook_seconds_count{step="voice.inbound"} 2.0' in metrics


@pytest.mark.parametrize(
    ("options", "caller", "expected"),
    [
        ({"record": True, "first_party_play_url": "https://cdn.example.com/a.mp3"}, FIRST, ["Play", "Dial"]),
        ({}, SECOND, ["Dial"]),
        ({}, STRANGER, ["Say", "Hangup"]),
        ({"unknown_caller_play": "https://cdn.example.com/u.mp3"}, STRANGER, ["Play", "Hangup"]),
        (
            {
                "is_pin_authentication_required": True,
                "first_party_pin": "1234",
                "second_party_pin": "5678",
                "pin_prompt_play": "https://cdn.example.com/p.mp3",
            },
            STRANGER,
            ["Gather"],
        ),
        ({}, "anonymous", ["Say", "Hangup"]),
    ],
)
def test_the_answer_is_the_domains_decision_as_twiml(client, store, tenant, options, caller, expected):
    session = open_session(store, tenant, **options)
    assert verbs(xml(call(client, caller, session.virtual_number))) == expected


@pytest.mark.parametrize("call_sid", ["CA", "CA" + "0" * 33, "ca" + "0" * 32, "CA" + "Z" * 32, "CA 1", "CA-1"])
def test_a_call_with_a_malformed_call_sid_is_rejected_and_recorded_nowhere(client, store, tenant, call_sid):
    session = open_session(store, tenant)
    root = xml(call(client, FIRST, session.virtual_number, call_sid))
    assert [verb.tag for verb in root] == ["Reject"]
    assert verbs(xml(call(client, FIRST, session.virtual_number))) == ["Dial"]  # the session was left free


def test_a_number_without_a_session_is_rejected_and_a_second_call_hears_busy(client, store, tenant):
    assert verbs(xml(call(client, FIRST, "+14155550000"))) == ["Reject"]
    session = open_session(store, tenant)
    call(client, FIRST, session.virtual_number)
    assert xml(call(client, SECOND, session.virtual_number)).find("Reject").get("reason") == "busy"


def test_a_call_takes_at_most_two_redis_round_trips(client, store, tenant, monkeypatch):
    store.did_owners.clear()  # a process that has seen none of these DIDs yet
    seen, session = open_session(store, tenant), open_session(store, tenant)
    call(client, STRANGER, seen.virtual_number)  # loads the scripts, as a process's first call does
    sent: list[str] = []
    send = store.redis.execute_command

    def counting(*args, **options):
        sent.append(str(args[0]))
        return send(*args, **options)

    monkeypatch.setattr(store.redis, "execute_command", counting)
    assert verbs(xml(call(client, FIRST, session.virtual_number))) == ["Dial"]
    assert sent == ["GET", "EVALSHA"]  # the DID's owner (not yet known to this process), then the decision


# -- the signature ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", sign(URL, {"CallSid": "CAx"})])
def test_a_bad_or_missing_signature_is_a_403_that_changes_nothing(client, store, tenant, signature, capsys):
    session = open_session(store, tenant)
    capsys.readouterr()

    response = call(client, FIRST, session.virtual_number, signature=signature, headers={"X-Request-Id": "lb-1"})

    assert response.status_code == 403 and set(response.get_json()) == {"api_id", "error"}
    assert response.headers["X-Request-Id"] == "lb-1"
    assert verbs(xml(call(client, FIRST, session.virtual_number))) == ["Dial"]  # the session is still free
    err = capsys.readouterr().err
    assert "bad or missing X-Twilio-Signature on /voice/inbound" in err
    assert [
        (line["status"], line["request_id"])
        for line in map(json.loads, err.splitlines())
        if line["logger"] == "masq.access"
    ][0] == (403, "lb-1")


def test_without_an_auth_token_every_call_is_refused(make_app, store, tenant, capsys):
    session = open_session(store, tenant)
    client = make_app(TWILIO_AUTH_TOKEN="").test_client()
    assert call(client, FIRST, session.virtual_number, token="").status_code == 403
    assert "TWILIO_AUTH_TOKEN is not set" in capsys.readouterr().err


def test_with_signature_checks_off_unsigned_calls_are_answered(make_app, store, tenant):
    session = open_session(store, tenant)
    client = make_app(MASQ_SKIP_TWILIO_SIGNATURE=True).test_client()
    assert verbs(xml(call(client, FIRST, session.virtual_number, signature=""))) == ["Dial"]


def test_a_signature_made_for_the_url_with_its_port_is_accepted(client, store, tenant):
    session = open_session(store, tenant)
    response = post(client, "https://masq.example.com:443/voice/inbound", inbound_fields(FIRST, session.virtual_number))
    assert verbs(xml(response)) == ["Dial"]


def test_the_signature_covers_the_query_string(client, store, tenant):
    session = open_session(store, tenant)
    fields = inbound_fields(FIRST, session.virtual_number)
    assert verbs(xml(post(client, URL + "?region=eu", fields))) == ["Dial"]
    forged = sign(URL + "?region=us", fields)
    assert post(client, URL + "?region=eu", fields, signature=forged).status_code == 403


def test_a_field_given_twice_is_signed_with_both_values(client, store, tenant):
    session = open_session(store, tenant)
    fields = list(inbound_fields(FIRST, session.virtual_number).items()) + [("Called", "+14155550001")]
    signature = RequestValidator(TOKEN).compute_signature(URL, MultiDict(fields))  # every value of each field
    assert verbs(xml(raw_post(client, urlencode(fields).encode(), FORM, signature))) == ["Dial"]


def test_the_signature_check_is_one_function_of_the_url_the_form_and_the_token():
    form = {"CallSid": "CA1", "From": FIRST}
    url = public_url("https://masq.example.com/", "/voice/inbound", "a=%2F")
    assert url == "https://masq.example.com/voice/inbound?a=%2F"
    fields = Fields({name: [value] for name, value in form.items()})
    assert valid_signature(url, fields, sign(url, form), TOKEN)
    assert valid_signature(url.replace(".com/", ".com:443/"), fields, sign(url, form), TOKEN)
    assert not valid_signature(url, fields, sign(url, form, token="other"), TOKEN)
    assert not valid_signature(url, Fields({**fields, "From": [SECOND]}), sign(url, form), TOKEN)


# -- requests that are not a call ---------------------------------------------------------------------------------
def test_a_multipart_form_is_read_as_the_views_read_it(client, store, tenant):
    session = open_session(store, tenant)
    fields = inbound_fields(FIRST, session.virtual_number)
    response = client.post(
        "/voice/inbound",
        data=fields,
        content_type="multipart/form-data",
        headers={"X-Twilio-Signature": sign(URL, fields)},
    )
    assert verbs(xml(response)) == ["Dial"]


def test_a_body_that_is_not_a_form_is_a_403(client):
    fields = inbound_fields(FIRST, "+14155550000")
    assert raw_post(client, json.dumps(fields).encode(), "application/json", sign(URL, fields)).status_code == 403


def test_a_body_over_the_limit_is_a_413(make_app, store, capsys):
    client = make_app(MAX_CONTENT_LENGTH=256).test_client()
    fields = {**inbound_fields(FIRST, "+14155550000"), "Padding": "x" * 300}
    response = post(client, "/voice/inbound", fields)
    assert response.status_code == 413 and set(response.get_json()) == {"api_id", "error"}
    assert [line["status"] for line in access_lines(capsys)] == [413]


def test_a_body_that_is_not_utf8_is_a_403(client):
    response = raw_post(client, b"CallSid=CA1&From=%2B1415\xff", FORM, "x")
    assert response.status_code == 403 and response.is_json


def test_other_methods_are_a_405_that_names_post_and_other_paths_are_flasks(client):
    refused = client.get("/voice/inbound")
    assert refused.status_code == 405 and "POST" in refused.headers["Allow"]
    assert set(refused.get_json()) == {"api_id", "error"}
    assert client.post("/voice/inbound/").status_code == 404
    assert client.get("/healthz").status_code == 200


# -- failures inside masq ----------------------------------------------------------------------------------------
def test_a_failure_inside_masq_gets_the_caller_a_logged_apology(client, store, tenant, monkeypatch, capsys):
    session = open_session(store, tenant)

    def down(*args, **kwargs):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(store.redis, "execute_command", down)
    capsys.readouterr()
    root = xml(call(client, FIRST, session.virtual_number, headers={"X-Request-Id": "lb-2"}))

    assert verbs(root) == ["Say", "Hangup"]
    logged = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    [failure] = [line for line in logged if line["logger"] == "masq.voice"]
    assert failure["message"] == "voice step /voice/inbound failed" and "exc" in failure
    assert failure["call_sid"].startswith("CA") and failure["request_id"] == "lb-2"


def test_a_bug_before_the_decision_still_gets_the_caller_an_apology(client, store, tenant, monkeypatch):
    session = open_session(store, tenant)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(inbound, "incoming_call", broken)
    assert verbs(xml(call(client, FIRST, session.virtual_number))) == ["Say", "Hangup"]


def test_the_handler_is_in_front_of_flask_once_behind_the_edge(app):
    assert isinstance(app.wsgi_app, Edge)
    assert isinstance(app.wsgi_app.inner, InboundWebhook)
    assert not isinstance(app.wsgi_app.inner.inner, InboundWebhook | Edge)
    assert not any(rule.rule == "/voice/inbound" for rule in app.url_map.iter_rules())
