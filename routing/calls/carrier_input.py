"""What masq accepts from the carrier, written once: every carrier webhook's values are read through here.

A value out of these bounds is an `InvalidInput` naming the field, raised before anything is written: the
scripts that apply carrier reports (which check their arguments again, before their first write) never see it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from routing.calls.carrier_reports import DialOutcome, LegStatus, RecordingStatus, carrier_time
from routing.errors import InvalidInput

# No call, leg or recording lasts longer than a day (the carrier caps a call at 4 h, or 24 h on request).
MAX_SECONDS = 86400
SECONDS = re.compile(r"[0-9]{1,6}")
# A carrier id: two letters and 32 hex digits (`CA…` calls, `RE…` recordings).
SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
# A keypad entry as `<Gather>` reports it.
DIGITS = re.compile(r"[0-9*#]{0,32}")
RECORDING_URL = re.compile(r"https?://[!-~]{1,1000}")
ERROR_CODE = re.compile(r"[0-9]{0,6}")
# A SIP final response code (RFC 3261: 3 digits, 100 to 699).
SIP_CODE = re.compile(r"[1-6][0-9]{2}")

# A call's or a leg's status (a leg's `answered` arrives as `in-progress`).
CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"}
)
# The statuses a call ends with.
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# How a `<Dial>` ended (DialCallStatus).
DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})
RECORDING_STATUSES = frozenset({"in-progress", "completed", "absent", "failed"})


def seconds(raw: object, field: str) -> int:
    """Return a carrier duration in whole seconds, 0 when absent; raise InvalidInput beyond 0…a day."""
    if raw is None or raw == "":
        return 0
    text = str(raw)
    if not SECONDS.fullmatch(text) or int(text) > MAX_SECONDS:
        raise InvalidInput(field, f"must be whole seconds from 0 to {MAX_SECONDS}")
    return int(text)


def word(raw: str | None, field: str, allowed: frozenset[str]) -> str:
    """Return `raw` when it is one of the words `allowed`; raise InvalidInput otherwise."""
    if raw not in allowed:
        raise InvalidInput(field, "must be one of " + ", ".join(sorted(allowed)))
    return raw


def sid(raw: str | None, field: str, optional: bool = False) -> str:
    """Return a carrier id (`CA` and 32 hex digits), or `""` when `optional` and absent; raise InvalidInput."""
    if optional and not raw:
        return ""
    if not SID.fullmatch(raw or ""):
        raise InvalidInput(field, "must be a carrier id: two letters and 32 hex digits")
    return str(raw)


def digits(form: Mapping[str, str]) -> str:
    """Return the keys a caller pressed (`Digits`); raise InvalidInput unless up to 32 of `0-9*#`."""
    raw = form.get("Digits", "")
    if not DIGITS.fullmatch(raw):
        raise InvalidInput("Digits", "must be up to 32 keys of 0-9, * and #")
    return raw


def sip_code(form: Mapping[str, str]) -> str:
    """Return a status callback's `SipResponseCode` ("" when absent); raise InvalidInput unless a code 100-699."""
    raw = form.get("SipResponseCode", "")
    if raw and not SIP_CODE.fullmatch(raw):
        raise InvalidInput("SipResponseCode", "must be a SIP response code, 100 to 699")
    return raw


def leg_status(call_sid: str, form: Mapping[str, str], token: str) -> LegStatus:
    """Return a dialled leg's status callback as masq applies it; raise InvalidInput on a value out of bounds."""
    return LegStatus(
        call_sid,
        sid(form.get("CallSid"), "CallSid"),
        word(form.get("CallStatus"), "CallStatus", CALL_STATUSES),
        seconds(form.get("CallDuration"), "CallDuration"),
        token,
        sip_code(form),
    )


def dial_outcome(call_sid: str, form: Mapping[str, str], token: str) -> DialOutcome:
    """Return a `<Dial action>` request as masq applies it (no DialCallStatus: failed); raise InvalidInput."""
    return DialOutcome(
        call_sid,
        word(form.get("DialCallStatus") or "failed", "DialCallStatus", DIAL_STATUSES),
        sid(form.get("DialCallSid"), "DialCallSid", optional=True),
        seconds(form.get("DialCallDuration"), "DialCallDuration"),
        token,
    )


def recording_status(call_sid: str, form: Mapping[str, str], token: str) -> RecordingStatus:
    """Return a recording status callback as masq applies it; raise InvalidInput on a value out of bounds."""
    url = form.get("RecordingUrl", "")
    if url and not RECORDING_URL.fullmatch(url):
        raise InvalidInput("RecordingUrl", "must be an http or https URL")
    error_code = form.get("ErrorCode", "")
    if not ERROR_CODE.fullmatch(error_code):
        raise InvalidInput("ErrorCode", "must be a carrier error code")
    return RecordingStatus(
        call_sid,
        sid(form.get("RecordingSid"), "RecordingSid"),
        word(form.get("RecordingStatus"), "RecordingStatus", RECORDING_STATUSES),
        url,
        seconds(form.get("RecordingDuration"), "RecordingDuration"),
        token,
        started=carrier_time(form.get("RecordingStartTime")),
        error_code=error_code,
    )
