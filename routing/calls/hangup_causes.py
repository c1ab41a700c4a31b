"""Why a call or a leg ended, in Plivo's words: every hangup cause a tenant hears of comes from `CAUSES`.

A hangup event holds its outcome in the outbox stream: the carrier's final call status (`completed`, `busy`,
`no-answer`, `failed`, `canceled`), followed by the carrier's SIP response when one refines it (`busy 600`), or
how masq itself ended the call (`time-limit`, `pin-failed`, …). `on_the_wire` turns it into the three fields
the tenant receives:

- `PlivoHangupCause` and `PlivoHangupCauseCode`, the cause and its integer code from Plivo's published table
  (https://www.plivo.com/docs/voice/troubleshooting/hangup-causes), the two fields Plivo's masking-session
  callbacks carry (its Session API page, https://www.plivo.com/docs/number-masking/api/session, "Session
  Callbacks");
- `HangupCause`, masq's own word for the outcome, as masq has always sent it. Plivo's masking callbacks do not
  document it; it stays for the tenants that read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """One outcome as the tenant hears it: masq's `HangupCause` word, Plivo's cause and its code.

    A row for a SIP response has no word of its own (`""`): its `HangupCause` is the call status's.
    """

    hangup_cause: str
    plivo: str
    code: int


# Every outcome masq reports, with the row of Plivo's table it is (the page above; codes and spellings as Plivo's).
CAUSES: dict[str, Cause] = {
    # The carrier's final statuses (Twilio's CallStatus / DialCallStatus).
    "completed": Cause("Normal Hangup", "Normal Hangup", 4000),
    "busy": Cause("Busy Line", "Busy Line", 3010),
    # Twilio's no-answer: the `<Dial timeout>` (the session's ring_timeout) passed before an answer.
    "no-answer": Cause("No Answer", "Ring Timeout Reached", 6010),
    # Twilio's failed without a SIP response that says more: the carrier could not route the call.
    "failed": Cause("Call Failed", "Routing Error", 5020),
    # Twilio's canceled: the caller hung up (or the call was cancelled) before the callee answered.
    "canceled": Cause("Cancelled", "Canceled", 1000),
    # The carrier's SIP response (Twilio's SipResponseCode) of a leg that was busy, unanswered or failed.
    "sip 403": Cause("", "Forbidden", 3040),
    "sip 404": Cause("", "Unallocated number", 3050),
    "sip 408": Cause("", "Request timeout", 3070),
    "sip 480": Cause("", "No Answer", 3000),
    "sip 484": Cause("", "Invalid Destination Address", 2000),
    "sip 486": Cause("", "Busy Line", 3010),
    "sip 500": Cause("", "Internal server error from carrier", 3080),
    "sip 503": Cause("", "Network congestion from carrier", 3090),
    "sip 600": Cause("", "Busy everywhere", 3100),
    "sip 603": Cause("", "Declined", 3110),
    "sip 604": Cause("", "User does not exist anywhere", 3120),
    # How masq itself ends a call.
    # The answered call lasted the session's call_time_limit (masq's `<Dial timeLimit>`): the carrier cut it.
    "time-limit": Cause("Normal Hangup", "Scheduled Hangup", 6000),
    # The session expired while the caller was still keying a PIN: masq hung up at the session's end.
    "session-expired": Cause("Session Expired", "Scheduled Hangup", 6000),
    # The caller keyed no right PIN within the session's pin_retry: the key challenge failed.
    "pin-failed": Cause("PIN Authentication Failed", "Confirm Key Challenge Failed", 9110),
    # The session's PIN entry is locked (too many wrong PINs): the caller is told so and hung up.
    "pin-locked": Cause("PIN Authentication Failed", "Confirm Key Challenge Failed", 9110),
    # masq could not place its call to the first party at all (the carrier unreachable, no credentials, …).
    "not-placed": Cause("Call Failed", "Internal Error", 5010),
}

# The carrier's final statuses, and those of them whose SIP response says more than the status does (a completed
# or canceled call is what it says).
CARRIER_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
REFINED_BY_SIP = frozenset({"busy", "no-answer", "failed"})


def carrier_outcome(status: str, sip_code: str = "") -> str:
    """Return the outcome of a call the carrier reports ended with `status` and SIP response `sip_code` ("" if none).

    Any status but the carrier's final ones (`answered`, DialCallStatus's old word) is `completed`. The SIP response
    is kept only where it has a row of `CAUSES` (not 487, which Twilio sends for a ring timeout and a cancel alike).
    """
    status = status if status in CARRIER_STATUSES else "completed"
    if status in REFINED_BY_SIP and f"sip {sip_code}" in CAUSES:
        return f"{status} {sip_code}"
    return status


def on_the_wire(written: str) -> dict[str, str]:
    """Return the hangup fields a tenant receives for the outcome `written` in an event (see the module's docstring).

    An outcome not in `CAUSES` is an event written before masq knew Plivo's causes: its `HangupCause` passes as it is.
    """
    status, _, sip_code = written.partition(" ")
    cause = CAUSES.get(status)
    if cause is None or not cause.hangup_cause:
        return {"HangupCause": written}
    plivo = CAUSES.get(f"sip {sip_code}", cause) if sip_code else cause
    return {"HangupCause": cause.hangup_cause, "PlivoHangupCause": plivo.plivo, "PlivoHangupCauseCode": str(plivo.code)}


def plivo_cause(written: str) -> tuple[str, int | None]:
    """Return Plivo's hangup cause name and code for the outcome `written` ("" and None when there is none yet);
    an outcome from before masq knew Plivo's causes gives its own word and no code."""
    if not written:
        return "", None
    wire = on_the_wire(written)
    code = wire.get("PlivoHangupCauseCode")
    return wire.get("PlivoHangupCause", wire["HangupCause"]), int(code) if code else None
