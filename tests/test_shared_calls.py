"""Calls to a shared DID: resolved by who calls, tombstones after a session ends, strangers and their PINs."""

from __future__ import annotations

import pytest

from routing.calls import inbound, outbound
from routing.calls.history import read_calls
from routing.calls.inbound import AskPin, Bridge, HangUp, PinFailed, PinLocked, Refuse, TurnAway
from routing.calls.pin_guesses import PinBudget
from routing.clock import US, now_us
from routing.sessions import lifecycle
from tests.conftest import outbox
from tests.sessions_helpers import credential
from tests.shared_helpers import check_shared_state, dids, people, shared_tenant
from tests.twilio_helpers import call, new_sid, xml

A, B, C, D, STRANGER = people(5)
NOW = now_us()
PROMPT = "https://cdn.example.com/pin.mp3"
PINS = {"is_pin_authentication_required": True, "pin_prompt_play": PROMPT}
OLD_PLAY, NEW_PLAY = "https://cdn.example.com/old.mp3", "https://cdn.example.com/new.mp3"


@pytest.fixture
def rides(store):
    return shared_tenant(store, dids(1))


def open_pair(store, tenant, first, second, now=NOW, **fields):
    request = {"first_party": first, "second_party": second, **fields}
    return lifecycle.open_session(store, credential(tenant), request, now)


def ring(store, number, caller, now=NOW + 10, sid=None):
    return inbound.identify_caller(store, inbound.incoming_call(sid or new_sid(), caller, number), now)


def test_each_caller_reaches_their_own_session_on_one_did(store, rides):
    first = open_pair(store, rides, A, B)
    second = open_pair(store, rides, C, D)
    assert first.virtual_number == second.virtual_number

    # A call holds its session for its ring window (3 minutes here): the second party calls after it.
    reached = {
        caller: ring(store, first.virtual_number, caller, NOW + at * US)
        for caller, at in zip((A, C, B, D), (1, 1, 400, 400), strict=True)
    }

    assert all(isinstance(decision, Bridge) for decision in reached.values())
    assert {caller: (d.session.session_uuid, d.callee) for caller, d in reached.items()} == {
        A: (first.session_uuid, B),
        B: (first.session_uuid, A),
        C: (second.session_uuid, D),
        D: (second.session_uuid, C),
    }


def test_a_call_on_one_session_of_a_shared_did_does_not_hold_the_others(store, rides):
    first = open_pair(store, rides, A, B)
    second = open_pair(store, rides, C, D)

    assert isinstance(ring(store, first.virtual_number, A), Bridge)
    assert ring(store, first.virtual_number, B) == Refuse("busy")
    assert isinstance(ring(store, second.virtual_number, C), Bridge)


def test_a_stranger_on_a_shared_did_hears_the_newest_sessions_message_and_is_turned_away(store, rides):
    open_pair(store, rides, A, B, unknown_caller_play="https://cdn.example.com/old.mp3")
    open_pair(store, rides, C, D, NOW + 1, unknown_caller_play="https://cdn.example.com/new.mp3")

    assert ring(store, dids(1)[0], STRANGER) == TurnAway("https://cdn.example.com/new.mp3")
    assert ring(store, dids(1)[0], "") == TurnAway("https://cdn.example.com/new.mp3")


@pytest.mark.parametrize("cooloff", [0, 600])
def test_a_call_after_close_reaches_no_newer_session(store, rides, cooloff):
    old = open_pair(store, rides, A, B, virtual_number_cooloff_period=cooloff)
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 1)
    newer = open_pair(store, rides, C, D, NOW + 2)
    assert newer.virtual_number == old.virtual_number

    late = ring(store, old.virtual_number, B, NOW + 3)

    assert isinstance(late, TurnAway)
    assert read_calls(store, rides.auth_id, newer.session_uuid, NOW + 3).count == 0
    check_shared_state(store, rides.auth_id, NOW + 3)


