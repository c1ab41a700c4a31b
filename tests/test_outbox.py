import json
import uuid

import pytest

from routing import outbox
from routing.clock import US
from routing.outbox import GROUP, LEASE, DeadLetter, Event, Policy
from tests.conftest import backlog

NOW = 1_700_000_000 * US
FAST = Policy(backoff=(1, 2, 3))
# The idle time after which a silent consumer's events are taken over, in the takeover tests: long enough that no
# pause of a loaded machine reaches it; tests age the events explicitly (`fall_silent`) instead of sleeping.
SILENT_MS = 60_000


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.integration)])
def any_store(request):
    """The same behaviour is expected of fakeredis and of a real Redis (the retry lease is a Lua script)."""
    return request.getfixturevalue("store" if request.param == "fakeredis" else "real_store")


@pytest.fixture
def auth_id():
    return "MA" + uuid.uuid4().hex[:18].upper()


SESSION_UUID = "2b4c1a0e-0000-4000-8000-000000000001"


def add_event(store, auth_id, name="SessionFirstPartyAnswer", seq=1, session_uuid=SESSION_UUID):
    """Append an event shaped like the ones the call scripts append; return its entry id."""
    return store.redis.xadd(
        store.keys.events(auth_id),
        {
            "EventName": name,
            "EventTimestamp": "2023-11-14 22:13:20.000000 +0000 UTC",
            "SessionUUID": session_uuid,
            "CallUUID": "CA0123456789abcdef0123456789abcdef",
            "From": "+14155551234",
            "To": "+14155554321",
            "VirtualNumber": "+14155550100",
            "PinAuthenticationStatus": "",
            "PinRetryCounter": "0",
            "SequenceNumber": str(seq),
        },
    )


def fields_of(store, auth_id, entry_id):
    [(_, fields)] = store.redis.xrange(store.keys.events(auth_id), entry_id, entry_id)
    return fields


def failure_of(store, auth_id, entry_id):
    raw = store.redis.hget(store.keys.event_failures(auth_id), entry_id)
    return json.loads(raw) if raw else None


def due_at(store, auth_id, entry_id):
    score = store.redis.zscore(store.keys.event_retries(auth_id), entry_id)
    return None if score is None else int(score)


def fail_once(store, auth_id, now, error="HTTP 500", policy=FAST):
    """Claim what is owed at `now` and fail the one event it holds; return whether it became a dead letter."""
    [event] = outbox.claim(store, auth_id, "w1", now, policy=policy)
    return outbox.failed(store, auth_id, event, error, now, policy=policy)


def test_a_new_event_is_claimed_once(any_store, auth_id):
    entry_id = add_event(any_store, auth_id)

    first = outbox.claim(any_store, auth_id, "w1", NOW)
    by_another = outbox.claim(any_store, auth_id, "w2", NOW)
    again = outbox.claim(any_store, auth_id, "w1", NOW)

    assert first == [Event(entry_id, fields_of(any_store, auth_id, entry_id), attempts=0)]
    assert by_another == [] and again == []


def test_a_claim_takes_at_most_count_events_oldest_first(store, auth_id):
    ids = [add_event(store, auth_id, seq=n) for n in (1, 2, 3)]

    first = outbox.claim(store, auth_id, "w1", NOW, count=2)
    rest = outbox.claim(store, auth_id, "w2", NOW, count=2)

    assert [e.entry_id for e in first] == ids[:2] and [e.entry_id for e in rest] == ids[2:]


def test_a_delivered_event_is_acknowledged_and_deleted(any_store, auth_id):
    add_event(any_store, auth_id)
    events = outbox.claim(any_store, auth_id, "w1", NOW)

    outbox.delivered(any_store, auth_id, events)

    assert any_store.redis.xlen(any_store.keys.events(auth_id)) == 0
    assert backlog(any_store, auth_id) == 0
    assert any_store.redis.xpending(any_store.keys.events(auth_id), GROUP)["pending"] == 0
    assert outbox.claim(any_store, auth_id, "w2", NOW + 3600 * US) == []


def test_settling_nothing_as_delivered_does_nothing(store, auth_id):
    add_event(store, auth_id)

    outbox.delivered(store, auth_id, [])

    assert backlog(store, auth_id) == 1


def test_a_failed_event_is_parked_for_the_first_back_off_with_its_attempts_and_error(any_store, auth_id):
    entry_id = add_event(any_store, auth_id)

    dead = fail_once(any_store, auth_id, NOW, "HTTP 500")

    assert dead is False
    assert due_at(any_store, auth_id, entry_id) == NOW + FAST.backoff[0] * US
    assert failure_of(any_store, auth_id, entry_id) == {"attempts": 1, "error": "HTTP 500", "at": NOW}
    assert any_store.redis.xpending(any_store.keys.events(auth_id), GROUP)["pending"] == 0
    assert backlog(any_store, auth_id) == 1  # still owed


