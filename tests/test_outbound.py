"""masq calls the first party (`initiate_call_to_first_party`): the job, the answer step and the enqueue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from types import SimpleNamespace

import fakeredis
import pytest
import redis
import requests
from rq import Queue, SimpleWorker
from rq.job import Job
from twilio.base.exceptions import TwilioRestException
from werkzeug.serving import make_server

from app import create_app
from routing.calls import outbound, twiml
from routing.calls.history import read_calls
from routing.clock import US, now_us
from routing.outbox import wire_fields
from routing.sessions import lifecycle
from routing.sessions.session import Session
from routing.store import Store
from tests.conftest import _free_port, make_tenant, outbox
from tests.fake_twilio import FakeTwilio
from tests.sessions_helpers import credential
from tests.twilio_helpers import ACCOUNT_SID, PUBLIC, TOKEN, call, new_sid, post, sign, verbs, xml
from workers.outbound import call_first_party, last_try_failed

FIRST, SECOND = "+14155551234", "+14155554321"
OUTBOUND = {"first_party": FIRST, "second_party": SECOND, "initiate_call_to_first_party": True}
# What tells one call from another in an event; the rest must be the same for an outbound and an inbound call.
PER_CALL = (
    "EventTimestamp",
    "SessionUUID",
    "CallUUID",
    "VirtualNumber",
    "Duration",
    "RecordingStartTime",
    "RecordingEndTime",
    "RecordingUUID",
    "RecordingResourceURL",
)


def open_session(store, tenant, **fields):
    return lifecycle.open_session(store, credential(tenant), {**OUTBOUND, **fields}, now_us())


def answer_fields(session: Session, call_sid: str | None = None) -> dict[str, str]:
    """Return the fields Twilio posts when the first party answers masq's call: From is the virtual number."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid or new_sid(),
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": session.virtual_number,
        "Caller": session.virtual_number,
        "To": session.first_party,
        "Called": session.first_party,
    }


def answer(client, session, session_uuid=None, call_sid=None, **kwargs):
    """Answer masq's call at the URL the app gives the job."""
    links = client.application.extensions["masq.links"]
    url = links.outbound_answer(session.auth_id, session_uuid or session.session_uuid)
    return post(client, url, answer_fields(session, call_sid), **kwargs)


def answer_url(session: Session) -> str:
    return f"{PUBLIC}/voice/outbound-answer?t={session.auth_id}&s={session.session_uuid}"


def event_names(store, tenant):
    return [event["EventName"] for event in outbox(store, tenant.auth_id)]


# -- what to call: a pure function ------------------------------------------------------------------------
def a_session(**fields) -> Session:
    now = now_us()
    base = dict(
        session_uuid="2b4c1a0e-0000-4000-8000-000000000001",
        auth_id="MA0123456789ABCDEFGH",
        first_party=FIRST,
        second_party=SECOND,
        virtual_number="+14155550100",
        created=now,
        modified=now,
        expiry=now + 600 * US,
        initiate_call_to_first_party=True,
        ring_timeout=45,
    )
    return Session(**{**base, **fields})


def test_the_call_rings_the_first_party_from_the_virtual_number_for_the_ring_timeout():
    session = a_session()
    plan = outbound.outbound_call(session, "https://masq.example.com/answer?s=1", now_us(), "https://s.example/x")
    assert plan == outbound.OutboundCall(
        to=FIRST,
        from_="+14155550100",
        timeout=45,
        url="https://masq.example.com/answer?s=1",
        status_callback="https://s.example/x",
        deadline=session.created + (45 + outbound.QUEUE_MARGIN) * US,
    )


@pytest.mark.parametrize(
    "fields",
    [{"expiry": now_us() - US}, {"initiate_call_to_first_party": False}, {"second_party": ""}],
    ids=["ended", "not-asked", "single-party"],
)
def test_nothing_is_called_for_when_the_session_ended_did_not_ask_or_has_no_one_to_bridge(fields):
    assert outbound.outbound_call(a_session(**fields), answer_url(a_session()), now_us()) is None


