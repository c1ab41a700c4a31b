"""masq calls a session's first party (`initiate_call_to_first_party`) and, once they answer, bridges the second.

The call goes out from the virtual number. When the first party answers, the carrier asks masq's
outbound-answer step (at the URL the app gave) what to do, and masq decides as if the first party had called
the virtual number: the same `<Dial>` rules, interaction and events as an inbound call (the Lua `inbound`, which
routing/lua/answer.lua runs), only for the session the call was placed for, and with the first party's leg
answered from that moment.

The call is placed at most once (Twilio's call create takes no idempotency key): each attempt is recorded in the
store before the request, under a lease that keeps a second worker out while one request is in flight, and an
attempt after one that may have reached Twilio first looks for the call already made. No attempt starts after the
session's ring window: `ring_timeout` seconds after the create plus `QUEUE_MARGIN` for the queue and its retries.
The call's status callbacks tell the tenant when the first party's phone rings and when it ends unanswered.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.calls import inbound
from routing.calls.hangup_causes import carrier_outcome
from routing.calls.inbound import Decision, IncomingCall
from routing.clock import US
from routing.errors import InvalidInput
from routing.sessions.session import ACTIVE, Session
from routing.store import Store

# Seconds after the ring timeout during which a call-out may still start: the queue's wait and RQ's first two
# retries (5 and 15 s) fit; a first party is never rung once the tenant has had time to give up on the call.
QUEUE_MARGIN = 30
# The outcome a tenant hears when masq could not place the call at all (see routing.calls.hangup_causes).
NOT_PLACED = "not-placed"


@dataclass(frozen=True)
class OutboundCall:
    """The call to place: to the first party, from the virtual number, answered at `url`, ringing `timeout` s.

    `status_callback` is where the carrier reports the call's progress ("" for none); `deadline` the µs after
    which it must not start.
    """

    to: str
    from_: str
    url: str
    timeout: int
    status_callback: str = ""
    deadline: int = 0


@dataclass(frozen=True)
class Claim:
    """A worker's turn at placing the call: `placed` (with `sid`), `expired`, `busy`, `first` or `retry`.

    `started` is the µs of the first attempt, from which a `retry` looks for the call that attempt may have made.
    """

    outcome: str
    started: int = 0
    sid: str = ""


def ring_deadline(session: Session) -> int:
    """Return the µs after which the session's call-out must not start: created + ring_timeout + QUEUE_MARGIN."""
    return session.created + (session.ring_timeout + QUEUE_MARGIN) * US


def outbound_call(session: Session, answer_url: str, now: int, status_url: str = "") -> OutboundCall | None:
    """Return the call to place to the session's first party, answered at `answer_url`, or None when none is due.

    Nothing is called for once the session has ended, when it did not ask for the call, or while it has no
    second party to bridge to.
    """
    if session.status(now) != ACTIVE or not session.initiate_call_to_first_party or not session.second_party:
        return None
    return OutboundCall(
        to=session.first_party,
        from_=session.virtual_number,
        url=answer_url,
        timeout=session.ring_timeout,
        status_callback=status_url,
        deadline=ring_deadline(session),
    )


def claim(store: Store, auth_id: str, session_uuid: str, deadline: int, lease_seconds: float, now: int) -> Claim:
    """Record an attempt at the session's call-out before its request; say whether (and how) it may go ahead."""
    result = store.run("call_out.lua", auth_id, now, session_uuid, "claim", deadline, int(lease_seconds * US))
    return Claim(str(result["outcome"]), int(result.get("started") or 0), str(result.get("sid") or ""))


def placed(store: Store, auth_id: str, session_uuid: str, call_sid: str, now: int) -> None:
    """Record the carrier's CallSid of the session's call-out: it is never placed again."""
    store.run("call_out.lua", auth_id, now, session_uuid, "placed", call_sid)


def release(store: Store, auth_id: str, session_uuid: str, now: int) -> None:
    """Drop the lease of an attempt whose request is over without a CallSid (a retry looks for its call first)."""
    store.run("call_out.lua", auth_id, now, session_uuid, "release")


def record_status(
    store: Store,
    auth_id: str,
    session_uuid: str,
    call_sid: str,
    status: str,
    duration: int,
    token: str,
    now: int,
    sip_code: str = "",
) -> str:
    """Apply a status callback of the call-out; return `ok` or `duplicate` (a replay, or a status not newer).

    `status` is one of `carrier_input.CALL_STATUSES` (the caller checked it with carrier_input; the script ranks
    it and treats any other word as a duplicate), `sip_code` the call's SipResponseCode ("" when none). Raise
    InvalidInput for a CallSid the carrier does not send.
    """
    if not inbound.TOKEN.fullmatch(call_sid):
        raise InvalidInput("CallSid", "must be the carrier's call id")
    return str(
        store.run(
            "call_out.lua",
            auth_id,
            now,
            session_uuid,
            "status",
            call_sid,
            status,
            max(duration, 0),
            carrier_outcome(status, sip_code),
            token,
        )["outcome"]
    )


def not_placed(store: Store, auth_id: str, session_uuid: str, now: int, cause: str = NOT_PLACED) -> str:
    """Tell the tenant the call-out could not be placed (once, and never after a call is known); `ok`/`duplicate`."""
    return str(store.run("call_out.lua", auth_id, now, session_uuid, "failed", cause)["outcome"])


def answer(store: Store, auth_id: str, session_uuid: str, call: IncomingCall, now: int) -> Decision:
    """Decide what the first party hears on answering: the inbound decision, for session `session_uuid` only.

    `call` is the answered call with caller and DID the other way round from the carrier's fields: the
    caller is the first party (the carrier's To), the DID the virtual number (its From). The call is already
    answered, so a refusal (the DID now routes to another session, or to none) is a hang-up.
    """
    result = store.run("answer.lua", auth_id, now, call.virtual_number, call.caller, call.call_sid, session_uuid)
    return inbound.decision_from(auth_id, call.call_sid, result, answered=True)
