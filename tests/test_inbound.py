import pytest

from routing import pool
from routing.calls import inbound, outbound
from routing.calls.history import read_calls
from routing.calls.inbound import AskPin, Bridge, HangUp, PinFailed, Refuse, TurnAway
from routing.clock import US, now_us
from routing.errors import InvalidInput
from routing.sessions import lifecycle
from routing.store import Store
from tests.conftest import make_tenant, outbox
from tests.sessions_helpers import credential
from tests.twilio_helpers import new_sid

FIRST, SECOND, STRANGER = "+14155551234", "+14155554321", "+14155559999"
PINS = {
    "is_pin_authentication_required": True,
    "first_party_pin": "1234",
    "second_party_pin": "5678",
    "pin_prompt_play": "https://cdn.example.com/pin.mp3",
}


def open_session(store, tenant, now=None, **fields):
    return lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND, **fields}, now or now_us()
    )


def ring(store, session, caller, call_sid=None, now=None):
    call = inbound.incoming_call(call_sid or new_sid(), caller, session.virtual_number)
    return inbound.identify_caller(store, call, now or now_us())


def names(store, tenant):
    return [event["EventName"] for event in outbox(store, tenant.auth_id)]


@pytest.mark.parametrize(("caller", "party", "callee"), [(FIRST, "first", SECOND), (SECOND, "second", FIRST)])
def test_a_party_calling_the_virtual_number_is_bridged_to_the_other(store, tenant, caller, party, callee):
    session = open_session(store, tenant)
    decision = ring(store, session, caller)
    assert isinstance(decision, Bridge)
    assert (decision.caller_party, decision.callee, decision.answered) == (party, callee, False)


def test_numbers_are_compared_in_e164_whatever_form_the_carrier_sends(store, tenant):
    session = open_session(store, tenant)
    call = inbound.incoming_call(new_sid(), "14155551234", session.virtual_number.lstrip("+"))
    assert isinstance(inbound.identify_caller(store, call, now_us()), Bridge)


def test_a_bridged_call_holds_the_session_as_its_live_interaction(store, tenant):
    session = open_session(store, tenant)
    sid = new_sid()
    ring(store, session, FIRST, sid)
    calls = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
    assert calls.in_call(now_us()) and calls.live == sid and calls.count == 1
    assert [(i.call_sid, i.caller_party, i.callee) for i in calls.interactions] == [(sid, "first", SECOND)]


def commands_sent(store, monkeypatch):
    """Return a list that fills with the name of every command the store sends from now on."""
    sent = []
    original = store.redis.execute_command

    def counting(*args, **kwargs):
        sent.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(store.redis, "execute_command", counting)
    return sent


def test_the_inbound_decision_takes_two_redis_round_trips(store, tenant, monkeypatch):
    session = open_session(store, tenant)
    ring(store, session, STRANGER)  # loads the script once, as the first call of a process does
    store.did_owners.clear()  # a process that has not seen this DID yet
    sent = commands_sent(store, monkeypatch)
    assert isinstance(ring(store, session, FIRST), Bridge)
    assert sent == ["GET", "EVALSHA"]


def test_an_unknown_caller_without_pins_is_turned_away_and_leaves_no_trace(store, tenant):
    session = open_session(store, tenant, unknown_caller_play="https://cdn.example.com/unknown.mp3")
    assert ring(store, session, STRANGER) == TurnAway("https://cdn.example.com/unknown.mp3")
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).count == 0
    assert outbox(store, tenant.auth_id) == []


def test_a_withheld_caller_is_an_unknown_caller(store, tenant):
    session = open_session(store, tenant)
    assert isinstance(ring(store, session, "anonymous"), TurnAway)


def test_a_number_nobody_holds_is_refused(store, tenant):
    call = inbound.incoming_call(new_sid(), FIRST, "+14155550199")
    assert inbound.identify_caller(store, call, now_us()) == Refuse("no-session")


def test_a_number_without_an_open_session_is_refused(store, tenant):
    call = inbound.incoming_call(new_sid(), FIRST, tenant.numbers[0])
    assert inbound.identify_caller(store, call, now_us()) == Refuse("no-session")