def test_carrier_urls_carry_only_url_safe_tokens():
    links = twiml.Links(PUBLIC, {twiml.OUTBOUND_ANSWER: "/voice/outbound-answer"})
    with pytest.raises(ValueError):
        links.outbound_answer("MA0123456789ABCDEFGH", "a uuid?&t=x")


# -- the job, against a loopback Twilio, on the real Redis ---------------------------------------------------
@pytest.fixture
def fake_twilio():
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def job_environment(monkeypatch, redis_url, real_store, fake_twilio):
    """The environment a worker runs the job in: this test's Redis prefix, Twilio on loopback (no public URL)."""
    for name, value in {
        "REDIS_URL": redis_url,
        "QUEUE_REDIS_URL": redis_url,
        "MASQ_KEY_PREFIX": real_store.keys.prefix,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": fake_twilio.url,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("TWILIO_EDGE", "TWILIO_REGION", "MASQ_SKIP_TWILIO_SIGNATURE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def real_tenant(real_store):
    return make_tenant(real_store)


def test_the_job_asks_twilio_to_call_the_first_party_from_the_virtual_number(
    job_environment, fake_twilio, real_store, real_tenant
):
    session = open_session(real_store, real_tenant, ring_timeout=45)
    call_sid = call_first_party(real_tenant.auth_id, session.session_uuid, answer_url(session))
    [placed] = fake_twilio.calls
    assert (call_sid, placed.account_sid, placed.credentials) == (placed.sid, ACCOUNT_SID, (ACCOUNT_SID, TOKEN))
    assert placed.fields == {
        "To": FIRST,
        "From": session.virtual_number,
        "Method": "POST",
        "Timeout": "45",
        "Url": answer_url(session),
    }
    # Until the first party answers, nothing is bridged and nothing is recorded.
    assert read_calls(real_store, real_tenant.auth_id, session.session_uuid, now_us()).count == 0
    assert outbox(real_store, real_tenant.auth_id) == []


def test_the_job_skips_a_session_that_has_ended_or_is_gone(job_environment, fake_twilio, real_store, real_tenant):
    session = open_session(real_store, real_tenant)
    lifecycle.end_session(real_store, real_tenant.auth_id, session.session_uuid, now_us())
    assert call_first_party(real_tenant.auth_id, session.session_uuid, answer_url(session)) == ""
    assert call_first_party(real_tenant.auth_id, str(uuid.uuid4()), answer_url(session)) == ""
    assert fake_twilio.calls == []


@pytest.mark.parametrize("status", [500, 503, 400])
def test_a_carrier_failure_makes_the_job_raise_so_rq_retries_it(
    job_environment, fake_twilio, real_store, real_tenant, status
):
    session = open_session(real_store, real_tenant)
    fake_twilio.status = status
    with pytest.raises(TwilioRestException) as raised:
        call_first_party(real_tenant.auth_id, session.session_uuid, answer_url(session))
    assert raised.value.status == status


@pytest.mark.parametrize(("retries_left", "told"), [(2, False), (0, True)])
def test_only_the_last_failed_try_tells_the_tenant_the_call_was_not_placed(
    job_environment, fake_twilio, real_store, real_tenant, retries_left, told
):
    session = open_session(real_store, real_tenant)
    fake_twilio.status = 500
    with pytest.raises(TwilioRestException) as raised:
        call_first_party(real_tenant.auth_id, session.session_uuid, answer_url(session))
    job = SimpleNamespace(
        args=(real_tenant.auth_id, session.session_uuid, answer_url(session)), retries_left=retries_left
    )

    last_try_failed(job, None, type(raised.value), raised.value, None)

    names = [e["EventName"] for e in outbox(real_store, real_tenant.auth_id)]
    assert names == (["SessionFirstPartyFailed"] if told else [])


# -- the answer step ---------------------------------------------------------------------------------------
@pytest.fixture
def queue(store):
    """The `masq` queue on the test's fakeredis server, never worked: tests look at what was enqueued."""
    server = store.redis.connection_pool.connection_kwargs["server"]
    return Queue("masq", connection=fakeredis.FakeRedis(server=server))


@pytest.fixture
def app_config(queue):
    return {"QUEUE": queue, "TWILIO_ACCOUNT_SID": ACCOUNT_SID}


def test_the_first_party_answering_is_bridged_to_the_second_party_with_the_inbound_rules(client, store, tenant):
    session = open_session(
        store,
        tenant,
        record=True,
        ring_timeout=45,
        call_time_limit=600,
        second_party_play_url="https://cdn.example.com/second.mp3",
    )
    sid = new_sid()
    root = xml(answer(client, session, call_sid=sid))
    assert verbs(root) == ["Dial"]
    dial, number = root.find("Dial"), root.find("Dial/Number")
    steps = f"?t={tenant.auth_id}&c={sid}"
    assert (dial.get("callerId"), dial.get("timeout"), dial.get("timeLimit")) == (session.virtual_number, "45", "600")
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("action") == f"{PUBLIC}/voice/dial-complete{steps}#rc=3&rp=all"
    assert dial.get("answerOnBridge") is None  # the first party has already answered
    assert number.text == SECOND
    assert number.get("statusCallback") == f"{PUBLIC}/voice/leg-status{steps}#rc=3&rp=all"
    assert number.get("statusCallbackEvent") == "initiated ringing answered completed"
    assert number.get("url") == f"{PUBLIC}/voice/whisper{steps}#rc=3&rp=all"


def test_the_first_party_hears_their_play_url_before_the_dial(client, store, tenant):
    session = open_session(store, tenant, first_party_play_url="https://cdn.example.com/first.mp3")
    root = xml(answer(client, session))
    assert [(v.tag, v.text) for v in root][0] == ("Play", "https://cdn.example.com/first.mp3")
    assert root.find("Dial/Number").text == SECOND


def test_the_first_party_is_answered_at_once_and_counted_as_the_caller(client, store, tenant):
    session = open_session(store, tenant)
    sid = new_sid()
    leg_status = xml(answer(client, session, call_sid=sid)).find("Dial/Number").get("statusCallback")
    [event] = outbox(store, tenant.auth_id)
    assert (event["EventName"], event["CallUUID"], event["From"], event["To"], event["VirtualNumber"]) == (
        "SessionFirstPartyAnswer",
        sid,
        FIRST,
        SECOND,
        session.virtual_number,
    )
    calls = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
    [interaction] = calls.interactions
    assert (calls.count, calls.in_call(now_us())) == (1, True)
    assert (interaction.call_sid, interaction.caller_party, interaction.callee, interaction.a_status) == (
        sid,
        "first",
        SECOND,
        "in-progress",
    )
    for status in ("ringing", "in-progress"):
        post(client, leg_status, {"CallSid": new_sid(), "ParentCallSid": sid, "CallStatus": status})
    assert event_names(store, tenant) == [
        "SessionFirstPartyAnswer",
        "SessionSecondPartyRing",
        "SessionSecondPartyAnswer",
    ]


def finish_call(client, root, sid):
    """Play the carrier's part to the end of the bridge: the dialled leg's statuses, the recording, the dial."""
    dial = root.find("Dial")
    leg, recording = new_sid(), new_sid("RE")
    leg_status, recording_status = dial.find("Number").get("statusCallback"), dial.get("recordingStatusCallback")
    for url, status in [
        (leg_status, "initiated"),
        (leg_status, "ringing"),
        (leg_status, "in-progress"),
        (recording_status, "in-progress"),
        (leg_status, "completed"),
        (recording_status, "completed"),
    ]:
        if url == leg_status:
            post(client, url, {"CallSid": leg, "ParentCallSid": sid, "CallStatus": status, "CallDuration": "70"})
        else:
            post(
                client,
                url,
                {
                    "CallSid": sid,
                    "RecordingSid": recording,
                    "RecordingStatus": status,
                    "RecordingUrl": "https://api.twilio.com/rec",
                    "RecordingDuration": "69",
                },
            )
    post(
        client,
        dial.get("action"),
        {
            "CallSid": sid,
            "DialCallStatus": "completed",
            "DialCallSid": leg,
            "DialCallDuration": "70",
            "DialBridged": "true",
        },
    )


def test_an_outbound_call_is_recorded_exactly_as_an_inbound_call_from_the_first_party(client, store, tenant):
    fields = {"record": True, "first_party_play_url": "https://cdn.example.com/first.mp3"}
    out_session, in_session = open_session(store, tenant, **fields), open_session(store, tenant, **fields)
    out_sid, in_sid = new_sid(), new_sid()
    finish_call(client, xml(answer(client, out_session, call_sid=out_sid)), out_sid)
    finish_call(client, xml(call(client, FIRST, in_session.virtual_number, in_sid)), in_sid)

    def events(session):
        return [
            {k: v for k, v in e.items() if k not in PER_CALL}
            for e in outbox(store, tenant.auth_id)
            if e["SessionUUID"] == session.session_uuid
        ]

    def interaction(session):
        calls = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
        [one] = calls.interactions
        return (
            calls.count,
            calls.billed,
            calls.amount,
            one.caller,
            one.caller_party,
            one.callee,
            one.state,
            one.a_status,
            one.b_status,
            one.billed,
            one.recording_status,
        )

    assert events(out_session) == events(in_session)
    assert [e["EventName"] for e in events(out_session)] == [
        "SessionFirstPartyAnswer",
        "SessionSecondPartyInitiated",
        "SessionSecondPartyRing",
        "SessionSecondPartyAnswer",
        "SessionRecordingInitiated",
        "SessionSecondPartyHangup",
        "SessionFirstPartyHangup",
        "SessionPartiesHangup",
        "SessionRecordingCompleted",
    ]
    assert interaction(out_session) == interaction(in_session)


def test_an_answer_for_another_session_is_refused_politely_and_changes_nothing(client, store, tenant):
    session, other = open_session(store, tenant), open_session(store, tenant)
    for wrong in (other.session_uuid, str(uuid.uuid4())):
        root = xml(answer(client, session, session_uuid=wrong))
        assert verbs(root) == ["Say", "Hangup"]
    for each in (session, other):
        assert read_calls(store, tenant.auth_id, each.session_uuid, now_us()).count == 0
    assert outbox(store, tenant.auth_id) == []


def test_a_call_answered_for_one_session_is_never_answered_for_another(client, store, tenant):
    session, other = open_session(store, tenant), open_session(store, tenant)
    sid = new_sid()
    assert xml(answer(client, session, call_sid=sid)).find("Dial/Number").text == SECOND

    crossed = xml(answer(client, other, call_sid=sid))

    assert verbs(crossed) == ["Say", "Hangup"]
    assert read_calls(store, tenant.auth_id, other.session_uuid, now_us()).count == 0


def test_an_answer_after_the_session_ended_is_refused_politely(client, store, tenant):
    session = open_session(store, tenant)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, now_us())
    assert verbs(xml(answer(client, session))) == ["Say", "Hangup"]
    assert [e["EventName"] for e in outbox(store, tenant.auth_id)] == ["SessionEnded"]


