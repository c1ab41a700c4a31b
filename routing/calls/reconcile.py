"""Live calls whose carrier went quiet: find them, and close those the carrier says are over.

Carrier reports get lost (a `<Dial action>` request that never arrives, a callback that failed every retry).
Every live call is kept in its tenant's index of live calls (routing/lua/calls.lua's `watch_call`), scored by
when masq last heard of it; the worker takes the calls quiet for `quiet` µs, asks the carrier about each
(workers/reconciler.py) and closes the ones that are over, with the events and charges their reports would
have brought. A call still live at the carrier is asked about again `recheck` µs later.
"""

from __future__ import annotations

from routing.calls import carrier_input
from routing.calls.hangup_causes import carrier_outcome
from routing.clock import US
from routing.store import Store

# How long a live call goes unheard of before it is asked about (µs; MASQ_RECONCILE_QUIET sets it in seconds): the
# worker asks when that time comes for the call (its due-index, workers/dispatcher.py).
QUIET = 120 * US
RECHECK = 180 * US


def quiet_calls(
    store: Store, auth_id: str, now: int, limit: int = 100, quiet: int = QUIET, recheck: int = RECHECK
) -> list[str]:
    """Return the CallSids of the tenant's live calls unheard of for `quiet` µs (put off by `recheck` µs)."""
    reply = store.run("live_calls_due.lua", auth_id, now, limit, quiet, recheck)
    return [str(sid) for sid in reply["calls"]]


def close_call(store: Store, auth_id: str, call_sid: str, status: str, duration: object, now: int) -> str:
    """Close a live call its carrier reports over (`status`, the caller's call `duration` in s); return the outcome.

    The outcome is `ok`, `duplicate` (already over) or `unknown`; raise InvalidInput on a status that is not
    final or a duration out of bounds.
    """
    final = carrier_input.word(status, "status", carrier_input.FINAL_STATUSES)
    seconds = carrier_input.seconds(duration, "duration")
    reply = store.run("reconcile.lua", auth_id, now, call_sid, final, seconds, carrier_outcome(final))
    return str(reply["outcome"])
