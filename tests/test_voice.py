import pytest
import redis

from routing.calls import inbound
from routing.calls.history import read_calls
from routing.clock import now_us
from routing.sessions import lifecycle
from tests.conftest import outbox
from tests.sessions_helpers import credential
from tests.twilio_helpers import PUBLIC, call, new_sid, post, sign, verbs, xml

FIRST, SECOND, STRANGER = "+14155551234", "+14155554321", "+14155559999"


@pytest.fixture
def session(store, tenant):
    return lifecycle.open_session(
        store,
        credential(tenant),
        {
            "first_party": FIRST,
            "second_party": SECOND,
            "record": True,
            "second_party_play_url": "https://cdn.example.com/second.mp3",
        },
        now_us(),
    )


def steps(tenant, sid):
    return f"?t={tenant.auth_id}&c={sid}"


def test_a_signed_call_from_a_party_gets_a_dial_to_the_other(client, session):
    root = xml(call(client, FIRST, session.virtual_number))
    assert verbs(root) == ["Dial"]
    dial = root.find("Dial")
    assert dial.get("callerId") == session.virtual_number
    assert dial.find("Number").text == SECOND
    assert dial.get("record") == "record-from-answer-dual"


@pytest.mark.parametrize("signature", ["", "L/OH5YylLD5NRKLltdqwSvS0BnU=", None])
def test_a_bad_or_missing_signature_is_refused_and_changes_nothing(client, store, tenant, session, signature):
    params = {"CallSid": new_sid(), "From": FIRST, "To": session.virtual_number, "CallStatus": "ringing"}
    if signature is None:
        signature = sign(PUBLIC + "/voice/inbound", params, token="another-token")
    response = post(client, "/voice/inbound", params, signature=signature)
    assert response.status_code == 403
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).count == 0
    assert outbox(store, tenant.auth_id) == []


def test_a_signature_over_other_parameters_is_refused(client, session):
    params = {"CallSid": new_sid(), "From": FIRST, "To": session.virtual_number}
    signature = sign(PUBLIC + "/voice/inbound", {**params, "From": STRANGER})
    assert post(client, "/voice/inbound", params, signature=signature).status_code == 403


def test_the_signature_covers_the_public_url_not_the_one_behind_the_proxy(client, session):
    params = {"CallSid": new_sid(), "From": FIRST, "To": session.virtual_number}
    signature = sign("http://localhost/voice/inbound", params)
    assert post(client, "/voice/inbound", params, signature=signature).status_code == 403


def test_the_signature_covers_the_query_string(client, store, tenant, session):
    sid = new_sid()
    call(client, FIRST, session.virtual_number, sid)
    params = {"CallSid": new_sid(), "CallStatus": "ringing"}
    signature = sign(PUBLIC + "/voice/leg-status" + steps(tenant, sid), params)
    forged = post(client, "/voice/leg-status" + steps(tenant, new_sid()), params, signature=signature)
    assert forged.status_code == 403


def test_signature_checks_are_off_only_with_the_explicit_development_setting(make_app, session):
    app = make_app(MASQ_SKIP_TWILIO_SIGNATURE=True, TWILIO_AUTH_TOKEN="")
    response = app.test_client().post(
        "/voice/inbound", data={"CallSid": new_sid(), "From": FIRST, "To": session.virtual_number}
    )
    assert verbs(xml(response)) == ["Dial"]


def test_without_an_auth_token_every_webhook_is_refused(make_app, session):
    app = make_app(TWILIO_AUTH_TOKEN="")
    params = {"CallSid": new_sid(), "From": FIRST, "To": session.virtual_number}
    assert post(app.test_client(), "/voice/inbound", params, token="").status_code == 403


def test_a_call_to_a_number_without_a_session_is_rejected_unanswered(client, tenant):
    root = xml(call(client, FIRST, tenant.numbers[0]))
    assert verbs(root) == ["Reject"]


def test_a_second_call_during_a_live_one_hears_busy(client, session):
    call(client, FIRST, session.virtual_number)
    root = xml(call(client, SECOND, session.virtual_number))
    assert [(v.tag, v.get("reason")) for v in root] == [("Reject", "busy")]


def test_an_unknown_caller_hears_a_message_and_is_hung_up(client, session):
    assert verbs(xml(call(client, STRANGER, session.virtual_number))) == ["Say", "Hangup"]