def test_an_answer_while_another_call_holds_the_session_is_refused_politely(client, store, tenant):
    session = open_session(store, tenant)
    call(client, SECOND, session.virtual_number)
    assert verbs(xml(answer(client, session))) == ["Say", "Hangup"]
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).count == 1


def test_an_answer_step_url_that_names_no_session_gets_an_apology(client, store, tenant):
    session = open_session(store, tenant)
    url = f"{PUBLIC}/voice/outbound-answer?t={tenant.auth_id}&s=not%20a%20session"
    assert verbs(xml(post(client, url, answer_fields(session)))) == ["Say", "Hangup"]


def test_an_unsigned_answer_is_refused_and_changes_nothing(client, store, tenant):
    session = open_session(store, tenant)
    assert answer(client, session, token="another-token").status_code == 403
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).count == 0


# -- the enqueue -------------------------------------------------------------------------------------------
def test_a_plivo_session_that_asks_for_it_enqueues_one_call_to_its_first_party_with_its_answer_url(
    client, queue, tenant
):
    response = client.post(tenant.plivo_base, json=OUTBOUND, auth=tenant.basic)
    assert response.status_code == 200, response.get_json()
    [job] = queue.get_jobs()
    session_uuid = response.get_json()["session_uuid"]
    assert (job.func_name, job.args, job.kwargs) == (
        "workers.outbound.call_first_party",
        (
            tenant.auth_id,
            session_uuid,
            f"{PUBLIC}/voice/outbound-answer?t={tenant.auth_id}&s={session_uuid}#rc=3&rp=all",
            f"{PUBLIC}/voice/outbound-status?t={tenant.auth_id}&s={session_uuid}#rc=3&rp=all",
        ),
        {},
    )
    assert (job.retries_left, job.retry_intervals) == (3, [5, 15, 30])
    assert job.failure_callback is last_try_failed


