"""Quiet live calls are reconciled with the carrier's Calls resource, even after Redis itself went away."""

import socket
import subprocess
import time
import uuid

import pytest
import redis

from routing import settings
from routing.calls.history import read_calls
from routing.clock import US, now_us
from routing.outbox import wire_fields
from routing.sessions import lifecycle
from routing.store import Store
from tests.conftest import make_tenant, outbox, wait_for
from tests.fake_twilio import FakeTwilio
from tests.sessions_helpers import credential
from tests.twilio_helpers import ACCOUNT_SID, call, new_sid, post, xml
from workers import dispatcher as dispatcher_module
from workers.deliveries import Sender
from workers.dispatcher import Dispatcher

pytestmark = pytest.mark.integration

FIRST, SECOND = "+14155551234", "+14155554321"
HANGUPS = ["SessionSecondPartyHangup", "SessionFirstPartyHangup", "SessionPartiesHangup"]


@pytest.fixture(autouse=True)
def keep_outbox(monkeypatch):
    """Leave events in the outbox, to be read by the test, instead of delivering them."""
    monkeypatch.setattr(dispatcher_module.Dispatcher, "_claim", lambda *args: False)


@pytest.fixture
def fake_twilio():
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


def carrier(fake):
    return settings.twilio_client(
        {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": "secret", "TWILIO_API_BASE_URL": fake.url}
    )


def bridged(client, store, tenant):
    session = lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND}, now_us()
    )
    sid = new_sid()
    assert [v.tag for v in xml(call(client, FIRST, session.virtual_number, sid))] == ["Dial"]
    return session, sid


def hangups(store, tenant):
    return [e for e in outbox(store, tenant.auth_id) if e["EventName"].endswith("Hangup")]


def later(minutes):
    return lambda: now_us() + minutes * 60 * US


def dispatcher(store, fake, clock):
    return Dispatcher(store, Sender(threads=1), clock=clock, carrier=carrier(fake) if fake else None, worker_id="w1")


def test_a_quiet_call_the_carrier_reports_over_is_closed_with_its_duration(store, client, tenant, fake_twilio):
    session, sid = bridged(client, store, tenant)
    fake_twilio.set_call(sid, "completed", 95)

    dispatcher(store, fake_twilio, later(1)).tick()  # not quiet long enough: not asked
    assert fake_twilio.fetched == [] and hangups(store, tenant) == []

    dispatcher(store, fake_twilio, later(3)).tick()
    assert fake_twilio.fetched == [sid]
    events = {e["EventName"]: e for e in hangups(store, tenant)}
    assert sorted(events) == sorted(HANGUPS)
    assert (events["SessionFirstPartyHangup"]["Duration"], events["SessionFirstPartyHangup"]["BilledDuration"]) == (
        "95",
        "120",
    )
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).live == ""
    assert store.redis.zcard(store.keys.live_calls(tenant.auth_id)) == 0


def test_a_call_still_live_at_the_carrier_is_left_alone_and_asked_again_later(store, client, tenant, fake_twilio):
    session, sid = bridged(client, store, tenant)
    fake_twilio.set_call(sid, "in-progress")
    dispatcher(store, fake_twilio, later(3)).tick()
    assert fake_twilio.fetched == [sid] and hangups(store, tenant) == []
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).live == sid

    dispatcher(store, fake_twilio, later(4)).tick()  # put off: not asked again so soon
    assert fake_twilio.fetched == [sid]

    fake_twilio.set_call(sid, "completed", 400)
    dispatcher(store, fake_twilio, later(7)).tick()
    assert fake_twilio.fetched == [sid, sid]
    assert sorted(e["EventName"] for e in hangups(store, tenant)) == sorted(HANGUPS)


def test_a_call_the_carrier_does_not_know_is_closed_as_failed(store, client, tenant, fake_twilio):
    bridged(client, store, tenant)
    dispatcher(store, fake_twilio, later(3)).tick()
    events = {e["EventName"]: e for e in hangups(store, tenant)}
    assert wire_fields(events["SessionPartiesHangup"])["HangupCause"] == "Call Failed"


def test_without_carrier_credentials_the_bounded_hold_ends_a_dead_call(store, client, tenant):
    session, sid = bridged(client, store, tenant)
    dispatcher(store, None, later(3)).tick()
    assert hangups(store, tenant) == []
    state = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
    assert state.live == sid and not state.in_call(now_us() + (120 + 60) * US + 1)
    assert state.live_until <= now_us() + (120 + 60) * US


# -- Redis down when the call ends ---------------------------------------------------------------------
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server of the test's own, on a free port, keeping its data (append-only) in `directory`."""

    def __init__(self, directory):
        self.directory, self.port, self.process = str(directory), free_port(), None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                "/usr/bin/redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.directory,
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


def wait_for_redis(check, seconds=10):
    """Poll `check` while the test's own Redis may be down."""
    wait_for(check, seconds, ignoring=(redis.ConnectionError,))


@pytest.mark.parametrize("heals_by", ["carrier-retry", "reconciler"])
def test_a_call_ending_while_redis_is_down_heals_when_redis_returns(own_redis, make_app, fake_twilio, heals_by):
    store = Store.connect(own_redis.url, f"masqtest:{uuid.uuid4().hex[:8]}:")
    tenant = make_tenant(store)
    client = make_app(STORE=store).test_client()
    session, sid = bridged(client, store, tenant)
    leg = new_sid()
    post(client, f"/voice/leg-status?t={tenant.auth_id}&c={sid}", {"CallSid": leg, "CallStatus": "in-progress"})
    completed = {"CallSid": leg, "CallStatus": "completed", "CallDuration": "42"}

    own_redis.stop()
    assert post(client, f"/voice/leg-status?t={tenant.auth_id}&c={sid}", completed).status_code == 503
    done = post(
        client,
        f"/voice/dial-complete?t={tenant.auth_id}&c={sid}",
        {"CallSid": sid, "DialCallStatus": "completed", "DialCallSid": leg, "DialCallDuration": "42"},
    )
    assert [v.tag for v in xml(done)] == ["Say", "Hangup"]  # the caller still hears TwiML

    own_redis.start()
    wait_for_redis(lambda: store.redis.ping())
    if heals_by == "carrier-retry":
        assert post(client, f"/voice/leg-status?t={tenant.auth_id}&c={sid}", completed).status_code == 204
    else:
        fake_twilio.set_call(sid, "completed", 44)
        dispatcher(store, fake_twilio, later(3)).tick()
    assert sorted(e["EventName"] for e in hangups(store, tenant)) == sorted(HANGUPS)
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).live == ""
    assert [v.tag for v in xml(call(client, SECOND, session.virtual_number))] == ["Dial"]


def test_a_reconciled_call_shows_its_legs_ended_when_the_carrier_says(store, client, tenant, fake_twilio):
    session, sid = bridged(client, store, tenant)
    leg_sid = new_sid()
    path = f"/voice/leg-status?t={tenant.auth_id}&c={sid}"
    assert post(client, path, {"CallSid": leg_sid, "CallStatus": "in-progress"}).status_code == 204
    fake_twilio.set_call(sid, "completed", 30)

    dispatcher(store, fake_twilio, later(10)).tick()

    calls = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
    (interaction,) = calls.interactions
    assert interaction.b_status == "completed"
    assert interaction.duration <= 31  # ended when the carrier's call did, not when masq asked minutes later
