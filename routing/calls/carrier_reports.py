"""What the carrier reports about a call after it is bridged: legs ringing, answering, hanging up, recordings.

Each report moves the call's interaction forward, adds the charges to the session's totals and appends the
session events a tenant hears about to the tenant's outbox stream, all in one script. Reports can arrive
twice or out of order: one that is not newer than what was recorded changes nothing.

In session events, "first party" and "second party" name the legs of one call, not the session's fields:
the first party is the caller, whichever session party dialled the virtual number (the carrier's parent leg,
which masq answers), and the second party is the one masq dials (the child leg). So when the session's
second_party calls, `SessionFirstPartyAnswer` is about them. That is the only reading that holds for every
call: both session parties may call, a PIN can make an unknown caller either party, and the legs have an
order (the caller's leg exists before the other is dialled, and it alone hears PIN prompts). The event's
`From` is the caller's real number and `To` the dialled party's, so a tenant can still map legs to parties.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from routing.calls import resources
from routing.calls.hangup_causes import carrier_outcome
from routing.clock import US, to_us
from routing.store import Store


@dataclass(frozen=True)
class LegStatus:
    """A status callback of the dialled leg (`answered` arrives as `in-progress`), with its SIP response if any."""

    call_sid: str
    leg_sid: str
    status: str
    duration: int = 0
    token: str = ""
    sip_code: str = ""


@dataclass(frozen=True)
class DialOutcome:
    """The end of a `<Dial>`: DialCallStatus (`completed` when bridged), the dialled leg and its duration."""

    call_sid: str
    status: str
    leg_sid: str = ""
    duration: int = 0
    token: str = ""


@dataclass(frozen=True)
class RecordingStatus:
    """A recording status callback: `in-progress`, `completed`, `absent` or `failed`."""

    call_sid: str
    recording_sid: str
    status: str
    url: str = ""
    duration: int = 0
    token: str = ""
    started: int | None = None
    error_code: str = ""


def carrier_time(raw: str | None) -> int | None:
    """Return a carrier timestamp (RFC 2822, as Twilio sends `RecordingStartTime`) as µs, or None."""
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return to_us(moment) if moment.tzinfo else None


def record_leg_status(store: Store, auth_id: str, report: LegStatus, now: int) -> str:
    """Apply a leg status callback; return `ok`, `duplicate` or `unknown`."""
    return str(
        store.run(
            "leg_status.lua",
            auth_id,
            now,
            report.call_sid,
            report.leg_sid,
            report.status,
            max(report.duration, 0),
            carrier_outcome(report.status, report.sip_code),
            report.token,
        )["outcome"]
    )


def finish_dial(store: Store, auth_id: str, outcome: DialOutcome, now: int) -> str:
    """End the call's interaction when its `<Dial>` is over; return `ok`, `duplicate` or `unknown`."""
    return str(
        store.run(
            "dial_done.lua",
            auth_id,
            now,
            outcome.call_sid,
            outcome.status,
            outcome.leg_sid,
            max(outcome.duration, 0),
            carrier_outcome(outcome.status),
            outcome.token,
        )["outcome"]
    )


def record_recording(store: Store, auth_id: str, report: RecordingStatus, now: int, public_url: str) -> str:
    """Apply a recording status callback; return `ok`, `duplicate` or `unknown`.

    The tenant's event gives the recording's Recording resource as an absolute URL on `public_url`
    (MASQ_PUBLIC_URL), its `RecordingResourceURL`.
    """
    started = report.started or now - max(report.duration, 0) * US
    ended = started + max(report.duration, 0) * US if report.status == "completed" else ""
    return str(
        store.run(
            "recording.lua",
            auth_id,
            now,
            report.call_sid,
            report.recording_sid,
            report.url,
            report.status,
            max(report.duration, 0),
            report.token,
            started,
            ended,
            report.error_code,
            resources.recording_url(public_url, auth_id, report.recording_sid) if report.recording_sid else "",
        )["outcome"]
    )