def test_a_queue_that_cannot_be_reached_answers_the_session_and_tells_the_tenant_in_one_log_line(
    make_app, store, tenant, capsys
):
    unreachable = Queue("masq", connection=redis.Redis.from_url(f"redis://127.0.0.1:{_free_port()}"))
    client = make_app(QUEUE=unreachable, TWILIO_ACCOUNT_SID=ACCOUNT_SID).test_client()
    capsys.readouterr()

    response = client.post(tenant.plivo_base, json=OUTBOUND, auth=tenant.basic)

    assert response.status_code == 200, response.get_json()
    names = [e["EventName"] for e in outbox(store, tenant.auth_id)]
    assert "SessionFirstPartyFailed" in names
    [logged] = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "could not enqueue" in line]
    assert logged["level"] == "ERROR" and "exc" not in logged and "Error" in logged["message"]


@pytest.mark.parametrize("asked", [{}, {"initiate_call_to_first_party": False}])
def test_a_plivo_session_that_does_not_ask_enqueues_nothing(client, queue, tenant, asked):
    response = client.post(
        tenant.plivo_base, json={"first_party": FIRST, "second_party": SECOND, **asked}, auth=tenant.basic
    )
    assert response.status_code == 200
    assert queue.get_jobs() == []


def test_a_cloudtalk_session_enqueues_nothing(client, queue, tenant):
    response = client.post(
        "/v1/sessions", json={"driver_phone": FIRST, "customer_phone": SECOND}, headers={"X-API-Key": tenant.api_key}
    )
    assert response.status_code == 201
    assert queue.get_jobs() == []


