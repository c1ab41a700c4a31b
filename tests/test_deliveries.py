import json

import pytest
from plivo.utils.signature_v3 import validate_v3_signature

from routing import outbox
from routing.clock import US
from routing.outbox import Event
from routing.sessions import lifecycle
from routing.tenants import auth_token_of
from tests.conftest import backlog
from tests.dispatch_helpers import FAST
from tests.receiver import Receiver
from tests.sessions_helpers import credential
from workers.deliveries import Report, Sender, deliver_batch, delivery_for

NOW = 1_700_000_000 * US
FIRST, SECOND = "+14155551234", "+14155554321"


@pytest.fixture
def recorder():
    """A second receiver, for recording callbacks (`receiver` takes the session's callbacks)."""
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def sender(make_sender):
    return make_sender(4)


def open_session(store, tenant, **options):
    return lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND, **options}, NOW
    )


def add_event(store, auth_id, session, name="SessionFirstPartyAnswer", seq=1, **extra):
    """Append an event shaped like the ones the call scripts append (times in µs); return what the tenant receives."""
    fields = {
        "EventName": name,
        "EventTimestamp": str(NOW),
        "SessionUUID": session.session_uuid,
        "CallUUID": "CA0123456789abcdef0123456789abcdef",
        "From": FIRST,
        "To": SECOND,
        "VirtualNumber": session.virtual_number,
        "PinAuthenticationStatus": "",
        "PinRetryCounter": "0",
        **extra,
        "SequenceNumber": str(seq),
    }
    store.redis.xadd(store.keys.events(auth_id), fields)
    return outbox.wire_fields(fields)


def deliver(store, auth_id, sender, now=NOW):
    return deliver_batch(store, auth_id, sender, "w1", now, policy=FAST)


def by_sequence(received):
    return sorted(received, key=lambda r: int(r.params["SequenceNumber"]))


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_events_go_to_the_sessions_callback_url_with_its_method(store, tenant, sender, receiver, method):
    session = open_session(store, tenant, callback_url=receiver.url, callback_method=method)
    sent = [
        add_event(store, tenant.auth_id, session, "SessionFirstPartyAnswer", 1),
        add_event(store, tenant.auth_id, session, "SessionSecondPartyRing", 2),
    ]

    report = deliver(store, tenant.auth_id, sender)

    assert report == Report(delivered=2)
    got = by_sequence(receiver.requests)
    assert [(r.method, r.path) for r in got] == [(method, "/callbacks")] * 2
    assert [r.params for r in got] == sent
    if method == "POST":
        assert all(r.headers["Content-Type"] == "application/x-www-form-urlencoded" for r in got)
    assert backlog(store, tenant.auth_id) == 0


def test_the_tenant_receives_an_events_times_as_plivo_prints_them(store, tenant, sender, receiver, recorder):
    session = open_session(store, tenant, callback_url=receiver.url, recording_callback_url=recorder.url)
    times = {"RecordingStartTime": str(NOW + US), "RecordingEndTime": str(NOW + 43 * US + 7)}
    add_event(store, tenant.auth_id, session, "SessionRecordingCompleted", 1, **times)
    add_event(
        store, tenant.auth_id, session, "SessionRecordingInitiated", 2, RecordingStartTime=str(NOW), RecordingEndTime=""
    )

    deliver(store, tenant.auth_id, sender)

    got = [
        (r.params["EventTimestamp"], r.params["RecordingStartTime"], r.params["RecordingEndTime"])
        for r in by_sequence(recorder.requests)
    ]
    assert got == [
        (
            "2023-11-14 22:13:20.000000 +0000 UTC",
            "2023-11-14 22:13:21.000000 +0000 UTC",
            "2023-11-14 22:14:03.000007 +0000 UTC",
        ),
        ("2023-11-14 22:13:20.000000 +0000 UTC", "2023-11-14 22:13:20.000000 +0000 UTC", ""),
    ]


def test_an_event_written_with_formatted_times_is_sent_as_it_was():
    fields = {"EventTimestamp": "2023-11-14 22:13:20.000000 +0000 UTC", "RecordingEndTime": "", "Duration": "7"}

    assert outbox.wire_fields(fields) == fields


def test_recording_events_go_to_the_recording_callback_url_with_its_method(store, tenant, sender, receiver, recorder):
    session = open_session(
        store,
        tenant,
        callback_url=receiver.url,
        callback_method="POST",
        recording_callback_url=recorder.url,
        recording_callback_method="GET",
    )
    call = add_event(store, tenant.auth_id, session, "SessionFirstPartyHangup", 1)
    recordings = [
        add_event(store, tenant.auth_id, session, name, seq, RecordingUUID="RE1", RecordingFormat="mp3")
        for seq, name in enumerate(["SessionRecordingInitiated", "SessionRecordingCompleted"], start=2)
    ]

    report = deliver(store, tenant.auth_id, sender)

    assert report == Report(delivered=3)
    assert [(r.method, r.params) for r in receiver.requests] == [("POST", call)]
    assert [(r.method, r.params) for r in by_sequence(recorder.requests)] == [("GET", f) for f in recordings]


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_every_callback_carries_a_signature_the_plivo_sdk_accepts_and_an_idempotency_key(
    store, tenant, sender, receiver, method
):
    session = open_session(store, tenant, callback_url=receiver.url, callback_method=method)
    for seq in (1, 2):
        add_event(store, tenant.auth_id, session, seq=seq)

    deliver(store, tenant.auth_id, sender)

    token = auth_token_of(store, tenant.auth_id)
    got = by_sequence(receiver.requests)
    assert [r.headers["Idempotency-Key"] for r in got] == [f"{session.session_uuid}-1", f"{session.session_uuid}-2"]
    for r in got:
        nonce, signature = r.headers["X-Plivo-Signature-V3-Nonce"], r.headers["X-Plivo-Signature-V3"]
        assert validate_v3_signature(method, receiver.url, nonce, token, signature, r.params)
        assert not validate_v3_signature(method, receiver.url, nonce, token + "x", signature, r.params)
    assert got[0].headers["X-Plivo-Signature-V3-Nonce"] != got[1].headers["X-Plivo-Signature-V3-Nonce"]


