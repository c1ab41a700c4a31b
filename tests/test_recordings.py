import pytest

from routing.calls import inbound
from routing.calls.carrier_reports import RecordingStatus, carrier_time, record_recording
from routing.calls.history import read_calls
from routing.clock import US, now_us, plivo_time, to_us
from routing.outbox import wire_fields
from routing.sessions import lifecycle
from tests.conftest import outbox
from tests.sessions_helpers import credential
from tests.twilio_helpers import PUBLIC, new_sid, post

FIRST, SECOND = "+14155551234", "+14155554321"
T0 = now_us() // US * US


def bridged_call(store, tenant, record_file_format="mp3"):
    session = lifecycle.open_session(
        store,
        credential(tenant),
        {
            "first_party": FIRST,
            "second_party": SECOND,
            "record": True,
            "record_file_format": record_file_format,
            "recording_callback_url": "https://tenant.example.com/recordings",
        },
        T0,
    )
    sid = new_sid()
    inbound.identify_caller(store, inbound.incoming_call(sid, FIRST, session.virtual_number), T0)
    return session, sid


@pytest.mark.parametrize("record_file_format", ["mp3", "wav"])
def test_a_completed_recording_is_announced_with_its_url_in_the_sessions_format(store, tenant, record_file_format):
    session, sid = bridged_call(store, tenant, record_file_format)
    rec = new_sid("RE")
    url = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{rec}"

    report = RecordingStatus(sid, rec, "completed", url, 42, started=T0 + US)
    record_recording(store, tenant.auth_id, report, T0 + 50 * US, PUBLIC)

    [event] = [wire_fields(e) for e in outbox(store, tenant.auth_id)]
    assert event["EventName"] == "SessionRecordingCompleted"
    assert event["RecordingURL"] == f"{url}.{record_file_format}"
    assert (event["RecordingFormat"], event["RecordingDuration"]) == (f".{record_file_format}", "42")
    assert event["RecordingStartTime"] == plivo_time(T0 + US)
    assert event["RecordingEndTime"] == plivo_time(T0 + 43 * US)
    shown = read_calls(store, tenant.auth_id, session.session_uuid, T0 + 60 * US).interactions[0]
    assert shown.recording_url == f"{url}.{record_file_format}"


def test_a_recording_that_started_has_no_end_time_yet(store, tenant):
    _, sid = bridged_call(store, tenant)

    record_recording(store, tenant.auth_id, RecordingStatus(sid, new_sid("RE"), "in-progress", started=T0), T0, PUBLIC)

    [event] = [wire_fields(e) for e in outbox(store, tenant.auth_id)]
    assert (event["EventName"], event["RecordingStartTime"], event["RecordingEndTime"]) == (
        "SessionRecordingInitiated",
        plivo_time(T0),
        "",
    )


def test_an_absent_recording_carries_the_carriers_error_code(store, tenant):
    _, sid = bridged_call(store, tenant)

    report = RecordingStatus(sid, new_sid("RE"), "absent", error_code="16102")
    record_recording(store, tenant.auth_id, report, T0, PUBLIC)

    [event] = [wire_fields(e) for e in outbox(store, tenant.auth_id)]
    assert (event["EventName"], event["RecordingErrorCode"]) == ("SessionRecordingFailed", "16102")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Tue, 10 Jun 2025 15:06:40 +0000",
            to_us(__import__("datetime").datetime(2025, 6, 10, 15, 6, 40, tzinfo=__import__("datetime").UTC)),
        ),
        ("", None),
        (None, None),
        ("yesterday", None),
        ("Tue, 10 Jun 2025 15:06:40", None),
    ],
)
def test_carrier_times_are_read_as_rfc_2822(raw, expected):
    assert carrier_time(raw) == expected


def test_the_recording_webhook_passes_the_carriers_start_time_and_error_code(client, store, tenant):
    _, sid = bridged_call(store, tenant)
    rec = new_sid("RE")

    response = post(
        client,
        f"/voice/recording-status?t={tenant.auth_id}&c={sid}",
        {
            "AccountSid": "AC" + "1" * 32,
            "CallSid": new_sid(),
            "RecordingSid": rec,
            "RecordingStatus": "completed",
            "RecordingUrl": f"https://api.twilio.com/R/{rec}",
            "RecordingDuration": "7",
            "RecordingStartTime": "Tue, 10 Jun 2025 15:06:40 +0000",
            "RecordingChannels": "2",
        },
    )

    assert response.status_code == 204
    [event] = [wire_fields(e) for e in outbox(store, tenant.auth_id)]
    assert event["RecordingStartTime"] == "2025-06-10 15:06:40.000000 +0000 UTC"
    assert event["RecordingEndTime"] == "2025-06-10 15:06:47.000000 +0000 UTC"