# -- end to end: the API, a real RQ worker, the loopback Twilio, the answer ------------------------------------
@pytest.fixture
def rq_queue(redis_url):
    """A queue of its own on the real Redis; afterwards only its keys and its jobs' keys are deleted."""
    connection = redis.Redis.from_url(redis_url)
    queue = Queue(f"masqtest-{uuid.uuid4().hex[:12]}", connection=connection)
    yield queue
    registries = (
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.scheduled_job_registry,
        queue.started_job_registry,
        queue.deferred_job_registry,
        queue.canceled_job_registry,
    )
    job_ids = set(queue.get_job_ids()).union(*(registry.get_job_ids() for registry in registries))
    for job_id in job_ids:
        for key in connection.scan_iter(match=f"rq:*{job_id}*"):
            connection.delete(key)
    for key in connection.scan_iter(match=f"rq:*{queue.name}*"):
        connection.delete(key)
    connection.srem("rq:queues", queue.key)
    connection.close()


@pytest.fixture
def masq_server(real_store, rq_queue, job_environment):
    """masq over real HTTP on loopback, enqueueing on `rq_queue` the URL the carrier answers at."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app({"STORE": real_store, "QUEUE": rq_queue, "MASQ_PUBLIC_URL": base, "TWILIO_AUTH_TOKEN": TOKEN})
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    thread.join(timeout=5)


def work(queue):
    """Run the queue's jobs in this process, as `masq worker` does; the worker's key goes with the queue's."""
    SimpleWorker([queue], connection=queue.connection, name=f"{queue.name}-worker").work(burst=True)


