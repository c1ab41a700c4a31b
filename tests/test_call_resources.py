"""The Call and Recording resources a session's interactions and recording events point to: found, shaped, private."""

from __future__ import annotations

from decimal import Decimal

import jsonschema_rs
import pytest

from app import openapi
from app.openapi.plivo_calls import PLIVO_CALL, PLIVO_RECORDING
from routing.calls import inbound, resources
from routing.calls.carrier_reports import LegStatus, RecordingStatus, record_leg_status, record_recording
from routing.clock import US, now_us, voice_time
from routing.errors import NotFound
from routing.sessions import lifecycle
from tests.conftest import make_tenant, outbox
from tests.sessions_helpers import credential
from tests.test_outbound import answer
from tests.twilio_helpers import PUBLIC, call, new_sid, post, xml

FIRST, SECOND = "+14155551234", "+14155554321"
T0 = now_us() // US * US
SCHEMAS = {
    kind: jsonschema_rs.validator_for(
        openapi.document()["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    )
    for kind, path in (("Call", PLIVO_CALL), ("Recording", PLIVO_RECORDING))
}


def open_session(store, tenant, **fields):
    parties = {"first_party": FIRST, "second_party": SECOND, "record": True, **fields}
    return lifecycle.open_session(store, credential(tenant), parties, now_us())


def talk(store, tenant, seconds=61):
    """A call from FIRST, answered by SECOND at T0 + 5 s, talked `seconds` and recorded: (session, sid, leg, rec)."""
    session = open_session(store, tenant)
    sid, leg, rec = new_sid(), new_sid(), new_sid("RE")
    inbound.identify_caller(store, inbound.incoming_call(sid, FIRST, session.virtual_number), T0)
    for status, at in (("initiated", 1), ("ringing", 2), ("in-progress", 5)):
        record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, status), T0 + at * US)
    started = RecordingStatus(sid, rec, "in-progress", started=T0 + 5 * US)
    record_recording(store, tenant.auth_id, started, T0 + 5 * US, PUBLIC)
    end = T0 + (5 + seconds) * US
    record_leg_status(store, tenant.auth_id, LegStatus(sid, leg, "completed", seconds), end)
    url = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{rec}"
    done = RecordingStatus(sid, rec, "completed", url, seconds, started=T0 + 5 * US)
    record_recording(store, tenant.auth_id, done, end + US, PUBLIC)
    return session, sid, leg, rec


# -- what masq knows of each leg and recording ----------------------------------------------------------------
def test_the_callers_leg_is_the_inbound_call_to_the_virtual_number(store, tenant):
    session, sid, leg, _ = talk(store, tenant)

    found = resources.find_call(store, tenant.auth_id, sid)

    assert found == resources.CallLeg(
        call_uuid=sid,
        parent_call_uuid=None,
        direction="inbound",
        from_number=FIRST,
        to_number=session.virtual_number,
        initiated=T0,
        answered=T0 + 5 * US,
        ended=T0 + 66 * US,
        duration=61,
        billed=120,
        amount=Decimal("0.0100"),
        rate=Decimal("0.0050"),
        hangup_cause="Normal Hangup",
        hangup_cause_code=4000,
    )


def test_the_dialled_leg_goes_out_from_the_virtual_number_under_the_callers(store, tenant):
    session, sid, leg, _ = talk(store, tenant)

    found = resources.find_call(store, tenant.auth_id, leg)

    assert found == resources.CallLeg(
        call_uuid=leg,
        parent_call_uuid=sid,
        direction="outbound",
        from_number=session.virtual_number,
        to_number=SECOND,
        initiated=T0 + US,
        answered=T0 + 5 * US,
        ended=T0 + 66 * US,
        duration=61,
        billed=120,
        amount=Decimal("0.0100"),
        rate=Decimal("0.0050"),
        hangup_cause="Normal Hangup",
        hangup_cause_code=4000,
    )


def test_the_recording_is_the_bridge_from_its_start_to_its_end_in_the_sessions_format(store, tenant):
    _, sid, _, rec = talk(store, tenant)

    found = resources.find_recording(store, tenant.auth_id, rec)

    assert found == resources.Recording(
        recording_id=rec,
        call_uuid=sid,
        from_number=FIRST,
        to_number=SECOND,
        url=f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{rec}.mp3",
        file_format="mp3",
        started=T0 + 5 * US,
        ended=T0 + 66 * US,
        duration=61,
    )


def test_a_leg_charged_keeps_the_rate_it_was_charged_at(store, tenant):
    _, sid, leg, _ = talk(store, tenant)
    store.redis.hset(store.keys.tenant(tenant.auth_id), "call_rate_per_minute", "0.0200")

    assert resources.find_call(store, tenant.auth_id, leg).rate == Decimal("0.0050")