def test_a_session_past_its_expiry_is_refused_even_before_the_sweep(store, tenant):
    session = open_session(store, tenant, now=now_us() - 120 * US, session_expiry=60)
    assert ring(store, session, FIRST) == Refuse("no-session")


def test_a_completed_session_is_refused(store, tenant):
    session = open_session(store, tenant)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, now_us())
    assert ring(store, session, FIRST) == Refuse("no-session")


def test_a_single_party_session_connects_no_one(store, tenant):
    session = lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "create_session_with_single_party": True}, now_us()
    )
    assert ring(store, session, FIRST) == Refuse("single-party")


def test_a_suspended_number_is_refused(store, tenant):
    session = open_session(store, tenant)
    pool.set_suspended(store, tenant.auth_id, session.virtual_number, True, now_us())
    assert ring(store, session, FIRST) == Refuse("suspended")


def test_a_second_call_while_one_is_live_is_refused_as_busy(store, tenant):
    session = open_session(store, tenant)
    ring(store, session, FIRST)
    assert ring(store, session, SECOND) == Refuse("busy")


def test_a_live_call_nobody_ended_stops_holding_the_session_after_its_window(store, tenant):
    session = open_session(store, tenant, call_time_limit=60, ring_timeout=15)
    now = now_us()
    ring(store, session, FIRST, now=now)
    assert isinstance(ring(store, session, SECOND, now=now + 400 * US), Bridge)


def test_the_carrier_asking_twice_for_the_same_call_gets_the_same_answer_and_one_interaction(store, tenant):
    session = open_session(store, tenant)
    sid = new_sid()
    assert ring(store, session, FIRST, sid) == ring(store, session, FIRST, sid)
    assert read_calls(store, tenant.auth_id, session.session_uuid, now_us()).count == 1


def test_a_replayed_call_is_answered_by_its_own_session_never_by_a_newer_one_on_the_did(store):
    tenant = make_tenant(store, ["+14155550100"])
    old = open_session(store, tenant, virtual_number_cooloff_period=0)
    sid, now = new_sid(), now_us()
    first = ring(store, old, FIRST, sid, now)
    lifecycle.end_session(store, tenant.auth_id, old.session_uuid, now + 1)
    newer = lifecycle.open_session(store, credential(tenant), {"first_party": FIRST, "second_party": STRANGER}, now + 2)
    assert newer.virtual_number == old.virtual_number

    replayed = ring(store, old, FIRST, sid, now + 3)

    assert isinstance(first, Bridge) and first.callee == SECOND
    assert replayed == HangUp()
    assert read_calls(store, tenant.auth_id, newer.session_uuid, now + 3).count == 0


def test_a_replayed_call_of_a_session_that_ended_hangs_up(store, tenant):
    session = open_session(store, tenant)
    sid, now = new_sid(), now_us()
    ring(store, session, FIRST, sid, now)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, now + 1)
    assert ring(store, session, FIRST, sid, now + 2) == HangUp()


def test_a_replayed_call_of_a_stranger_turned_away_is_refused_again_not_bridged_to_a_newer_session(store):
    tenant = make_tenant(store, ["+14155550100"])
    old = open_session(store, tenant, virtual_number_cooloff_period=0)
    sid, now = new_sid(), now_us()
    assert isinstance(ring(store, old, STRANGER, sid, now), TurnAway)
    lifecycle.end_session(store, tenant.auth_id, old.session_uuid, now + 1)
    newer = lifecycle.open_session(
        store, credential(tenant), {"first_party": STRANGER, "second_party": SECOND}, now + 2
    )
    assert newer.virtual_number == old.virtual_number

    assert ring(store, old, STRANGER, sid, now + 3) == Refuse("no-session")
    assert read_calls(store, tenant.auth_id, newer.session_uuid, now + 3).count == 0


def test_an_unknown_caller_is_asked_for_a_pin_when_the_session_requires_one(store, tenant):
    session = open_session(store, tenant, **PINS)
    decision = ring(store, session, STRANGER)
    assert isinstance(decision, AskPin) and decision.wrong == 0
    assert names(store, tenant) == ["SessionFirstPartyAnswer"]