def test_a_parked_event_is_not_claimable_before_its_time_and_is_claimable_at_it(any_store, auth_id):
    entry_id = add_event(any_store, auth_id)
    fail_once(any_store, auth_id, NOW)
    due = NOW + FAST.backoff[0] * US

    early = outbox.claim(any_store, auth_id, "w2", due - 1, policy=FAST)
    on_time = outbox.claim(any_store, auth_id, "w2", due, policy=FAST)

    assert early == []
    assert on_time == [Event(entry_id, fields_of(any_store, auth_id, entry_id), attempts=1)]


def test_a_claimed_retry_is_leased_so_it_is_never_sent_twice_at_once(any_store, auth_id):
    add_event(any_store, auth_id)
    fail_once(any_store, auth_id, NOW)
    due = NOW + FAST.backoff[0] * US

    held = outbox.claim(any_store, auth_id, "w1", due, policy=FAST)
    same_instant = outbox.claim(any_store, auth_id, "w2", due, policy=FAST)
    within_lease = outbox.claim(any_store, auth_id, "w2", due + LEASE - 1, policy=FAST)
    lease_over = outbox.claim(any_store, auth_id, "w2", due + LEASE, policy=FAST)

    assert len(held) == 1 and same_instant == [] and within_lease == []
    assert [e.entry_id for e in lease_over] == [held[0].entry_id]  # its holder went silent: it is owed again


def test_attempts_grow_along_the_back_off(any_store, auth_id):
    entry_id = add_event(any_store, auth_id)
    now = NOW

    for attempt, wait in enumerate(FAST.backoff, start=1):
        [event] = outbox.claim(any_store, auth_id, "w1", now, policy=FAST)
        assert event.attempts == attempt - 1
        assert outbox.failed(any_store, auth_id, event, f"HTTP 50{attempt}", now, policy=FAST) is False
        assert due_at(any_store, auth_id, entry_id) == now + wait * US
        assert failure_of(any_store, auth_id, entry_id)["attempts"] == attempt
        now += wait * US


def test_the_failure_of_the_last_retry_makes_a_dead_letter_that_leaves_the_stream(any_store, auth_id):
    entry_id = add_event(any_store, auth_id)
    fields = fields_of(any_store, auth_id, entry_id)
    now = NOW
    for wait in FAST.backoff:  # the first try, then one retry after each back-off
        assert fail_once(any_store, auth_id, now) is False
        now += wait * US

    dead = fail_once(any_store, auth_id, now, "HTTP 503")

    assert dead is True
    assert outbox.dead_letters(any_store, auth_id) == [
        DeadLetter(entry_id, fields, attempts=len(FAST.backoff) + 1, error="HTTP 503", failed_at=now)
    ]
    assert backlog(any_store, auth_id) == 0
    assert any_store.redis.exists(any_store.keys.event_retries(auth_id), any_store.keys.event_failures(auth_id)) == 0
    assert outbox.claim(any_store, auth_id, "w2", now + 86_400 * US, policy=FAST) == []


def test_a_failure_that_cannot_be_retried_is_a_dead_letter_at_once(store, auth_id):
    entry_id = add_event(store, auth_id)
    [event] = outbox.claim(store, auth_id, "w1", NOW)

    dead = outbox.failed(store, auth_id, event, "callback URLs must be http or https", NOW, retry=False)

    assert dead is True
    [letter] = outbox.dead_letters(store, auth_id)
    assert (letter.entry_id, letter.attempts, letter.error) == (entry_id, 1, "callback URLs must be http or https")
    assert backlog(store, auth_id) == 0
    assert store.redis.zcard(store.keys.event_retries(auth_id)) == 0


def test_a_retry_that_is_delivered_leaves_no_trace(store, auth_id):
    add_event(store, auth_id)
    fail_once(store, auth_id, NOW)
    events = outbox.claim(store, auth_id, "w1", NOW + FAST.backoff[0] * US, policy=FAST)

    outbox.delivered(store, auth_id, events)

    assert backlog(store, auth_id) == 0
    assert store.redis.exists(store.keys.event_retries(auth_id), store.keys.event_failures(auth_id)) == 0


def make_dead_letters(store, auth_id, count):
    ids = [add_event(store, auth_id, seq=n) for n in range(1, count + 1)]
    for n, event in enumerate(outbox.claim(store, auth_id, "w1", NOW)):
        outbox.failed(store, auth_id, event, "refused", NOW + n, retry=False)
    return ids


def test_dead_letters_are_listed_oldest_first(store, auth_id):
    ids = make_dead_letters(store, auth_id, 3)

    assert [d.entry_id for d in outbox.dead_letters(store, auth_id)] == ids


def test_replay_puts_every_dead_letter_back_as_a_new_entry(any_store, auth_id):
    make_dead_letters(any_store, auth_id, 2)
    letters = outbox.dead_letters(any_store, auth_id)

    replayed = outbox.replay(any_store, auth_id)

    assert replayed == 2
    assert outbox.dead_letters(any_store, auth_id) == []
    again = outbox.claim(any_store, auth_id, "w2", NOW + US)
    assert sorted(e.fields["SequenceNumber"] for e in again) == ["1", "2"]
    assert [e.fields for e in again] == [d.fields for d in letters]
    assert all(e.attempts == 0 for e in again)
    assert {e.entry_id for e in again}.isdisjoint(d.entry_id for d in letters)


