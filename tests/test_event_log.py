"""A session's history of events: each event kept after delivery, with where its delivery stands."""

from __future__ import annotations

import pytest

from routing import event_log, outbox
from routing.clock import US, plivo_time
from routing.outbox import Policy
from routing.sessions import lifecycle
from tests.conftest import backlog
from tests.sessions_helpers import credential

T0 = 1_700_000_000 * US
PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321", "session_expiry": 600}
FAST = Policy(backoff=(1, 2, 3))


@pytest.fixture
def ended(store, tenant):
    """A session ended on request at T0 + 1 s: one SessionEnded event in the outbox."""
    session = lifecycle.open_session(store, credential(tenant), PARTIES, T0)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, T0 + US)
    return session


def history(store, session):
    return event_log.session_events(store, session.auth_id, session.session_uuid)


def settle(store, auth_id, now, error=None, retry=True):
    """Claim what is owed at `now`; deliver it, or fail it with `error`."""
    events = outbox.claim(store, auth_id, "w1", now, policy=FAST)
    if error is None:
        outbox.delivered(store, auth_id, events)
    for event in events if error is not None else []:
        outbox.failed(store, auth_id, event, error, now, retry=retry, policy=FAST)
    return events


def test_an_event_not_yet_sent_is_queued_with_its_fields_as_the_tenant_receives_them(store, ended):
    [event] = history(store, ended)

    assert event.state == event_log.QUEUED
    assert event.name == "SessionEnded"
    assert event.fields["EventTimestamp"] == plivo_time(T0 + US)
    assert event.fields["SessionUUID"] == ended.session_uuid
    assert event.fields["VirtualNumber"] == ended.virtual_number


def test_a_delivered_event_stays_in_the_history_once_the_outbox_forgets_it(store, tenant, ended):
    [sent] = settle(store, tenant.auth_id, T0 + 2 * US)

    assert backlog(store, tenant.auth_id) == 0
    [event] = history(store, ended)
    assert (event.entry_id, event.state, event.name) == (sent.entry_id, event_log.DELIVERED, "SessionEnded")


def test_a_failed_event_is_retrying_with_its_attempts_last_error_and_next_try(store, tenant, ended):
    settle(store, tenant.auth_id, T0 + 2 * US, error="HTTP 503")

    [event] = history(store, ended)
    assert event.state == event_log.RETRYING
    assert (event.attempts, event.error) == (1, "HTTP 503")
    assert (event.failed_at, event.due) == (T0 + 2 * US, T0 + 2 * US + FAST.backoff[0] * US)


def test_an_event_given_up_on_is_dead_with_its_error_and_when(store, tenant, ended):
    settle(store, tenant.auth_id, T0 + 2 * US, error="HTTP 404", retry=False)

    [event] = history(store, ended)
    assert (event.state, event.attempts, event.error, event.failed_at) == (event_log.DEAD, 1, "HTTP 404", T0 + 2 * US)


def test_a_replayed_dead_event_is_a_new_entry_of_the_history_and_the_dead_one_reads_replayed(store, tenant, ended):
    [dead] = settle(store, tenant.auth_id, T0 + 2 * US, error="HTTP 404", retry=False)

    assert outbox.replay(store, tenant.auth_id, [dead.entry_id]) == 1

    old, new = history(store, ended)
    assert (old.entry_id, old.state) == (dead.entry_id, event_log.REPLAYED)
    assert (new.state, new.replay_of, new.fields) == (event_log.QUEUED, dead.entry_id, old.fields)
    settle(store, tenant.auth_id, T0 + 3 * US)
    assert [e.state for e in history(store, ended)] == [event_log.REPLAYED, event_log.DELIVERED]


def test_a_dead_letter_two_replays_take_at_once_goes_back_once(store, tenant, ended, monkeypatch):
    [dead] = settle(store, tenant.auth_id, T0 + 2 * US, error="HTTP 404", retry=False)
    letters = outbox.dead_letters(store, tenant.auth_id)
    monkeypatch.setattr(outbox, "dead_letters", lambda *args: letters)  # both read the letter before either wrote

    replayed = outbox.replay(store, tenant.auth_id, [dead.entry_id]) + outbox.replay(store, tenant.auth_id)

    assert replayed == 1
    assert backlog(store, tenant.auth_id) == 1


def test_another_sessions_events_are_not_in_the_history(store, tenant, ended):
    other = lifecycle.open_session(store, credential(tenant), PARTIES, T0)
    lifecycle.end_session(store, tenant.auth_id, other.session_uuid, T0 + 5 * US)

    assert [e.fields["SessionUUID"] for e in history(store, ended)] == [ended.session_uuid]
    assert [e.fields["SessionUUID"] for e in history(store, other)] == [other.session_uuid]


def test_the_history_lives_as_long_as_the_sessions_call_state(store, tenant, ended):
    keys = store.keys
    kept = store.redis.pttl(keys.session_events(tenant.auth_id, ended.session_uuid))

    assert kept > 0
    assert abs(kept - store.redis.pttl(keys.call_state(tenant.auth_id, ended.session_uuid))) < 5_000


def test_an_open_session_without_events_has_an_empty_history(store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, T0)

    assert history(store, session) == []