def test_a_registered_caller_skips_the_pin_and_is_recorded_as_an_authorized_caller(store, tenant):
    session = open_session(store, tenant, **PINS)
    assert isinstance(ring(store, session, SECOND), Bridge)
    event = outbox(store, tenant.auth_id)[-1]
    assert (event["EventName"], event["PinAuthenticationStatus"]) == (
        "SessionPinAuthenticationStatus",
        "AuthorizedCaller",
    )


def test_forced_pin_authentication_asks_registered_callers_too(store, tenant):
    session = open_session(store, tenant, force_pin_authentication=True, **PINS)
    assert isinstance(ring(store, session, FIRST), AskPin)


@pytest.mark.parametrize(("pin", "party", "callee"), [("1234", "first", SECOND), ("5678", "second", FIRST)])
def test_a_pin_makes_the_caller_that_party(store, tenant, pin, party, callee):
    session = open_session(store, tenant, **PINS)
    sid = new_sid()
    ring(store, session, STRANGER, sid)
    decision = inbound.check_pin(store, tenant.auth_id, sid, pin, now_us())
    assert isinstance(decision, Bridge)
    assert (decision.caller_party, decision.callee, decision.answered) == (party, callee, True)
    event = outbox(store, tenant.auth_id)[-1]
    assert (event["PinAuthenticationStatus"], event["To"]) == ("success", callee)


def test_a_wrong_pin_is_retried_then_the_call_is_given_up(store, tenant):
    session = open_session(store, tenant, pin_retry=2, incorrect_pin_play="https://cdn.example.com/wrong.mp3", **PINS)
    sid = new_sid()
    ring(store, session, STRANGER, sid)
    first = inbound.check_pin(store, tenant.auth_id, sid, "0000", now_us())
    second = inbound.check_pin(store, tenant.auth_id, sid, "", now_us())
    third = inbound.check_pin(store, tenant.auth_id, sid, "9999", now_us())
    assert (first.wrong, second.wrong) == (1, 2)
    assert third == PinFailed("https://cdn.example.com/wrong.mp3")
    failures = [
        e["PinRetryCounter"]
        for e in outbox(store, tenant.auth_id)
        if e["PinAuthenticationStatus"] == "failed" and e["EventName"] == "SessionPinAuthenticationStatus"
    ]
    assert failures == ["1", "2", "3"]
    calls = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
    assert not calls.in_call(now_us()) and calls.interactions[0].state == "failed"


def test_a_pin_check_replayed_after_success_bridges_again_without_new_events(store, tenant):
    session = open_session(store, tenant, **PINS)
    sid = new_sid()
    ring(store, session, STRANGER, sid)
    decision = inbound.check_pin(store, tenant.auth_id, sid, "1234", now_us())
    before = outbox(store, tenant.auth_id)
    assert inbound.check_pin(store, tenant.auth_id, sid, "1234", now_us()) == decision
    assert outbox(store, tenant.auth_id) == before


def test_a_pin_check_replayed_after_the_session_ended_hangs_up(store):
    tenant = make_tenant(store, ["+14155550100"])
    session = open_session(store, tenant, virtual_number_cooloff_period=0, **PINS)
    sid, now = new_sid(), now_us()
    ring(store, session, STRANGER, sid, now)
    assert isinstance(inbound.check_pin(store, tenant.auth_id, sid, "1234", now + 1), Bridge)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, now + 2)
    open_session(store, tenant, now + 3, **PINS)  # a newer session on the DID, with the same PINs

    assert inbound.check_pin(store, tenant.auth_id, sid, "1234", now + 4) == HangUp()


def test_a_pin_check_for_a_call_masq_never_saw_hangs_up(store, tenant):
    assert inbound.check_pin(store, tenant.auth_id, new_sid(), "1234", now_us()) == HangUp()


