"""Property checks of shared virtual numbers: whatever opens, ends, waits and calls, the invariants hold.

Each example runs a sequence of steps on a small pool (five DIDs, four parties a DID) among six people, then holds the
store to `check_shared_state` after every step, checks that a refused open had no DID both parties could take, and
that a call reaches the caller's own open session on that DID or none.
"""

from __future__ import annotations

import fakeredis
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.calls import inbound
from routing.calls.inbound import Bridge, Refuse
from routing.clock import US, now_us
from routing.errors import PoolExhausted
from routing.keys import Keys
from routing.sessions import lifecycle
from routing.store import Store
from tests.sessions_helpers import credential
from tests.shared_helpers import check_shared_state, dids, open_sessions, people, shared_tenant
from tests.twilio_helpers import new_sid

POPULATION = people(6)
PROMPT = "https://cdn.example.com/pin.mp3"
NUMBERS = dids(5)
CAP = 4
MODES = ["", "", "", "exclusive"]  # mostly the tenant's (shared), at times a number of its own

person = st.integers(0, len(POPULATION) - 1)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("open"), person, person, st.sampled_from([0, 30]), st.booleans(), st.sampled_from(MODES)),
        st.tuples(st.just("end"), st.integers(0, 40)),
        st.tuples(st.just("wait"), st.integers(1, 45)),
        st.tuples(st.just("call"), person, st.integers(0, len(NUMBERS) - 1)),
    ),
    max_size=40,
)


def nothing_fits(store: Store, auth_id: str, first: str, second: str) -> bool:
    """Return whether no DID of the pool could take the pair: each is suspended, exclusive, full or held by one."""
    keys = store.keys
    for number in NUMBERS:
        record = store.redis.hgetall(keys.number(auth_id, number))
        route = store.redis.hgetall(keys.route(auth_id, number))
        cooling = store.redis.zscore(keys.cooling(auth_id), number) is not None
        if record["session"] or cooling or record["status"] != "active":
            continue
        if first not in route and second not in route and int(record.get("parties", 0)) + 2 <= CAP:
            return False
    return True


@settings(max_examples=60)
@given(steps)
def test_any_sequence_of_opens_ends_waits_and_calls_keeps_the_invariants(plan):
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), Keys("prop:"))
    tenant = shared_tenant(store, NUMBERS, parties_per_number=CAP)
    now = now_us()
    opened = []
    cooling: dict[tuple[str, str], tuple[int, frozenset[str]]] = {}  # (DID, party) → cool-off end, the pair
    for step in plan:
        now += 1
        if step[0] == "open":
            _, a, b, cooloff, pins, mode = step
            if a == b:
                continue
            first, second = POPULATION[a], POPULATION[b]
            request = {"first_party": first, "second_party": second, "virtual_number_cooloff_period": cooloff}
            if mode:
                request["number_mode"] = mode
            if pins:
                request |= {"is_pin_authentication_required": True, "generate_pin": True, "pin_prompt_play": PROMPT}
            try:
                session = lifecycle.open_session(store, credential(tenant), request, now)
            except PoolExhausted:
                free = store.redis.scard(store.keys.free(tenant.auth_id, "US"))
                assert free == 0 if mode else nothing_fits(store, tenant.auth_id, first, second)
                continue
            opened.append(session)
            for party in (first, second):  # no one takes a DID they cool off on, but for the pair's own
                until, pair = cooling.get((session.virtual_number, party), (0, frozenset()))
                assert until <= now or pair == {first, second}
        elif step[0] == "end" and opened:
            session = opened[step[1] % len(opened)]
            if session.expiry > now:
                opened[step[1] % len(opened)] = lifecycle.end_session(store, tenant.auth_id, session.session_uuid, now)
                for party in (session.first_party, session.second_party):
                    ends = now + session.virtual_number_cooloff_period * US
                    cooling[session.virtual_number, party] = (
                        ends,
                        frozenset((session.first_party, session.second_party)),
                    )
        elif step[0] == "wait":
            now += step[1] * US
        elif step[0] == "call":
            caller, number = POPULATION[step[1]], NUMBERS[step[2]]
            own = [
                s
                for s in open_sessions(store, tenant.auth_id, now)
                if s.virtual_number == number and caller in (s.first_party, s.second_party)
            ]
            decision = inbound.identify_caller(store, inbound.incoming_call(new_sid(), caller, number), now)
            if isinstance(decision, Bridge):
                assert [s.session_uuid for s in own] == [decision.session.session_uuid]
            else:
                assert not own or decision == Refuse("busy")
        lifecycle.reclaim_expired(store, tenant.auth_id, now)
        check_shared_state(store, tenant.auth_id, now)
        for (number, party), (until, pair) in cooling.items():  # a late caller meets a tombstone, or the pair again
            if until > now:
                value = store.redis.hget(store.keys.route(tenant.auth_id, number), party) or ""
                reopened = [
                    s
                    for s in opened
                    if s.expiry > now and s.virtual_number == number and party in (s.first_party, s.second_party)
                ]
                assert value.startswith("~") or {reopened[0].first_party, reopened[0].second_party} == pair