# -- a call the carrier asks about again -----------------------------------------------------------------------------
def test_a_replayed_call_is_answered_by_its_own_session_never_by_a_newer_one_on_the_did(store, rides):
    old = open_pair(store, rides, A, B, virtual_number_cooloff_period=0)
    sid = new_sid()
    first = ring(store, old.virtual_number, A, NOW + 1, sid=sid)
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 2)
    newer = open_pair(store, rides, A, C, NOW + 3)
    assert newer.virtual_number == old.virtual_number

    replayed = ring(store, old.virtual_number, A, NOW + 4, sid=sid)

    assert isinstance(first, Bridge) and first.callee == B
    assert replayed == HangUp()
    assert read_calls(store, rides.auth_id, newer.session_uuid, NOW + 4).count == 0
    fresh = ring(store, old.virtual_number, A, NOW + 5)
    assert isinstance(fresh, Bridge) and fresh.callee == C  # a new call from A reaches A's new session
    check_shared_state(store, rides.auth_id, NOW + 5)


def test_a_replayed_call_whose_session_is_still_open_dials_the_same_party_again(store, rides):
    session = open_pair(store, rides, A, B)
    open_pair(store, rides, C, D, NOW + 1)
    sid = new_sid()
    first = ring(store, session.virtual_number, A, NOW + 2, sid=sid)

    again = ring(store, session.virtual_number, A, NOW + 3, sid=sid)

    assert again == first and isinstance(again, Bridge) and again.callee == B
    assert read_calls(store, rides.auth_id, session.session_uuid, NOW + 3).count == 1


@pytest.mark.parametrize("cooloff", [0, 600])
def test_a_replayed_call_of_an_ended_session_hangs_up_whoever_asks(store, rides, cooloff):
    old = open_pair(store, rides, A, B, virtual_number_cooloff_period=cooloff)
    open_pair(store, rides, C, D, NOW + 1)
    sids = {caller: new_sid() for caller in (A, B)}
    ring(store, old.virtual_number, A, NOW + 2, sid=sids[A])
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 3)

    # The same CallSid, even from another caller, is answered for the session it was recorded on.
    assert ring(store, old.virtual_number, A, NOW + 4, sid=sids[A]) == HangUp()
    assert ring(store, old.virtual_number, C, NOW + 4, sid=sids[A]) == HangUp()


def test_a_replayed_stranger_call_bridged_by_its_pin_never_reaches_a_newer_session(store, rides):
    old = open_pair(
        store, rides, A, B, first_party_pin="1111", second_party_pin="2222", virtual_number_cooloff_period=0, **PINS
    )
    sid = new_sid()
    ring(store, old.virtual_number, STRANGER, NOW + 1, sid=sid)
    assert isinstance(inbound.check_pin(store, rides.auth_id, sid, "1111", NOW + 2), Bridge)
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 3)
    newer = open_pair(store, rides, STRANGER, C, NOW + 4)
    assert newer.virtual_number == old.virtual_number

    assert ring(store, old.virtual_number, STRANGER, NOW + 5, sid=sid) == HangUp()
    assert read_calls(store, rides.auth_id, newer.session_uuid, NOW + 5).count == 0


def test_a_strangers_pin_check_replayed_after_the_session_ended_hangs_up(store, rides):
    old = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", **PINS)
    open_pair(store, rides, C, D, NOW + 1, first_party_pin="3333", second_party_pin="4444", **PINS)
    sid = new_sid()
    ring(store, old.virtual_number, STRANGER, NOW + 2, sid=sid)
    assert isinstance(inbound.check_pin(store, rides.auth_id, sid, "1111", NOW + 3), Bridge)
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 4)

    assert inbound.check_pin(store, rides.auth_id, sid, "1111", NOW + 5) == HangUp()