def test_redis_down_still_gets_the_caller_an_apology(client, store, session, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(store.redis, "execute_command", down)
    root = xml(call(client, FIRST, session.virtual_number))
    assert verbs(root) == ["Say", "Hangup"]
    assert "sorry" in root[0].text.lower()
    assert "voice step /voice/inbound failed" in caplog.text


def test_a_bug_still_gets_the_caller_an_apology(client, session, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(inbound, "identify_caller", broken)
    assert verbs(xml(call(client, FIRST, session.virtual_number))) == ["Say", "Hangup"]


def test_a_pin_is_checked_at_its_own_step(client, store, tenant):
    session = lifecycle.open_session(
        store,
        credential(tenant),
        {
            "first_party": FIRST,
            "second_party": SECOND,
            "is_pin_authentication_required": True,
            "first_party_pin": "1234",
            "second_party_pin": "5678",
            "pin_prompt_play": "https://cdn.example.com/p.mp3",
        },
        now_us(),
    )
    sid = new_sid()
    gather = xml(call(client, STRANGER, session.virtual_number, sid)).find("Gather")
    assert gather.get("action") == PUBLIC + "/voice/pin-check" + steps(tenant, sid) + "#rc=3&rp=all"
    root = xml(post(client, gather.get("action"), {"CallSid": sid, "Digits": "5678"}))
    assert root.find("Dial/Number").text == FIRST
    assert root.find("Dial").get("answerOnBridge") is None


def test_the_whisper_step_plays_the_dialled_partys_url(client, tenant, session):
    sid = new_sid()
    whisper = xml(call(client, FIRST, session.virtual_number, sid)).find("Dial/Number").get("url")
    root = xml(post(client, whisper, {"CallSid": new_sid(), "ParentCallSid": sid, "CallStatus": "in-progress"}))
    assert [(v.tag, v.text) for v in root] == [("Play", "https://cdn.example.com/second.mp3")]


def test_status_callbacks_answer_204_and_replays_change_nothing(client, store, tenant, session):
    sid, leg = new_sid(), new_sid()
    dial = xml(call(client, FIRST, session.virtual_number, sid)).find("Dial")
    leg_status, recording = dial.find("Number").get("statusCallback"), dial.get("recordingStatusCallback")
    callbacks = [
        (leg_status, {"CallSid": leg, "ParentCallSid": sid, "CallStatus": s, "CallDuration": "30"})
        for s in ("initiated", "ringing", "in-progress", "completed")
    ]
    callbacks.append(
        (
            recording,
            {
                "CallSid": sid,
                "RecordingSid": new_sid("RE"),
                "RecordingStatus": "completed",
                "RecordingUrl": "https://api.twilio.com/rec",
                "RecordingDuration": "29",
            },
        )
    )
    for url, params in callbacks:
        assert post(client, url, params).status_code == 204
    before = outbox(store, tenant.auth_id)
    for url, params in callbacks:
        assert post(client, url, params).status_code == 204
    assert outbox(store, tenant.auth_id) == before
    assert [e["EventName"] for e in before][-1] == "SessionRecordingCompleted"


def test_the_dial_action_ends_the_interaction_and_hangs_up(client, store, tenant, session):
    sid = new_sid()
    action = xml(call(client, FIRST, session.virtual_number, sid)).find("Dial").get("action")
    params = {
        "CallSid": sid,
        "DialCallStatus": "completed",
        "DialCallSid": new_sid(),
        "DialCallDuration": "65",
        "DialBridged": "true",
    }
    assert verbs(xml(post(client, action, params))) == ["Hangup"]
    assert verbs(xml(post(client, action, params))) == ["Hangup"]
    assert [e["EventName"] for e in outbox(store, tenant.auth_id)].count("SessionPartiesHangup") == 1
    assert not read_calls(store, tenant.auth_id, session.session_uuid, now_us()).in_call(now_us())


def test_a_status_callback_that_names_no_call_is_a_bad_request(client):
    assert post(client, "/voice/leg-status?t=nobody&c=x y", {"CallStatus": "ringing"}).status_code == 400


def test_a_status_callback_masq_cannot_store_asks_the_carrier_to_retry(client, store, tenant, session, monkeypatch):
    sid = new_sid()
    call(client, FIRST, session.virtual_number, sid)

    def down(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(store.redis, "execute_command", down)
    response = post(client, "/voice/leg-status" + steps(tenant, sid), {"CallSid": new_sid(), "CallStatus": "ringing"})
    assert response.status_code == 503


def test_the_plivo_session_shows_in_progress_during_a_call_and_the_totals_after(client, store, tenant, session):
    sid = new_sid()
    action = xml(call(client, FIRST, session.virtual_number, sid)).find("Dial").get("action")
    live = client.get(tenant.plivo_base + session.session_uuid, auth=tenant.basic).get_json()["response"]
    assert (live["status"], live["total_call_count"]) == ("in-progress", 1)
    post(
        client,
        action,
        {"CallSid": sid, "DialCallStatus": "completed", "DialCallSid": new_sid(), "DialCallDuration": "61"},
    )
    done = client.get(tenant.plivo_base + session.session_uuid, auth=tenant.basic).get_json()["response"]
    assert done["status"] == "active"
    assert done["total_call_billed_duration"] == 120 + 120
    assert done["total_call_amount"] == 0.02 and done["total_session_amount"] == 0.02
    assert done["last_interaction_time"].endswith("+0000 UTC")
    [interaction] = done["interaction"]
    assert interaction["first_party_resource_url"] == f"{PUBLIC}/v1/Account/{tenant.auth_id}/Call/{sid}/"
    assert interaction["second_party_status"] == "completed"