def test_a_session_opened_through_the_api_rings_its_first_party_and_bridges_on_answer(
    masq_server, rq_queue, fake_twilio, real_store, real_tenant
):
    created = requests.post(f"{masq_server}{real_tenant.plivo_base}", json=OUTBOUND, auth=real_tenant.basic, timeout=5)
    assert created.status_code == 200, created.text
    session = lifecycle.get_session(real_store, real_tenant.auth_id, created.json()["session_uuid"])
    work(rq_queue)
    [placed] = fake_twilio.calls
    assert (placed.fields["To"], placed.fields["From"]) == (FIRST, session.virtual_number)
    [job_id] = rq_queue.finished_job_registry.get_job_ids()
    assert Job.fetch(job_id, connection=rq_queue.connection).return_value() == placed.sid

    fields = answer_fields(session, placed.sid)
    url = placed.fields["Url"].partition("#")[0]  # the carrier requests, and signs, the URL without its fragment
    answered = requests.post(url, data=fields, headers={"X-Twilio-Signature": sign(url, fields)}, timeout=5)
    assert answered.status_code == 200, answered.text
    assert "<Number" in answered.text and f">{SECOND}</Number>" in answered.text
    assert f'callerId="{session.virtual_number}"' in answered.text
    assert event_names(real_store, real_tenant) == ["SessionFirstPartyAnswer"]


def test_a_carrier_failure_leaves_the_job_waiting_for_its_next_try(
    masq_server, rq_queue, fake_twilio, real_store, real_tenant
):
    fake_twilio.status = 500
    created = requests.post(f"{masq_server}{real_tenant.plivo_base}", json=OUTBOUND, auth=real_tenant.basic, timeout=5)
    assert created.status_code == 200, created.text
    work(rq_queue)
    [job_id] = rq_queue.scheduled_job_registry.get_job_ids()
    job = Job.fetch(job_id, connection=rq_queue.connection)
    assert (job.get_status(), job.retries_left) == ("scheduled", 2)
    assert fake_twilio.calls == []


# -- exactly once: a slow Twilio, a killed worker, a late re-run ------------------------------------------------
STATUS_URL = f"{PUBLIC}/voice/outbound-status"


def status_url(session: Session) -> str:
    return f"{STATUS_URL}?t={session.auth_id}&s={session.session_uuid}#rc=3&rp=all"


def test_the_call_asks_for_its_status_callbacks(job_environment, fake_twilio, real_store, real_tenant):
    session = open_session(real_store, real_tenant)
    call_first_party(real_tenant.auth_id, session.session_uuid, answer_url(session), status_url(session))
    [placed] = fake_twilio.calls
    assert (placed.fields["StatusCallback"], placed.fields["StatusCallbackMethod"]) == (status_url(session), "POST")
    assert placed.fields["StatusCallbackEvent"] == "initiated ringing answered completed"


def test_a_twilio_slower_than_the_client_timeout_that_still_creates_the_call_rings_once(
    job_environment, fake_twilio, real_store, real_tenant
):
    job_environment.setenv("MASQ_TWILIO_TIMEOUT", "0.3")
    fake_twilio.delay = 1.0
    session = open_session(real_store, real_tenant)
    args = (real_tenant.auth_id, session.session_uuid, answer_url(session), status_url(session))
    with pytest.raises(requests.exceptions.Timeout):
        call_first_party(*args)
    [placed] = fake_twilio.calls
    fake_twilio.delay = 0
    assert [call_first_party(*args) for _ in range(3)] == [placed.sid] * 3
    assert len(fake_twilio.calls) == 1


