"""Asking Twilio about live calls masq has not heard of for a while, and closing those that are over."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from routing.calls import carrier_input, reconcile
from routing.errors import InvalidInput
from routing.store import Store

log = logging.getLogger("masq.worker")


@dataclass(frozen=True)
class CarrierCall:
    """A call as the carrier's Calls resource shows it: its status and duration (s, `""` while it runs)."""

    status: str
    duration: str = ""


def ask_carrier(client: Client, call_sid: str) -> CarrierCall | None:
    """Return the carrier's view of call `call_sid` (a call it does not know: failed), or None when it cannot say."""
    try:
        call = client.calls(call_sid).fetch()
    except TwilioRestException as exc:
        if exc.status == 404:
            return CarrierCall("failed")
        log.warning("carrier could not say how call %s stands: %s %s", call_sid, exc.status, exc.msg)
        return None
    except (TwilioException, OSError) as exc:
        log.warning("carrier could not say how call %s stands: %s", call_sid, exc)
        return None
    return CarrierCall(str(call.status or ""), str(call.duration or ""))


def close_calls_over(store: Store, auth_id: str, call_sids: list[str], client: Client, now: int) -> int:
    """Ask the carrier about each of the tenant's `call_sids` (from `reconcile.quiet_calls`) and close the ones it
    reports over, at `now` (µs); return how many closed.

    A call the carrier cannot say about now is asked about again later: `quiet_calls` put it off. Without carrier
    credentials nothing is asked: `quiet_calls` only prunes the index of calls no longer live, and each call's
    bounded hold (`live_until`) ends it.
    """
    closed = 0
    for call_sid in call_sids:
        found = ask_carrier(client, call_sid)
        if found is None or found.status not in carrier_input.FINAL_STATUSES:
            continue
        try:
            outcome = reconcile.close_call(store, auth_id, call_sid, found.status, found.duration, now)
        except InvalidInput as exc:
            log.warning("carrier's view of call %s is out of bounds: %s", call_sid, exc)
            outcome = reconcile.close_call(store, auth_id, call_sid, found.status, 0, now)
        if outcome == "ok":
            log.info("closed call %s, which the carrier reports %s", call_sid, found.status)
            closed += 1
    return closed