def test_a_replayed_call_that_was_refused_busy_is_refused_again_never_bridged_to_a_newer_session(store, rides):
    old = open_pair(store, rides, A, B, virtual_number_cooloff_period=0)
    ring(store, old.virtual_number, A, NOW + 1)  # A is on a call: the session is busy
    busy_sid = new_sid()
    assert ring(store, old.virtual_number, A, NOW + 2, sid=busy_sid) == Refuse("busy")
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 3)
    newer = open_pair(store, rides, A, C, NOW + 4)
    assert newer.virtual_number == old.virtual_number

    assert ring(store, old.virtual_number, A, NOW + 5, sid=busy_sid) == Refuse("no-session")
    assert read_calls(store, rides.auth_id, newer.session_uuid, NOW + 5).count == 0


def test_a_replayed_call_of_a_stranger_turned_away_stays_refused_after_they_get_a_session(store, rides):
    old = open_pair(store, rides, A, B, virtual_number_cooloff_period=0)
    sid = new_sid()
    assert isinstance(ring(store, old.virtual_number, STRANGER, NOW + 1, sid=sid), TurnAway)
    request = {"first_party": STRANGER, "second_party": C}
    newer = lifecycle.open_session(store, credential(rides), request, NOW + 2, wanted_number=old.virtual_number)
    assert newer.virtual_number == old.virtual_number

    assert ring(store, old.virtual_number, STRANGER, NOW + 3, sid=sid) == Refuse("no-session")
    fresh = ring(store, old.virtual_number, STRANGER, NOW + 4)
    assert isinstance(fresh, Bridge) and fresh.callee == C  # a new call from them reaches their session


def test_a_replayed_call_of_a_stranger_who_failed_the_pin_hangs_up_and_is_not_asked_again(store, rides):
    session = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", pin_retry=0, **PINS)
    sid = new_sid()
    assert isinstance(ring(store, session.virtual_number, STRANGER, NOW + 1, sid=sid), AskPin)
    assert isinstance(inbound.check_pin(store, rides.auth_id, sid, "9999", NOW + 2), PinFailed)

    assert ring(store, session.virtual_number, STRANGER, NOW + 3, sid=sid) == Refuse("no-session")


def test_a_replayed_webhook_never_dials_the_counterpart_of_a_newer_session(client, store, rides):
    old = open_pair(store, rides, A, B, virtual_number_cooloff_period=0)
    sid = new_sid()
    first = xml(call(client, A, old.virtual_number, sid))
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, now_us())
    newer = open_pair(store, rides, A, C, now_us())
    assert newer.virtual_number == old.virtual_number

    replayed = xml(call(client, A, old.virtual_number, sid))

    assert first.find("Dial/Number").text == B
    assert replayed.find("Dial") is None and [child.tag for child in replayed] == ["Hangup"]


def test_masqs_call_recorded_on_one_session_is_never_answered_for_another(store):
    tenant = shared_tenant(store, dids(2))
    first = open_pair(store, tenant, A, B)
    second = open_pair(store, tenant, A, C, NOW + 1)
    sid = new_sid()
    placed = outbound.answer(
        store, tenant.auth_id, first.session_uuid, inbound.IncomingCall(sid, A, first.virtual_number), NOW + 2
    )

    # The same CallSid answered for A's other session, on its DID: the route leads there, the call does not.
    crossed = outbound.answer(
        store, tenant.auth_id, second.session_uuid, inbound.IncomingCall(sid, A, second.virtual_number), NOW + 3
    )

    assert isinstance(placed, Bridge) and placed.callee == B
    assert crossed == HangUp()
    assert read_calls(store, tenant.auth_id, second.session_uuid, NOW + 3).count == 0


def test_an_old_counterpart_cannot_reach_a_new_session_of_a_reused_pair(store):
    tenant = shared_tenant(store, dids(2))
    old = open_pair(store, tenant, A, B, virtual_number_cooloff_period=60)
    lifecycle.end_session(store, tenant.auth_id, old.session_uuid, NOW + 1)
    lifecycle.reclaim_expired(store, tenant.auth_id, NOW + 61 * US + 1)
    reused = lifecycle.open_session(
        store, credential(tenant), {"first_party": A, "second_party": C}, NOW + 62 * US, old.virtual_number
    )

    assert isinstance(ring(store, old.virtual_number, A, NOW + 63 * US), Bridge)
    assert ring(store, old.virtual_number, B, NOW + 63 * US) == TurnAway("")
    assert read_calls(store, tenant.auth_id, reused.session_uuid, NOW + 63 * US).count == 1