@pytest.mark.parametrize("id_of", ["unknown", "malformed", "recording as a call", "another tenant's"])
def test_an_id_that_is_not_one_of_the_tenants_calls_is_not_found(store, tenant, id_of):
    _, sid, _, rec = talk(store, tenant)
    other = make_tenant(store, ["+14155550110"], name="globex")
    _, theirs, _, _ = talk(store, other)
    call_uuid = {"unknown": new_sid(), "malformed": "CA../x", "recording as a call": rec, "another tenant's": theirs}

    with pytest.raises(NotFound):
        resources.find_call(store, tenant.auth_id, call_uuid[id_of])
    with pytest.raises(NotFound):
        resources.find_recording(store, tenant.auth_id, sid if id_of == "recording as a call" else call_uuid[id_of])


def test_the_ids_lead_to_the_call_for_as_long_as_it_is_kept(store, tenant):
    _, sid, leg, rec = talk(store, tenant)
    kept = store.redis.pttl(store.keys.interaction(tenant.auth_id, sid))

    for key in (store.keys.leg(tenant.auth_id, leg), store.keys.recording(tenant.auth_id, rec)):
        assert store.redis.get(key) == sid
        # Set from the call's TTL, never past it: the script copies a TTL it read, so the copy's end can fall within
        # the millisecond after the call's (its clock moved between the read and the write).
        assert -1 <= kept - store.redis.pttl(key) < 60_000


# -- over HTTP ----------------------------------------------------------------------------------------------
def resource(client, tenant, url, auth=None):
    """GET an absolute URL masq gave, on the test app."""
    assert url.startswith(PUBLIC + "/v1/Account/")
    return client.get(url.removeprefix(PUBLIC), auth=auth or tenant.basic)


def bridged_over_webhooks(client, store, tenant):
    """Call the session's number from FIRST; SECOND answers, talks 61 s, and the call is recorded. Return the
    session as the API shows it."""
    session = open_session(store, tenant)
    sid, leg, rec = new_sid(), new_sid(), new_sid("RE")
    dial = xml(call(client, FIRST, session.virtual_number, sid)).find("Dial")
    for status in ("initiated", "ringing", "in-progress", "completed"):
        fields = {"CallSid": leg, "ParentCallSid": sid, "CallStatus": status, "CallDuration": "61"}
        assert post(client, dial.find("Number").get("statusCallback"), fields).status_code == 204
    fields = {
        "CallSid": sid,
        "RecordingSid": rec,
        "RecordingStatus": "completed",
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{rec}",
        "RecordingDuration": "61",
    }
    assert post(client, dial.get("recordingStatusCallback"), fields).status_code == 204
    return client.get(tenant.plivo_base + session.session_uuid, auth=tenant.basic).get_json()["response"]


def test_an_interactions_urls_are_absolute_and_answer_the_tenants_credentials(client, store, tenant):
    shown = bridged_over_webhooks(client, store, tenant)
    [interaction] = shown["interaction"]

    first = resource(client, tenant, interaction["first_party_resource_url"])
    second = resource(client, tenant, interaction["second_party_resource_url"])
    recording = resource(client, tenant, interaction["recording_resource_url"])

    assert (first.status_code, second.status_code, recording.status_code) == (200, 200, 200)
    caller, callee, rec = first.get_json(), second.get_json(), recording.get_json()
    for kind, body in (("Call", caller), ("Call", callee), ("Recording", rec)):
        assert SCHEMAS[kind].is_valid(body), list(SCHEMAS[kind].iter_errors(body))
    assert interaction["first_party_resource_url"] == PUBLIC + caller["resource_uri"]
    assert interaction["second_party_resource_url"] == PUBLIC + callee["resource_uri"]
    assert interaction["recording_resource_url"] == PUBLIC + rec["resource_uri"]
    assert (caller["from_number"], caller["to_number"]) == (FIRST[1:], shown["virtual_number"])
    assert (callee["from_number"], callee["to_number"]) == (shown["virtual_number"], SECOND[1:])
    assert (caller["call_direction"], callee["call_direction"]) == ("inbound", "outbound")
    assert callee["parent_call_uuid"] == caller["call_uuid"] and caller["parent_call_uuid"] is None
    assert (callee["bill_duration"], callee["billed_duration"], callee["total_amount"]) == (61, 120, "0.01000")
    assert callee["total_rate"] == "0.00500" and callee["hangup_cause_name"] == "Normal Hangup"
    assert caller["answer_time"] is not None and caller["end_time"] is not None
    assert (rec["call_uuid"], rec["recording_format"], rec["recording_type"]) == (caller["call_uuid"], "mp3", "call")
    assert rec["recording_url"].endswith(".mp3")
    assert (rec["recording_duration_ms"], rec["rounded_recording_duration"]) == ("61000.00000", 120)
    assert (rec["recording_storage_duration"], rec["recording_storage_rate"]) == (1, 0)
    assert (rec["from_number"], rec["to_number"]) == (FIRST[1:], SECOND[1:])


