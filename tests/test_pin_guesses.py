"""A session's budget of wrong PINs: the guessing attack across calls and caller numbers, replayed and bounded."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from routing import settings
from routing.calls import inbound, outbound, twiml
from routing.calls.history import read_calls
from routing.calls.inbound import AskPin, PinFailed, PinLocked
from routing.calls.pin_guesses import GUESSES, LOCKOUT, WINDOW, PinBudget
from routing.clock import US, now_us
from routing.outbox import wire_fields
from routing.sessions import lifecycle
from routing.store import Store
from tests.conftest import make_tenant, outbox
from tests.sessions_helpers import credential
from tests.twilio_helpers import call, new_sid, post, xml

FIRST, SECOND = "+14155551234", "+14155554321"
FIRST_PIN, SECOND_PIN = "0042", "9876"
PINS = {
    "is_pin_authentication_required": True,
    "first_party_pin": FIRST_PIN,
    "second_party_pin": SECOND_PIN,
    "pin_prompt_play": "https://cdn.example.com/pin.mp3",
    "pin_retry": 5,
    "session_expiry": 86400,
}
SMALL = PinBudget(guesses=3, window=60, lockout=600)


def open_session(store, tenant, now=None, **fields):
    return lifecycle.open_session(
        store, credential(tenant), {"first_party": FIRST, "second_party": SECOND, **PINS, **fields}, now or now_us()
    )


def wrong_pins() -> Iterator[str]:
    """Every 4-digit PIN in order from 0000, but the session's two: a guesser working through them."""
    return (f"{n:04d}" for n in range(10_000) if f"{n:04d}" not in (FIRST_PIN, SECOND_PIN))


def callers() -> Iterator[str]:
    """A new caller number for every call: caller ID is the guesser's to choose."""
    return (f"+1202555{n:04d}" for n in itertools.count())


def locks(store, tenant) -> list[dict[str, str]]:
    return [
        e
        for e in outbox(store, tenant.auth_id)
        if e["EventName"] == "SessionPinAuthenticationStatus" and e["PinAuthenticationStatus"] == "locked"
    ]


def guess_until_locked(client, store, tenant, session, numbers, guesses, most: int = 200) -> None:
    """Make guessing calls until the session locks; fail, rather than call forever, when `most` calls do not lock it."""
    for _ in range(most):
        if locks(store, tenant):
            return
        guessing_call(client, tenant, session, next(numbers), guesses)
    assert locks(store, tenant), f"{most} guessing calls did not lock the session"


def said(root) -> list[str]:
    return [verb.text or "" for verb in root if verb.tag == "Say"]


def is_locked_answer(root) -> bool:
    return [verb.tag for verb in root] == ["Say", "Hangup"] and said(root) == [twiml.PIN_LOCKED]