def test_the_tombstones_go_when_the_cool_off_ends(store, rides):
    old = open_pair(store, rides, A, B, virtual_number_cooloff_period=60)
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 1)
    route = store.keys.route(rides.auth_id, old.virtual_number)
    assert store.redis.hmget(route, A, B) == ["~" + old.session_uuid] * 2

    lifecycle.reclaim_expired(store, rides.auth_id, NOW + 61 * US)

    assert store.redis.exists(route) == 0
    assert ring(store, old.virtual_number, B, NOW + 62 * US) == Refuse("no-session")


def test_a_did_whose_sessions_all_ended_refuses_without_answering(store, rides):
    old = open_pair(store, rides, A, B, virtual_number_cooloff_period=60)
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 1)

    assert ring(store, old.virtual_number, STRANGER, NOW + 2) == Refuse("no-session")
    assert ring(store, old.virtual_number, A, NOW + 2) == Refuse("no-session")


def test_the_pair_reopened_on_its_cooling_did_is_reached_again(store, rides):
    old = open_pair(store, rides, A, B, virtual_number_cooloff_period=600)
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 1)
    again = open_pair(store, rides, B, A, NOW + 2)

    decision = ring(store, again.virtual_number, A, NOW + 3)

    assert isinstance(decision, Bridge) and decision.session.session_uuid == again.session_uuid


# -- PINs on a shared DID --------------------------------------------------------------------------------------------
OLD_PROMPTS = {"pin_prompt_play": "https://cdn.example.com/old-prompt.mp3", "unknown_caller_play": OLD_PLAY}
NEW_PROMPTS = {"pin_prompt_play": "https://cdn.example.com/new-prompt.mp3", "unknown_caller_play": NEW_PLAY}


def test_when_the_newest_pin_session_ends_strangers_hear_an_open_one_and_its_pin_still_works(store, rides):
    old = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", **PINS | OLD_PROMPTS)
    newest = open_pair(
        store, rides, C, D, NOW + 1, first_party_pin="3333", second_party_pin="4444", **PINS | NEW_PROMPTS
    )
    lifecycle.end_session(store, rides.auth_id, newest.session_uuid, NOW + 2)
    # Its record may be forgotten before the DID's other sessions end: nothing reads it any more.
    store.redis.delete(store.keys.session(rides.auth_id, newest.session_uuid))
    sid = new_sid()

    asked = ring(store, old.virtual_number, STRANGER, NOW + 3, sid=sid)
    keyed = inbound.check_pin(store, rides.auth_id, sid, "1111", NOW + 4)

    assert isinstance(asked, AskPin) and asked.session.session_uuid == old.session_uuid
    assert asked.session.pin_prompt_play == OLD_PROMPTS["pin_prompt_play"]
    assert isinstance(keyed, Bridge) and keyed.session.session_uuid == old.session_uuid and keyed.callee == B
    check_shared_state(store, rides.auth_id, NOW + 4)


def test_when_the_newest_session_ends_strangers_hear_the_message_of_an_open_one(store, rides):
    open_pair(store, rides, A, B, unknown_caller_play=OLD_PLAY)
    newest = open_pair(store, rides, C, D, NOW + 1, unknown_caller_play=NEW_PLAY)
    lifecycle.end_session(store, rides.auth_id, newest.session_uuid, NOW + 2)

    assert ring(store, dids(1)[0], STRANGER, NOW + 3) == TurnAway(OLD_PLAY)