def test_replay_of_given_ids_leaves_the_other_dead_letters(store, auth_id):
    first, second, third = make_dead_letters(store, auth_id, 3)

    replayed = outbox.replay(store, auth_id, [first, third, "0-1"])

    assert replayed == 2
    assert [d.entry_id for d in outbox.dead_letters(store, auth_id)] == [second]
    assert sorted(e.fields["SequenceNumber"] for e in outbox.claim(store, auth_id, "w2", NOW)) == ["1", "3"]


def fall_silent(store, auth_id, consumer: str, idle_ms: int) -> None:
    """Make the events `consumer` holds look untouched for `idle_ms`, as if it had died that long ago."""
    stream = store.keys.events(auth_id)
    held = [p["message_id"] for p in store.redis.xpending_range(stream, GROUP, "-", "+", 1000, consumername=consumer)]
    store.redis.xclaim(stream, GROUP, consumer, 0, held, idle=idle_ms, justid=True)  # JUSTID: no delivery counted


def test_an_event_held_by_a_consumer_that_died_is_taken_over_after_the_idle_time(real_store, auth_id):
    policy = Policy(backoff=(1, 2, 3), claim_idle_ms=SILENT_MS)
    entry_id = add_event(real_store, auth_id)
    [held] = outbox.claim(real_store, auth_id, "died", NOW, policy=policy)

    too_soon = outbox.claim(real_store, auth_id, "w2", NOW, policy=policy)
    fall_silent(real_store, auth_id, "died", SILENT_MS)
    taken_over = outbox.claim(real_store, auth_id, "w2", NOW, policy=policy)
    by_a_third = outbox.claim(real_store, auth_id, "w3", NOW, policy=policy)

    assert too_soon == [] and by_a_third == []
    assert taken_over == [held] and held.entry_id == entry_id
    [consumer] = [c for c in real_store.redis.xinfo_consumers(real_store.keys.events(auth_id), GROUP) if c["pending"]]
    assert consumer["name"] == "w2"


def test_the_consumer_group_is_made_on_first_use_and_sees_earlier_events(any_store, auth_id):
    entry_id = add_event(any_store, auth_id)  # appended before any worker looked

    claimed = outbox.claim(any_store, auth_id, "w1", NOW)

    assert [e.entry_id for e in claimed] == [entry_id]
    assert [g["name"] for g in any_store.redis.xinfo_groups(any_store.keys.events(auth_id))] == [GROUP]


def test_a_tenant_with_no_events_has_an_empty_outbox(any_store, auth_id):
    assert outbox.claim(any_store, auth_id, "w1", NOW) == []
    assert backlog(any_store, auth_id) == 0


def test_the_consumer_group_is_made_again_when_the_stream_was_deleted(real_store, auth_id):
    add_event(real_store, auth_id)
    outbox.delivered(real_store, auth_id, outbox.claim(real_store, auth_id, "w1", NOW))
    real_store.redis.delete(real_store.keys.events(auth_id))

    assert outbox.claim(real_store, auth_id, "w1", NOW) == []  # no stream at all
    real_store.redis.delete(real_store.keys.events(auth_id))
    entry_id = add_event(real_store, auth_id, seq=2)  # a stream again, but without the group
    claimed = outbox.claim(real_store, auth_id, "w1", NOW)

    assert [e.entry_id for e in claimed] == [entry_id]


def test_an_event_deleted_while_its_holder_was_silent_is_skipped_on_takeover(real_store, auth_id):
    policy = Policy(backoff=(1, 2, 3), claim_idle_ms=SILENT_MS)
    gone = add_event(real_store, auth_id, seq=1)
    kept = add_event(real_store, auth_id, seq=2)
    outbox.claim(real_store, auth_id, "died", NOW, policy=policy)
    fall_silent(real_store, auth_id, "died", SILENT_MS)
    real_store.redis.xdel(real_store.keys.events(auth_id), gone)  # e.g. an operator trimmed the stream

    taken_over = outbox.claim(real_store, auth_id, "w2", NOW, policy=policy)

    assert [e.entry_id for e in taken_over] == [kept]


def test_retry_now_makes_a_waiting_retry_due_at_once(any_store, auth_id):
    entry = add_event(any_store, auth_id)
    fail_once(any_store, auth_id, NOW)

    assert outbox.retry_now(any_store, auth_id, entry, NOW + 1) is True

    assert due_at(any_store, auth_id, entry) == NOW + 1
    assert [e.entry_id for e in outbox.claim(any_store, auth_id, "w2", NOW + 1, policy=FAST)] == [entry]


def test_retry_now_leaves_an_event_that_waits_for_no_retry(store, auth_id):
    entry = add_event(store, auth_id)

    assert outbox.retry_now(store, auth_id, entry, NOW) is False
    assert due_at(store, auth_id, entry) is None
