"""Each tenant's next due, and the doorbell that rings once when work falls due sooner."""

import pytest

from routing import due, outbox
from routing.clock import US, now_us
from routing.due import Ring
from routing.sessions import lifecycle
from tests.sessions_helpers import credential
from tests.twilio_helpers import call, new_sid

NOW = 1_700_000_000 * US
CLAIM_MS = 120_000
QUIET = 120 * US
PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}


@pytest.fixture
def rings(store):
    """The rings published on the store's due channel: call it to read those that arrived since."""
    pubsub = store.redis.pubsub()
    pubsub.subscribe(store.keys.due_channel())
    pubsub.get_message(timeout=1)  # the subscription's confirmation

    def heard():
        got = []
        while (message := pubsub.get_message(timeout=0.05)) is not None:
            got.append(due.parse_ring(message["data"]))
        return got

    yield heard
    pubsub.close()


def next_due(store, tenant, now=NOW, waiting=False):
    return due.next_due(store, tenant.auth_id, now, CLAIM_MS, QUIET, waiting=waiting)


def hint(store, tenant):
    return store.redis.hgetall(store.keys.next_due(tenant.auth_id))


def open_session(store, tenant, now=NOW, **options):
    return lifecycle.open_session(store, credential(tenant), {**PARTIES, **options}, now)


def add_event(store, tenant, session):
    store.redis.xadd(
        store.keys.events(tenant.auth_id),
        {"EventName": "SessionFirstPartyAnswer", "SessionUUID": session.session_uuid, "SequenceNumber": "1"},
    )


def test_a_tenant_with_nothing_to_do_is_never_due_and_keeps_no_hint(store, tenant):
    assert next_due(store, tenant) == due.Due(None, None, None, None, None, None)
    assert hint(store, tenant) == {}


def test_an_open_session_makes_the_tenant_due_at_its_expiry_and_rings_once(store, tenant, rings):
    first = open_session(store, tenant, session_expiry=600)
    open_session(store, tenant, session_expiry=900)  # later than the hint: no ring

    assert rings() == [Ring(tenant.auth_id, first.expiry, first.expiry - NOW)]
    assert next_due(store, tenant).sweep == first.expiry == next_due(store, tenant).due
    assert hint(store, tenant) == {"at": str(first.expiry), "waiting": "0"}


def test_a_sooner_expiry_rings_again(store, tenant, rings):
    session = open_session(store, tenant, session_expiry=600)
    rings()

    lifecycle.update_session(store, tenant.auth_id, session.session_uuid, {"session_expiry": 60}, NOW + US)

    assert rings() == [Ring(tenant.auth_id, NOW + 61 * US, 60 * US)]
    assert next_due(store, tenant).sweep == NOW + 61 * US


def test_a_burst_of_events_rings_once_until_the_worker_writes_the_hint_again(store, tenant, rings):
    sessions = [open_session(store, tenant, session_expiry=600) for _ in range(3)]
    next_due(store, tenant)
    rings()

    for session in sessions:  # each end appends an event, due now
        lifecycle.end_session(store, tenant.auth_id, session.session_uuid, NOW)
    burst = rings()
    outbox.claim(store, tenant.auth_id, "w1", NOW)
    after_claim = next_due(store, tenant)
    lifecycle.end_session(store, tenant.auth_id, open_session(store, tenant).session_uuid, NOW + US)

    assert burst == [Ring(tenant.auth_id, NOW, 0)]
    assert after_claim.new is None and NOW < after_claim.stale <= NOW + CLAIM_MS * 1000
    assert rings() == [Ring(tenant.auth_id, NOW + US, 0)]


def test_new_events_are_due_now_and_pending_ones_at_their_claim_time(store, tenant):
    session = open_session(store, tenant)
    add_event(store, tenant, session)
    unread = next_due(store, tenant)
    outbox.claim(store, tenant.auth_id, "w1", NOW)
    add_event(store, tenant, session)

    read = next_due(store, tenant)

    assert unread.new == unread.due == NOW
    assert read.new == NOW
    assert read.stale is not None and NOW < read.stale <= NOW + CLAIM_MS * 1000