def test_a_session_that_ends_during_the_pin_prompt_hangs_the_caller_up(store, tenant):
    session = open_session(store, tenant, **PINS)
    sid = new_sid()
    ring(store, session, STRANGER, sid)
    lifecycle.end_session(store, tenant.auth_id, session.session_uuid, now_us())
    assert inbound.check_pin(store, tenant.auth_id, sid, "1234", now_us()) == HangUp()


def test_the_whisper_is_the_called_partys_play_url(store, tenant):
    session = open_session(
        store,
        tenant,
        first_party_play_url="https://cdn.example.com/first.mp3",
        second_party_play_url="https://cdn.example.com/second.mp3",
    )
    sid = new_sid()
    ring(store, session, SECOND, sid)
    assert inbound.whisper_url(store, tenant.auth_id, sid) == "https://cdn.example.com/first.mp3"
    assert inbound.whisper_url(store, tenant.auth_id, new_sid()) == ""


def test_a_sessions_calls_are_kept_as_long_as_the_session_then_forgotten(store, tenant):
    session = open_session(store, tenant)
    sid = new_sid()
    before = now_us()
    ring(store, session, FIRST, sid, now=before)
    after = now_us()
    keep_ms = session.expiry // 1000 + 90 * 86_400_000
    keys = store.keys
    for key in (
        keys.interaction(tenant.auth_id, sid),
        keys.call_state(tenant.auth_id, session.session_uuid),
        keys.interactions(tenant.auth_id, session.session_uuid),
    ):
        # Kept relative to the call's own clock: Redis counts the time to live from its clock, which read between
        # `before` (the call's) and `after`, however slowly a loaded machine ran the call.
        assert -1 <= store.redis.pexpiretime(key) - keep_ms <= (after - before) // 1000 + 1


def test_a_process_that_knows_the_dids_owner_decides_in_one_round_trip(store, tenant, monkeypatch):
    session = open_session(store, tenant)
    ring(store, session, STRANGER)  # learns the DID's owner and loads the script
    sent = commands_sent(store, monkeypatch)
    assert isinstance(ring(store, session, FIRST), Bridge)
    assert sent == ["EVALSHA"]


def test_a_did_that_changed_hands_is_routed_to_its_new_tenant_even_when_its_old_owner_was_remembered(store):
    from tests.conftest import make_tenant

    old = make_tenant(store, ["+14155550150"], name="old")
    first = lifecycle.open_session(store, credential(old), {"first_party": FIRST, "second_party": SECOND}, now_us())
    ring(store, first, STRANGER)  # this process now remembers `old` as the DID's owner
    lifecycle.end_session(store, old.auth_id, first.session_uuid, now_us())
    pool.release_number(store, old.auth_id, "+14155550150", now_us())
    new = make_tenant(store, ["+14155550150"], name="new")
    second = lifecycle.open_session(store, credential(new), {"first_party": FIRST, "second_party": SECOND}, now_us())

    decision = ring(store, second, FIRST)

    assert isinstance(decision, Bridge) and decision.auth_id == new.auth_id
    assert decision.session.session_uuid == second.session_uuid


def test_a_remembered_owner_that_gave_the_did_up_refuses_the_call_like_any_unheld_did(store):
    from tests.conftest import make_tenant

    old = make_tenant(store, ["+14155550151"], name="old")
    session = lifecycle.open_session(store, credential(old), {"first_party": FIRST, "second_party": SECOND}, now_us())
    ring(store, session, STRANGER)
    lifecycle.end_session(store, old.auth_id, session.session_uuid, now_us())
    pool.release_number(store, old.auth_id, "+14155550151", now_us())

    assert ring(store, session, FIRST) == Refuse("no-session")


def test_each_store_remembers_the_owners_it_read_and_no_other_store_sees_them(store, tenant):
    session = open_session(store, tenant)
    ring(store, session, FIRST)
    assert store.did_owners == {session.virtual_number: tenant.auth_id}

    fresh = Store(store.redis, store.keys)
    assert fresh.did_owners == {}