def test_when_the_last_pin_session_ends_strangers_are_no_longer_asked_for_a_pin(store, rides):
    open_pair(store, rides, A, B, unknown_caller_play=OLD_PLAY)
    with_pins = open_pair(store, rides, C, D, NOW + 1, first_party_pin="3333", second_party_pin="4444", **PINS)
    lifecycle.end_session(store, rides.auth_id, with_pins.session_uuid, NOW + 2)

    assert ring(store, dids(1)[0], STRANGER, NOW + 3) == TurnAway(OLD_PLAY)


def test_a_session_past_its_expiry_is_passed_over_before_any_sweep(store, rides):
    old = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", **PINS | OLD_PROMPTS)
    open_pair(
        store,
        rides,
        C,
        D,
        NOW + 1,
        session_expiry=60,
        first_party_pin="3333",
        second_party_pin="4444",
        **PINS | NEW_PROMPTS,
    )

    asked = ring(store, old.virtual_number, STRANGER, NOW + 61 * US)

    assert isinstance(asked, AskPin) and asked.session.session_uuid == old.session_uuid


def test_a_stranger_whose_prompt_session_ends_hears_another_open_one_or_is_hung_up(store, rides):
    old = open_pair(
        store, rides, A, B, first_party_pin="1111", second_party_pin="2222", pin_retry=3, **PINS | OLD_PROMPTS
    )
    newest = open_pair(
        store, rides, C, D, NOW + 1, first_party_pin="3333", second_party_pin="4444", pin_retry=3, **PINS | NEW_PROMPTS
    )
    sid = new_sid()
    asked = ring(store, old.virtual_number, STRANGER, NOW + 2, sid=sid)
    lifecycle.end_session(store, rides.auth_id, newest.session_uuid, NOW + 3)

    retry = inbound.check_pin(store, rides.auth_id, sid, "3333", NOW + 4)  # the ended session's PIN names nothing
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 5)
    last = inbound.check_pin(store, rides.auth_id, sid, "1111", NOW + 6)

    assert isinstance(asked, AskPin) and asked.session.session_uuid == newest.session_uuid
    assert isinstance(retry, AskPin) and retry.session.session_uuid == old.session_uuid and retry.wrong == 1
    assert last == HangUp()


def test_a_strangers_pin_names_the_session_among_the_dids(store, rides):
    first = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", **PINS)
    second = open_pair(store, rides, C, D, first_party_pin="3333", second_party_pin="444444", **PINS)
    sids = [new_sid(), new_sid()]

    asked = [ring(store, first.virtual_number, STRANGER, sid=sid) for sid in sids]
    bridged = [
        inbound.check_pin(store, rides.auth_id, sids[0], "2222", NOW + 11),
        inbound.check_pin(store, rides.auth_id, sids[1], "444444", NOW + 11),
    ]

    assert all(isinstance(decision, AskPin) and decision.any_length for decision in asked)
    assert [(d.session.session_uuid, d.caller_party, d.callee) for d in bridged] == [
        (first.session_uuid, "second", A),
        (second.session_uuid, "second", C),
    ]
    assert all(isinstance(d, Bridge) and d.answered for d in bridged)
    calls = read_calls(store, rides.auth_id, second.session_uuid, NOW + 12)
    assert [(i.call_sid, i.caller_party, i.callee) for i in calls.interactions] == [(sids[1], "second", C)]
    events = [e["EventName"] for e in outbox(store, rides.auth_id) if e["SessionUUID"] == second.session_uuid]
    assert events == ["SessionFirstPartyAnswer", "SessionPinAuthenticationStatus"]


def test_a_wrong_pin_asks_again_then_fails_and_no_session_hears_of_it(store, rides):
    session = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", pin_retry=1, **PINS)
    sid = new_sid()
    ring(store, session.virtual_number, STRANGER, sid=sid)

    again = inbound.check_pin(store, rides.auth_id, sid, "9999", NOW + 11)
    last = inbound.check_pin(store, rides.auth_id, sid, "9998", NOW + 12)
    after = inbound.check_pin(store, rides.auth_id, sid, "1111", NOW + 13)

    assert isinstance(again, AskPin) and again.wrong == 1 and again.any_length
    assert isinstance(last, PinFailed)
    assert after == HangUp()
    assert read_calls(store, rides.auth_id, session.session_uuid, NOW + 13).count == 0
    assert outbox(store, rides.auth_id) == []


