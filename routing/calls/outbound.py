"""masq calls a session's first party (`initiate_call_to_first_party`) and, once they answer, bridges the second.

The call goes out from the virtual number. When the first party answers, the carrier asks masq's
outbound-answer step (at the URL the app gave) what to do, and masq decides as if the first party had called
the virtual number: the same `<Dial>` rules, interaction and events as an inbound call (the Lua `inbound`, which
routing/lua/answer.lua runs), only for the session the call was placed for, and with the first party's leg
answered from that moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.calls import inbound
from routing.calls.inbound import Decision, IncomingCall
from routing.sessions.session import ACTIVE, Session
from routing.store import Store


@dataclass(frozen=True)
class OutboundCall:
    """The call to place: to the first party, from the virtual number, answered at `url`, ringing `timeout` s."""

    to: str
    from_: str
    url: str
    timeout: int


def outbound_call(session: Session, answer_url: str, now: int) -> OutboundCall | None:
    """Return the call to place to the session's first party, answered at `answer_url`, or None when none is due.

    Nothing is called for once the session has ended, when it did not ask for the call, or while it has no
    second party to bridge to.
    """
    if session.status(now) != ACTIVE or not session.initiate_call_to_first_party or not session.second_party:
        return None
    return OutboundCall(
        to=session.first_party, from_=session.virtual_number, url=answer_url, timeout=session.ring_timeout
    )


def answer(store: Store, auth_id: str, session_uuid: str, call: IncomingCall, now: int) -> Decision:
    """Decide what the first party hears on answering: the inbound decision, for session `session_uuid` only.

    `call` is the answered call with caller and DID the other way round from the carrier's fields: the
    caller is the first party (the carrier's To), the DID the virtual number (its From). The call is already
    answered, so a refusal (the DID now routes to another session, or to none) is a hang-up.
    """
    result = store.run("answer.lua", auth_id, now, call.virtual_number, call.caller, call.call_sid, session_uuid)
    return inbound.decision_from(auth_id, call.call_sid, result, answered=True)