class Clock:
    """masq's clock in the call steps, moved on by the test: 1 ms a request, or as far as it is told."""

    def __init__(self) -> None:
        self.now = now_us()

    def __call__(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(Store, "now_us", lambda self: moved())
    return moved


def guessing_call(client, tenant, session, caller, guesses) -> tuple[list[str], object]:
    """Call as a guesser would: key a PIN from `guesses` at every prompt; return the PINs keyed and the last TwiML."""
    sid = new_sid()
    root = xml(call(client, caller, session.virtual_number, sid))
    keyed: list[str] = []
    while root.find("Gather") is not None:
        keyed.append(next(guesses))
        step = f"/voice/pin-check?t={tenant.auth_id}&c={sid}"
        root = xml(post(client, step, {"CallSid": sid, "From": caller, "Digits": keyed[-1]}))
    return keyed, root


def test_guessing_from_changing_numbers_stops_at_the_sessions_budget_and_the_lock_is_told_once(
    client, store, tenant, clock
):
    session = open_session(store, tenant)
    guesses, numbers = wrong_pins(), callers()
    keyed: list[str] = []
    endings = []
    for _ in range(60):  # without a budget, the 8th call finds 0042
        pins, root = guessing_call(client, tenant, session, next(numbers), guesses)
        keyed += pins
        endings.append(root)

    assert len(keyed) == GUESSES  # the default budget, spent over two calls (pin_retry 5: six PINs a call)
    assert FIRST_PIN not in keyed
    assert [verb.tag for verb in endings[0]] == ["Say", "Hangup"] and said(endings[0]) == [twiml.WRONG_PIN]
    assert all(is_locked_answer(root) for root in endings[1:])  # the one that spent it, and every call after
    calls = read_calls(store, tenant.auth_id, session.session_uuid, clock.now)
    assert calls.count == 2 and not calls.in_call(clock.now)  # calls during the lock are not kept

    [event] = locks(store, tenant)
    assert (event["CallUUID"], event["PinRetryCounter"]) == (calls.interactions[1].call_sid, "4")
    assert int(event["PinLockedUntil"]) == int(event["EventTimestamp"]) + round(LOCKOUT * US)
    assert wire_fields(event)["PinLockedUntil"].endswith(" +0000 UTC")


def test_a_locked_session_asks_no_one_for_a_pin_and_takes_pins_again_after_the_lockout(client, store, tenant, clock):
    session = open_session(store, tenant)
    guesses, numbers = wrong_pins(), callers()
    guess_until_locked(client, store, tenant, session, numbers, guesses)

    # The right PIN cannot even be keyed during the lock: no prompt, and the right PIN would not be compared.
    pins, root = guessing_call(client, tenant, session, next(numbers), iter([FIRST_PIN]))
    assert pins == [] and is_locked_answer(root)

    clock.now += round(LOCKOUT * US)
    pins, root = guessing_call(client, tenant, session, next(numbers), iter([FIRST_PIN]))
    assert pins == [FIRST_PIN] and root.find("Dial/Number").text == SECOND
    assert len(locks(store, tenant)) == 1


def test_the_parties_calling_from_their_own_numbers_are_not_locked_out(client, store, tenant, clock):
    session = open_session(store, tenant)
    guesses, numbers = wrong_pins(), callers()
    guess_until_locked(client, store, tenant, session, numbers, guesses)
    assert xml(call(client, FIRST, session.virtual_number)).find("Dial/Number").text == SECOND


def test_a_forced_pin_is_not_asked_of_a_party_during_the_lock(client, store, tenant, clock):
    session = open_session(store, tenant, force_pin_authentication=True)
    guesses, numbers = wrong_pins(), callers()
    guess_until_locked(client, store, tenant, session, numbers, guesses)
    assert is_locked_answer(xml(call(client, FIRST, session.virtual_number)))


# -- the budget, step by step ------------------------------------------------------------------------------------------
def ring(store, session, now, caller="+12025550000"):
    sid = new_sid()
    decision = inbound.identify_caller(store, inbound.incoming_call(sid, caller, session.virtual_number), now)
    return sid, decision


def test_a_call_at_the_prompt_when_the_lock_begins_gets_no_pin_compared(store, tenant):
    t0 = now_us()
    session = open_session(store, tenant, t0)
    parked, decision = ring(store, session, t0)
    assert isinstance(decision, AskPin)
    later = t0 + 3600 * US  # the parked call no longer holds the session
    sid, _ = ring(store, session, later)
    results = [inbound.check_pin(store, tenant.auth_id, sid, f"{n:04d}", later + n, SMALL) for n in range(3)]
    assert [type(result) for result in results] == [AskPin, AskPin, PinLocked]
    before = outbox(store, tenant.auth_id)

    assert inbound.check_pin(store, tenant.auth_id, parked, FIRST_PIN, later + 10, SMALL) == PinLocked()
    assert inbound.check_pin(store, tenant.auth_id, parked, FIRST_PIN, later + 11, SMALL) == PinLocked()  # a replay
    assert [e["EventName"] for e in outbox(store, tenant.auth_id)[len(before) :]] == ["SessionFirstPartyHangup"]


def test_wrong_pins_no_faster_than_the_budget_refills_never_lock(store, tenant):
    t0 = now_us()
    session = open_session(store, tenant, t0, pin_retry=0)
    interval = round(SMALL.window / SMALL.guesses * US)
    for n in range(4 * SMALL.guesses):
        at = t0 + n * interval
        sid, _ = ring(store, session, at, caller=f"+1202555{n:04d}")
        assert inbound.check_pin(store, tenant.auth_id, sid, f"{n:04d}", at, SMALL) == PinFailed("")
    assert locks(store, tenant) == []


def test_with_one_pin_a_call_the_call_that_spends_the_budget_and_every_call_after_hear_the_lock(store, tenant):
    t0 = now_us()
    session = open_session(store, tenant, t0, pin_retry=0)
    outcomes = []
    for n in range(2 * SMALL.guesses):
        sid, decision = ring(store, session, t0 + n, caller=f"+1202555{n:04d}")
        if isinstance(decision, AskPin):
            decision = inbound.check_pin(store, tenant.auth_id, sid, f"{n:04d}", t0 + n, SMALL)
        outcomes.append(type(decision))
    assert outcomes == [PinFailed] * (SMALL.guesses - 1) + [PinLocked] * (SMALL.guesses + 1)


def test_the_lock_lasts_until_the_budget_has_room_when_that_is_later_than_the_lockout(store, tenant):
    t0 = now_us()
    session = open_session(store, tenant, t0, pin_retry=0)
    budget = PinBudget(guesses=2, window=600, lockout=1)
    for n in range(2):
        sid, _ = ring(store, session, t0 + n, caller=f"+1202555{n:04d}")
        inbound.check_pin(store, tenant.auth_id, sid, f"{n:04d}", t0 + n, budget)
    [event] = locks(store, tenant)
    # GCRA: one wrong PIN every 300 s, two at once; after two the next fits 300 s after the first.
    assert int(event["PinLockedUntil"]) == t0 + 300 * US
    assert isinstance(ring(store, session, int(event["PinLockedUntil"]) - 1)[1], PinLocked)
    assert isinstance(ring(store, session, int(event["PinLockedUntil"]))[1], AskPin)


def test_an_empty_entry_is_not_a_guess(store, tenant):
    t0 = now_us()
    session = open_session(store, tenant, t0, pin_retry=0)
    for n in range(3 * SMALL.guesses):
        sid, _ = ring(store, session, t0 + n, caller=f"+1202555{n:04d}")
        assert inbound.check_pin(store, tenant.auth_id, sid, "", t0 + n, SMALL) == PinFailed("")
    assert locks(store, tenant) == []


def test_a_budget_of_zero_guesses_bounds_nothing(store, tenant):
    t0 = now_us()
    session = open_session(store, tenant, t0, pin_retry=0)
    for n in range(3 * GUESSES):
        sid, _ = ring(store, session, t0 + n, caller=f"+1202555{n:04d}")
        decision = inbound.check_pin(store, tenant.auth_id, sid, f"{n:04d}", t0 + n, PinBudget(guesses=0))
        assert isinstance(decision, PinFailed)
    assert store.redis.keys(store.keys.pin_guesses(tenant.auth_id, "*")) == []


def test_the_call_out_to_a_party_on_a_locked_session_with_forced_pins_is_told_so(store, tenant):
    t0 = now_us()
    session = open_session(store, tenant, t0, pin_retry=0, force_pin_authentication=True)
    for n in range(SMALL.guesses):
        sid, _ = ring(store, session, t0 + n, caller=f"+1202555{n:04d}")
        inbound.check_pin(store, tenant.auth_id, sid, f"{n:04d}", t0 + n, SMALL)
    answered = inbound.incoming_call(new_sid(), FIRST, session.virtual_number)
    assert outbound.answer(store, tenant.auth_id, session.session_uuid, answered, t0 + 10) == PinLocked()


def test_the_lock_is_for_one_session_only(store, tenant):
    t0 = now_us()
    locked = open_session(store, tenant, t0, pin_retry=0)
    other = open_session(store, tenant, t0, pin_retry=0)
    for n in range(SMALL.guesses):
        sid, _ = ring(store, locked, t0 + n, caller=f"+1202555{n:04d}")
        inbound.check_pin(store, tenant.auth_id, sid, f"{n:04d}", t0 + n, SMALL)
    assert isinstance(ring(store, other, t0 + 10)[1], AskPin)


# -- what it leaves in Redis ------------------------------------------------------------------------------------------
def lock_a_session(store, tenant, budget: PinBudget):
    session = open_session(store, tenant, pin_retry=0)
    for n in range(budget.guesses):
        sid, _ = ring(store, session, now_us(), caller=f"+1202555{n:04d}")
        inbound.check_pin(store, tenant.auth_id, sid, f"{n:04d}", now_us(), budget)
    assert len(locks(store, tenant)) == 1
    return session


@pytest.mark.parametrize("where", ["store", pytest.param("real_store", marks=pytest.mark.integration)])
def test_the_budget_and_the_lock_are_two_keys_in_the_tenants_slot_that_expire(request, where):
    store = request.getfixturevalue(where)
    tenant = make_tenant(store)
    session = lock_a_session(store, tenant, SMALL)
    budget = store.keys.pin_guesses(tenant.auth_id, session.session_uuid)
    lock = store.keys.pin_lock(tenant.auth_id, session.session_uuid)
    assert 0 < store.redis.pttl(budget) <= SMALL.window * 1000 + 1
    assert 0 < store.redis.pttl(lock) <= SMALL.lockout * 1000
    assert key_slot(budget.encode()) == key_slot(lock.encode()) == key_slot(store.keys.tenant(tenant.auth_id).encode())


# -- settings ---------------------------------------------------------------------------------------------------------
def test_the_budget_defaults_to_ten_wrong_pins_an_hour_then_an_hours_lock():
    assert settings.pin_budget(settings.from_environment({})) == PinBudget(10, 3600.0, 3600.0) == PinBudget()
    assert (GUESSES, WINDOW, LOCKOUT) == (10, 3600.0, 3600.0)


def test_the_budget_is_read_from_the_environment():
    env = {"MASQ_PIN_GUESSES": "5", "MASQ_PIN_WINDOW": "600", "MASQ_PIN_LOCKOUT": "1800"}
    assert settings.pin_budget(settings.from_environment(env)) == PinBudget(5, 600.0, 1800.0)
    assert settings.pin_budget(settings.from_environment({"MASQ_PIN_GUESSES": "0"})).script_args() == (0, 0, 0)


def test_the_pin_check_step_uses_the_apps_budget(make_app, store, tenant, clock):
    client = make_app(MASQ_PIN_GUESSES=1).test_client()
    session = open_session(store, tenant)
    pins, root = guessing_call(client, tenant, session, "+12025550000", wrong_pins())
    assert pins == ["0000"] and is_locked_answer(root)