def test_a_store_forgets_every_owner_rather_than_grow_past_its_bound(store, monkeypatch):
    monkeypatch.setattr("routing.store.OWNERS_KEPT", 2)
    store.remember_owner("+14155550100", "MA1")
    store.remember_owner("+14155550101", "MA1")
    store.remember_owner("+14155550102", "MA2")
    assert store.did_owners == {"+14155550102": "MA2"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("+14155551234", "+14155551234"),
        ("14155551234", "+14155551234"),
        ("+1 (415) 555-1234", "+14155551234"),
        ("anonymous", ""),
        ("client:alice", ""),
        ("", ""),
    ],
)
def test_a_carrier_number_is_read_as_e164_or_as_withheld(given, expected):
    assert inbound.e164_or_empty(given) == expected


def test_a_carrier_number_already_in_e164_skips_phonenumbers(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("phonenumbers was asked")

    monkeypatch.setattr("phonenumbers.parse", refuse)
    assert inbound.e164_or_empty("+447700900123") == "+447700900123"


def test_a_forced_pin_caller_keying_the_other_partys_pin_is_refused_as_a_wrong_pin(store, tenant):
    first = "+14155556021"
    session = open_session(store, tenant, force_pin_authentication=True, first_party=first, **PINS)
    sid = new_sid()
    assert isinstance(ring(store, session, first, sid), AskPin)
    decision = inbound.check_pin(store, tenant.auth_id, sid, "5678", now_us())
    assert isinstance(decision, AskPin) and decision.wrong == 1
    event = outbox(store, tenant.auth_id)[-1]
    assert (event["EventName"], event["PinAuthenticationStatus"]) == ("SessionPinAuthenticationStatus", "failed")
    assert inbound.check_pin(store, tenant.auth_id, sid, "1234", now_us()) == Bridge(
        tenant.auth_id, sid, session, "first", answered=True
    )


@pytest.mark.parametrize(
    ("caller", "own_partys_pin", "others_pin"), [(FIRST, "1234", "5678"), (SECOND, "5678", "1234")]
)
def test_no_pin_ever_bridges_a_party_to_their_own_number(store, tenant, caller, own_partys_pin, others_pin):
    session = open_session(store, tenant, force_pin_authentication=True, pin_retry=0, **PINS)
    sid = new_sid()
    ring(store, session, caller, sid)
    assert inbound.check_pin(store, tenant.auth_id, sid, others_pin, now_us()) == PinFailed(session.incorrect_pin_play)
    calls = read_calls(store, tenant.auth_id, session.session_uuid, now_us())
    assert calls.interactions[0].state == "failed"
    again = new_sid()
    ring(store, session, caller, again)
    bridged = inbound.check_pin(store, tenant.auth_id, again, own_partys_pin, now_us())
    assert isinstance(bridged, Bridge) and bridged.callee != caller


def test_a_stored_session_with_equal_parties_connects_no_one(store, tenant):
    session = open_session(store, tenant)
    equal = session.evolve(second_party=FIRST)
    store.redis.set(store.keys.session(tenant.auth_id, session.session_uuid), equal.to_json())
    assert ring(store, session, FIRST) == Refuse("single-party")


def test_a_single_party_session_given_the_callers_own_number_as_second_party_is_refused(store, tenant):
    session = lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "create_session_with_single_party": True}, now_us()
    )
    with pytest.raises(InvalidInput) as caught:
        lifecycle.update_session(store, tenant.auth_id, session.session_uuid, {"second_party": FIRST}, now_us())
    assert caught.value.field == "second_party"


def test_a_first_party_answering_masqs_call_out_is_never_bridged_to_themselves(store, tenant):
    session = open_session(store, tenant, force_pin_authentication=True, initiate_call_to_first_party=True, **PINS)
    sid = new_sid()
    call = inbound.IncomingCall(sid, session.first_party, session.virtual_number)
    assert isinstance(outbound.answer(store, tenant.auth_id, session.session_uuid, call, now_us()), AskPin)
    assert isinstance(inbound.check_pin(store, tenant.auth_id, sid, "5678", now_us()), AskPin)
    bridged = inbound.check_pin(store, tenant.auth_id, sid, "1234", now_us())
    assert isinstance(bridged, Bridge) and bridged.callee == SECOND