def test_the_recording_event_gives_the_recordings_resource_url(client, store, tenant):
    bridged_over_webhooks(client, store, tenant)
    [event] = [e for e in outbox(store, tenant.auth_id) if e["EventName"] == "SessionRecordingCompleted"]

    assert event["RecordingResourceURL"] == f"{PUBLIC}/v1/Account/{tenant.auth_id}/Recording/{event['RecordingUUID']}/"
    got = resource(client, tenant, event["RecordingResourceURL"]).get_json()
    assert (got["recording_id"], got["recording_url"]) == (event["RecordingUUID"], event["RecordingURL"])


def test_a_call_in_progress_shows_what_has_happened_so_far(client, store, tenant):
    session = open_session(store, tenant)
    sid, leg = new_sid(), new_sid()
    dial = xml(call(client, FIRST, session.virtual_number, sid)).find("Dial")
    for status in ("initiated", "ringing", "in-progress"):
        post(client, dial.find("Number").get("statusCallback"), {"CallSid": leg, "CallStatus": status})

    caller = client.get(f"/v1/Account/{tenant.auth_id}/Call/{sid}/", auth=tenant.basic).get_json()
    callee = client.get(f"/v1/Account/{tenant.auth_id}/Call/{leg}", auth=tenant.basic).get_json()

    for body in (caller, callee):
        assert SCHEMAS["Call"].is_valid(body), list(SCHEMAS["Call"].iter_errors(body))
        assert body["answer_time"] is not None
        assert (body["end_time"], body["hangup_cause_name"], body["bill_duration"]) == (None, None, 0)
        assert (body["total_amount"], body["total_rate"]) == ("0.00000", "0.00500")


def test_a_busy_callee_leg_was_never_answered_and_costs_nothing(client, store, tenant):
    session = open_session(store, tenant)
    sid, leg = new_sid(), new_sid()
    dial = xml(call(client, FIRST, session.virtual_number, sid)).find("Dial")
    for status in ("initiated", "busy"):
        post(client, dial.find("Number").get("statusCallback"), {"CallSid": leg, "CallStatus": status})

    callee = client.get(f"/v1/Account/{tenant.auth_id}/Call/{leg}/", auth=tenant.basic).get_json()

    assert (callee["answer_time"], callee["hangup_cause_name"], callee["hangup_cause_code"]) == (
        None,
        "Busy Line",
        3010,
    )
    assert (callee["bill_duration"], callee["total_amount"]) == (0, "0.00000")
    assert callee["end_time"] == voice_time(resources.find_call(store, tenant.auth_id, sid).ended)


def test_the_call_masq_placed_to_the_first_party_is_outbound_from_the_virtual_number(client, store, tenant):
    session = open_session(store, tenant, initiate_call_to_first_party=True)
    sid = new_sid()
    assert xml(answer(client, session, call_sid=sid)).find("Dial") is not None

    caller = client.get(f"/v1/Account/{tenant.auth_id}/Call/{sid}/", auth=tenant.basic).get_json()

    assert caller["call_direction"] == "outbound"
    assert (caller["from_number"], caller["to_number"]) == (session.virtual_number[1:], FIRST[1:])


@pytest.mark.parametrize(("path", "status"), [("Call", 404), ("Recording", 404)])
def test_an_unknown_id_is_a_404_in_plivos_error_shape(client, tenant, path, status):
    response = client.get(f"/v1/Account/{tenant.auth_id}/{path}/{new_sid()}/", auth=tenant.basic)

    assert response.status_code == status
    assert set(response.get_json()) == {"api_id", "error"}


def test_another_tenants_call_and_recording_are_not_found_with_ones_own_credentials(client, store, tenant):
    other = make_tenant(store, ["+14155550110"], name="globex")
    [theirs] = bridged_over_webhooks(client, store, other)["interaction"]

    for url in (theirs["first_party_resource_url"], theirs["recording_resource_url"]):
        mine = url.removeprefix(PUBLIC).replace(other.auth_id, tenant.auth_id)
        assert client.get(mine, auth=tenant.basic).status_code == 404
        assert resource(client, tenant, url).status_code == 401  # their account in the path: not these credentials
        assert resource(client, other, url, auth=other.basic).status_code == 200