def test_a_failed_create_that_reached_no_one_is_placed_by_the_retry(
    job_environment, fake_twilio, real_store, real_tenant
):
    session = open_session(real_store, real_tenant)
    args = (real_tenant.auth_id, session.session_uuid, answer_url(session))
    fake_twilio.status = 500
    with pytest.raises(TwilioRestException):
        call_first_party(*args)
    fake_twilio.status = 201
    sid = call_first_party(*args)
    assert [placed.sid for placed in fake_twilio.calls] == [sid]


def test_a_run_after_the_ring_window_rings_no_one_and_tells_the_tenant(
    job_environment, fake_twilio, real_store, real_tenant, monkeypatch
):
    session = open_session(real_store, real_tenant, ring_timeout=30)
    late = outbound.ring_deadline(session) + US
    monkeypatch.setattr(Store, "now_us", lambda self: late)
    assert call_first_party(real_tenant.auth_id, session.session_uuid, answer_url(session)) == ""
    assert fake_twilio.calls == []
    [event] = [wire_fields(e) for e in outbox(real_store, real_tenant.auth_id)]
    assert (event["EventName"], event["HangupCause"], event["Duration"], event["From"]) == (
        "SessionFirstPartyFailed",
        "Call Failed",
        "0",
        FIRST,
    )


def test_a_worker_killed_mid_request_then_rerun_rings_the_first_party_once(
    job_environment, fake_twilio, real_store, real_tenant, rq_queue, redis_url, monkeypatch
):
    fake_twilio.delay = 60.0
    session = open_session(real_store, real_tenant)
    args = (real_tenant.auth_id, session.session_uuid, answer_url(session), status_url(session))
    rq_queue.enqueue("workers.outbound.call_first_party", *args)
    env = {**os.environ, "MASQ_QUEUE": rq_queue.name, "PYTHONPATH": os.getcwd()}
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.audited_masq", "worker", "--burst"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not fake_twilio.calls and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    [placed] = fake_twilio.calls
    # RQ re-runs an abandoned job only minutes later, when the killed worker's lease is long over.
    fake_twilio.delay = 0
    later = now_us() + 20 * US
    monkeypatch.setattr(Store, "now_us", lambda self: later)
    assert call_first_party(*args) == placed.sid
    assert len(fake_twilio.calls) == 1


# -- the call's outcome: status callbacks become the tenant's events ----------------------------------------------
def report(client, session, status, call_sid, token=None):
    url = f"{STATUS_URL}?t={session.auth_id}&s={session.session_uuid}"
    fields = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "CallStatus": status,
        "From": session.virtual_number,
        "To": session.first_party,
        "Direction": "outbound-api",
        "CallDuration": "0",
    }
    headers = {"I-Twilio-Idempotency-Token": token} if token else {}
    return post(client, url, fields, headers=headers)


@pytest.mark.parametrize(
    ("status", "cause"),
    [("busy", "Busy Line"), ("no-answer", "No Answer"), ("failed", "Call Failed"), ("canceled", "Cancelled")],
)
def test_a_first_party_who_does_not_answer_is_an_event_with_plivos_hangup_cause(client, store, tenant, status, cause):
    session = open_session(store, tenant)
    sid = new_sid()
    for each in ("initiated", "ringing", status):
        assert report(client, session, each, sid).status_code == 204
    initiated, ringing, failed = [wire_fields(e) for e in outbox(store, tenant.auth_id)]
    assert (initiated["EventName"], initiated["CallUUID"]) == ("SessionFirstPartyInitiated", sid)
    assert (ringing["EventName"], ringing["CallUUID"], ringing["From"], ringing["To"]) == (
        "SessionFirstPartyRinging",
        sid,
        FIRST,
        SECOND,
    )
    assert (failed["EventName"], failed["CallUUID"], failed["HangupCause"]) == ("SessionFirstPartyFailed", sid, cause)
    assert (failed["Duration"], failed["BilledDuration"], failed["VirtualNumber"]) == ("0", "0", session.virtual_number)