def test_events_with_nowhere_to_go_are_settled_without_a_request(store, tenant, sender, receiver):
    silent = open_session(store, tenant)
    no_recordings = open_session(store, tenant, callback_url=receiver.url)
    add_event(store, tenant.auth_id, silent, "SessionFirstPartyAnswer", 1)
    add_event(store, tenant.auth_id, no_recordings, "SessionRecordingCompleted", 1)
    store.redis.xadd(
        store.keys.events(tenant.auth_id), {"EventName": "SessionTimeout", "SessionUUID": "gone", "SequenceNumber": "1"}
    )

    report = deliver(store, tenant.auth_id, sender)

    assert report == Report(delivered=3)
    assert receiver.requests == []
    assert backlog(store, tenant.auth_id) == 0


def test_a_receiver_answering_500_gets_the_events_again_after_the_back_off(store, tenant, sender, receiver):
    session = open_session(store, tenant, callback_url=receiver.url)
    for seq in (1, 2):
        add_event(store, tenant.auth_id, session, seq=seq)
    receiver.status = 500

    failing = deliver(store, tenant.auth_id, sender)
    receiver.status = 200
    too_soon = deliver(store, tenant.auth_id, sender, NOW + FAST.backoff[0] * US - 1)
    retried = deliver(store, tenant.auth_id, sender, NOW + FAST.backoff[0] * US)

    assert failing == Report(retried=2)
    assert too_soon == Report()
    assert retried == Report(delivered=2)
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert len(keys) == 4 and sorted(keys[:2]) == sorted(keys[2:])  # the same keys: the tenant can tell a repeat
    assert backlog(store, tenant.auth_id) == 0


def test_a_receiver_that_keeps_failing_ends_in_the_dead_letters(store, tenant, sender, receiver):
    session = open_session(store, tenant, callback_url=receiver.url)
    fields = add_event(store, tenant.auth_id, session)
    receiver.status = 503
    now, reports = NOW, []
    for wait in (*FAST.backoff, 0):
        reports.append(deliver(store, tenant.auth_id, sender, now))
        now += wait * US

    assert reports == [Report(retried=1), Report(retried=1), Report(dead=1)]
    [letter] = outbox.dead_letters(store, tenant.auth_id)
    assert (outbox.wire_fields(letter.fields), letter.attempts, letter.error) == (fields, 3, "HTTP 503")
    assert len(receiver.requests) == 3 and backlog(store, tenant.auth_id) == 0


def test_a_loopback_callback_is_refused_without_a_request_and_retried_when_private_addresses_are_not_allowed(
    store, tenant, receiver
):
    session = open_session(store, tenant, callback_url=receiver.url)
    add_event(store, tenant.auth_id, session)
    public_only = Sender(threads=1, allow_private=False)
    try:
        report = deliver(store, tenant.auth_id, public_only)
    finally:
        public_only.close()

    assert report == Report(retried=1)
    assert receiver.requests == []
    [failure] = store.redis.hvals(store.keys.event_failures(tenant.auth_id))
    assert "not a public address" in json.loads(failure)["error"]
    assert backlog(store, tenant.auth_id) == 1


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("ftp://tenant.example.com/cb", "must be an http or https URL"),
        ("{}\\@8.8.8.8/cb", "must not contain a backslash"),
    ],
)
def test_a_callback_url_that_can_never_be_called_is_a_dead_letter_at_once(
    store, tenant, sender, receiver, written, why
):
    session = open_session(store, tenant, callback_url="https://tenant.example.com/cb")
    broken = session.evolve(callback_url=written.format(receiver.url.removesuffix("/callbacks")))
    store.redis.set(store.keys.session(tenant.auth_id, session.session_uuid), broken.to_json())  # an older rule's
    add_event(store, tenant.auth_id, session)

    report = deliver(store, tenant.auth_id, sender)

    assert report == Report(dead=1)
    assert outbox.dead_letters(store, tenant.auth_id)[0].error == f"callback URL refused: it {why}"
    assert receiver.requests == []


def test_a_deleted_tenants_events_are_dropped(store, tenant, sender, receiver):
    session = open_session(store, tenant, callback_url=receiver.url)
    add_event(store, tenant.auth_id, session)
    store.redis.delete(store.keys.tenant(tenant.auth_id))

    report = deliver(store, tenant.auth_id, sender)

    assert report.handled == 1 and report.retried == report.dead == 0
    assert receiver.requests == []
    assert backlog(store, tenant.auth_id) == 0 and outbox.dead_letters(store, tenant.auth_id) == []


def test_an_empty_outbox_is_an_empty_report(store, tenant, sender):
    assert deliver(store, tenant.auth_id, sender) == Report()


def test_the_idempotency_key_falls_back_to_the_entry_id_without_a_sequence_number(store, tenant):
    session = open_session(store, tenant, callback_url="https://tenant.example.com/cb")
    event = Event("1700000000000-0", {"EventName": "SessionTimeout", "SessionUUID": session.session_uuid})

    delivery = delivery_for(event, session, "token")

    assert delivery is not None
    assert (delivery.url, delivery.method, delivery.idempotency_key) == (
        "https://tenant.example.com/cb",
        "POST",
        f"{session.session_uuid}-1700000000000-0",
    )