def test_the_pin_of_an_ended_session_names_no_session(store, rides):
    old = open_pair(
        store, rides, A, B, first_party_pin="1111", second_party_pin="2222", virtual_number_cooloff_period=60, **PINS
    )
    open_pair(store, rides, C, D, NOW + 1, first_party_pin="3333", second_party_pin="4444", **PINS)
    lifecycle.end_session(store, rides.auth_id, old.session_uuid, NOW + 2)
    sid = new_sid()
    ring(store, old.virtual_number, STRANGER, NOW + 3, sid=sid)

    assert isinstance(inbound.check_pin(store, rides.auth_id, sid, "2222", NOW + 4), AskPin)


def test_the_pin_that_would_bridge_a_caller_to_their_own_number_is_wrong(store, rides):
    session = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", **PINS)
    sid = new_sid()
    ring(store, session.virtual_number, C, sid=sid)  # C is no party here: a stranger
    assert isinstance(inbound.check_pin(store, rides.auth_id, sid, "1111", NOW + 11), Bridge)
    spoof = new_sid()
    open_pair(store, rides, C, D, NOW + 12, first_party_pin="3333", second_party_pin="4444", **PINS)
    ring(store, session.virtual_number, STRANGER, NOW + 13, sid=spoof)

    assert isinstance(inbound.check_pin(store, rides.auth_id, spoof, "4444", NOW + 14), Bridge)


def test_wrong_pins_on_a_shared_did_spend_the_dids_budget_and_lock_it(store, rides):
    session = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", pin_retry=5, **PINS)
    budget = PinBudget(guesses=2, window=3600, lockout=600)
    sid = new_sid()
    ring(store, session.virtual_number, STRANGER, sid=sid)

    first = inbound.check_pin(store, rides.auth_id, sid, "9999", NOW + 11, budget)
    second = inbound.check_pin(store, rides.auth_id, sid, "9998", NOW + 12, budget)
    later = ring(store, session.virtual_number, STRANGER, NOW + 13)

    assert isinstance(first, AskPin) and isinstance(second, PinLocked) and isinstance(later, PinLocked)
    assert isinstance(ring(store, session.virtual_number, A, NOW + 14), Bridge)  # its parties still get through


def test_a_stranger_asked_again_by_the_carrier_keeps_their_wrong_pins(store, rides):
    session = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", pin_retry=3, **PINS)
    sid = new_sid()
    ring(store, session.virtual_number, STRANGER, sid=sid)
    inbound.check_pin(store, rides.auth_id, sid, "9999", NOW + 11)

    again = ring(store, session.virtual_number, STRANGER, NOW + 12, sid=sid)

    assert isinstance(again, AskPin) and again.wrong == 1


def test_the_prompt_on_a_shared_did_waits_for_any_length_of_pin(client, store, rides):
    session = open_pair(store, rides, A, B, first_party_pin="1111", second_party_pin="2222", **PINS)

    root = xml(call(client, STRANGER, session.virtual_number))

    gather = root.find("Gather")
    assert gather is not None and "numDigits" not in gather.attrib
    assert gather.find("Play").text == PROMPT


def test_masq_calls_the_first_party_of_a_shared_session_from_its_did(store, rides):
    open_pair(store, rides, C, D)
    session = open_pair(store, rides, A, B)
    sid = new_sid()

    answered = inbound.IncomingCall(sid, A, session.virtual_number)

    decision = outbound.answer(store, rides.auth_id, session.session_uuid, answered, NOW + 10)
    other = outbound.answer(
        store, rides.auth_id, session.session_uuid, inbound.IncomingCall(new_sid(), C, session.virtual_number), NOW + 11
    )

    assert isinstance(decision, Bridge) and decision.session.session_uuid == session.session_uuid
    assert other == HangUp()  # C's session is not the one the call was placed for