def test_replayed_and_late_status_callbacks_change_nothing(client, store, tenant):
    session = open_session(store, tenant)
    sid = new_sid()
    for each, token in [("ringing", "t1"), ("ringing", "t1"), ("no-answer", "t2"), ("ringing", "t3"), ("busy", "")]:
        assert report(client, session, each, sid, token).status_code == 204
    assert event_names(store, tenant) == ["SessionFirstPartyRinging", "SessionFirstPartyFailed"]


def test_an_answered_call_out_tells_only_its_ring_then_the_bridge_speaks(client, store, tenant):
    session = open_session(store, tenant)
    sid = new_sid()
    report(client, session, "ringing", sid)
    answer(client, session, call_sid=sid)
    report(client, session, "in-progress", sid)
    report(client, session, "completed", sid)
    assert event_names(store, tenant) == ["SessionFirstPartyRinging", "SessionFirstPartyAnswer"]


@pytest.mark.parametrize("status", ["", "answered", "ringing?"])
def test_a_status_twilio_does_not_send_is_a_400(client, store, tenant, status):
    session = open_session(store, tenant)
    assert report(client, session, status, new_sid()).status_code == 400
    assert outbox(store, tenant.auth_id) == []


def test_an_unsigned_status_callback_is_refused(client, store, tenant):
    session = open_session(store, tenant)
    url = f"{STATUS_URL}?t={session.auth_id}&s={session.session_uuid}"
    assert post(client, url, {"CallSid": new_sid(), "CallStatus": "busy"}, token="another-token").status_code == 403
    assert outbox(store, tenant.auth_id) == []


# -- no carrier, no queue ------------------------------------------------------------------------------------------
def free_numbers(store, tenant):
    keys = store.keys
    return sum(
        store.redis.scard(keys.free(tenant.auth_id, c)) for c in store.redis.smembers(keys.countries(tenant.auth_id))
    )


@pytest.mark.parametrize("asked", [True, "true"])
def test_a_call_out_without_carrier_credentials_is_a_400_before_any_number_is_taken(
    make_app, queue, store, tenant, asked
):
    client = make_app(QUEUE=queue, TWILIO_ACCOUNT_SID="").test_client()
    free = free_numbers(store, tenant)
    response = client.post(
        tenant.plivo_base, json={**OUTBOUND, "initiate_call_to_first_party": asked}, auth=tenant.basic
    )
    assert response.status_code == 400
    assert response.get_json()["field"] == "initiate_call_to_first_party"
    assert "initiate_call_to_first_party" in response.get_json()["error"]
    assert (free_numbers(store, tenant), queue.get_jobs()) == (free, [])
    plain = client.post(tenant.plivo_base, json={**OUTBOUND, "initiate_call_to_first_party": False}, auth=tenant.basic)
    assert plain.status_code == 200


def test_a_queue_that_cannot_take_the_job_is_an_event_not_a_5xx(client, queue, store, tenant, monkeypatch):
    def refuse(*args, **kwargs):
        raise redis.ConnectionError("the queue is down")

    monkeypatch.setattr(queue, "enqueue", refuse)
    response = client.post(tenant.plivo_base, json=OUTBOUND, auth=tenant.basic)
    assert response.status_code == 200
    [event] = [wire_fields(e) for e in outbox(store, tenant.auth_id)]
    assert (event["EventName"], event["SessionUUID"], event["HangupCause"]) == (
        "SessionFirstPartyFailed",
        response.get_json()["session_uuid"],
        "Call Failed",
    )
    # masq's own failure to place the call, in Plivo's words: its Internal Error.
    assert (event["PlivoHangupCause"], event["PlivoHangupCauseCode"]) == ("Internal Error", "5010")


def test_a_worker_without_carrier_credentials_tells_the_tenant(job_environment, fake_twilio, real_store, real_tenant):
    job_environment.setenv("TWILIO_AUTH_TOKEN", "")
    session = open_session(real_store, real_tenant)
    assert call_first_party(real_tenant.auth_id, session.session_uuid, answer_url(session)) == ""
    assert fake_twilio.calls == []
    assert event_names(real_store, real_tenant) == ["SessionFirstPartyFailed"]