def test_a_failed_delivery_is_due_at_its_retry(store, tenant):
    session = open_session(store, tenant)
    add_event(store, tenant, session)
    [event] = outbox.claim(store, tenant.auth_id, "w1", NOW)

    outbox.failed(store, tenant.auth_id, event, "HTTP 500", NOW)

    got = next_due(store, tenant)
    assert got.retry == NOW + outbox.BACKOFF[0] * US and got.stale is None and got.new is None


def test_a_retry_made_due_now_rings_the_doorbell(store, tenant, rings):
    session = open_session(store, tenant)
    add_event(store, tenant, session)
    [event] = outbox.claim(store, tenant.auth_id, "w1", NOW)
    outbox.failed(store, tenant.auth_id, event, "HTTP 500", NOW)
    next_due(store, tenant)
    rings()

    assert outbox.retry_now(store, tenant.auth_id, event.entry_id, NOW + US)
    assert not outbox.retry_now(store, tenant.auth_id, "1-1", NOW + US)

    assert rings() == [Ring(tenant.auth_id, NOW + US, 0)]
    assert next_due(store, tenant, NOW + US).retry == NOW + US


def test_a_released_number_is_due_when_its_cool_off_ends(store, tenant, rings):
    session = open_session(store, tenant, session_expiry=600, virtual_number_cooloff_period=30)
    next_due(store, tenant)
    rings()

    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, NOW)
    outbox.delivered(store, tenant.auth_id, outbox.claim(store, tenant.auth_id, "w1", NOW))

    # The number's cool-off, then the end's event, sooner still.
    assert rings() == [Ring(tenant.auth_id, NOW + 30 * US, 30 * US), Ring(tenant.auth_id, NOW, 0)]
    assert next_due(store, tenant).sweep == NOW + 30 * US


def test_a_live_call_is_due_for_reconciling_once_quiet_and_rings_when_it_starts(client, store, tenant, rings):
    session = open_session(store, tenant, now_us(), session_expiry=3600)
    next_due(store, tenant, now_us())
    rings()
    before = now_us()

    call(client, PARTIES["first_party"], session.virtual_number, new_sid())

    [ring] = rings()
    got = next_due(store, tenant, now_us())
    assert ring.auth_id == tenant.auth_id and ring.delay == 0
    assert got.reconcile is not None and before + QUIET <= got.reconcile <= now_us() + QUIET


def test_while_the_worker_holds_all_it_may_an_event_rings_no_doorbell(store, tenant, rings):
    session = open_session(store, tenant, session_expiry=600)
    got = next_due(store, tenant, waiting=True)
    rings()

    lifecycle.end_session(store, tenant.auth_id, open_session(store, tenant).session_uuid, NOW)

    assert rings() == []
    assert got.due == session.expiry and hint(store, tenant) == {"at": str(session.expiry), "waiting": "1"}


def test_a_replayed_dead_letter_rings_the_doorbell(store, tenant, rings):
    session = open_session(store, tenant)
    add_event(store, tenant, session)
    [event] = outbox.claim(store, tenant.auth_id, "w1", NOW)
    outbox.failed(store, tenant.auth_id, event, "refused", NOW, retry=False)
    next_due(store, tenant)
    rings()

    assert outbox.replay(store, tenant.auth_id) == 1

    assert [r.auth_id for r in rings()] == [tenant.auth_id]


@pytest.mark.parametrize("message", ["", "1 2", "x 2 MA1", "1 y MA1", "1 2 "])
def test_a_message_that_is_not_a_ring_is_none(message):
    assert due.parse_ring(message) is None


def test_a_ring_says_when_and_how_soon():
    assert due.parse_ring("1700000060000000 1700000000000000 MA1 2") == Ring("MA1 2", 1700000060000000, 60 * US)
