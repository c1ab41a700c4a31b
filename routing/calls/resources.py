"""The Plivo dialect's Call and Recording resources: one leg of a call, or its recording, as masq knows them.

A call on a session is one interaction (see routing.calls.history): the caller's leg, named by its CallSid, the leg
masq dialled, and the recording of the bridge. The scripts index the dialled leg's CallSid and the recording's id
to the interaction for as long as it is kept (`Keys.leg`, `Keys.recording`), so each id finds its call in one
round trip; another tenant's id is not in the tenant's keys, and is not found.

The paths are Plivo's (`/v1/Account/{auth_id}/Call/{call_uuid}/`, `…/Recording/{recording_id}/`); a session's
interactions and recording events give them as absolute URLs on MASQ_PUBLIC_URL, as Plivo gives its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from routing.calls.billing import as_amount
from routing.calls.hangup_causes import plivo_cause
from routing.calls.history import stored_int
from routing.errors import NotFound
from routing.lua import named
from routing.store import Store

INBOUND = "inbound"
OUTBOUND = "outbound"

# An id as a resource URL's path may give it; one that is not masq's (a carrier SID it stored) is a 404 all the
# same, but only this shape reaches Redis. (Not `routing.calls.inbound.TOKEN`: inbound imports this module's
# importers, and a leaf keeps the call modules free of cycles.)
PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def call_path(auth_id: str, call_uuid: str) -> str:
    """Return the path of leg `call_uuid`'s Call resource, Plivo's `resource_uri` for it."""
    return f"/v1/Account/{auth_id}/Call/{call_uuid}/"


def recording_path(auth_id: str, recording_id: str) -> str:
    """Return the path of recording `recording_id`'s Recording resource, Plivo's `resource_uri` for it."""
    return f"/v1/Account/{auth_id}/Recording/{recording_id}/"


def call_url(public_url: str, auth_id: str, call_uuid: str) -> str:
    """Return the absolute URL of leg `call_uuid`'s Call resource on `public_url` (MASQ_PUBLIC_URL, no final `/`)."""
    return public_url + call_path(auth_id, call_uuid)


def recording_url(public_url: str, auth_id: str, recording_id: str) -> str:
    """Return the absolute URL of recording `recording_id`'s Recording resource on `public_url` (MASQ_PUBLIC_URL)."""
    return public_url + recording_path(auth_id, recording_id)


@dataclass(frozen=True)
class CallLeg:
    """One leg of a call: the caller's (`parent_call_uuid` None) or the one masq dialled from the virtual number.

    Numbers are E.164 as kept ("" for a withheld caller); times in µs, None until they happen; `duration` and
    `billed` in seconds, 0 until the leg ends; `amount` its charge and `rate` the per-minute rate it was charged at
    (the tenant's rate now, until it is charged); `hangup_cause` and `hangup_cause_code` Plivo's cause of its end,
    as its hangup event gave it ("" and None until then; `routing.calls.hangup_causes`).
    """

    call_uuid: str
    parent_call_uuid: str | None
    direction: str
    from_number: str
    to_number: str
    initiated: int | None
    answered: int | None
    ended: int | None
    duration: int
    billed: int
    amount: Decimal
    rate: Decimal
    hangup_cause: str
    hangup_cause_code: int | None


@dataclass(frozen=True)
class Recording:
    """A call's recording: the caller's CallSid, the parties' numbers (E.164 as kept), the carrier's media URL in
    `file_format` ("" until the recording completes), start and end in µs (None until known), `duration` in s."""

    recording_id: str
    call_uuid: str
    from_number: str
    to_number: str
    url: str
    file_format: str
    started: int | None
    ended: int | None
    duration: int


def find_call(store: Store, auth_id: str, call_uuid: str) -> CallLeg:
    """Return the tenant's call leg `call_uuid` (either leg of a call on one of its sessions); NotFound otherwise."""
    raw, rate = _call_of(store, auth_id, call_uuid, "call")
    if call_uuid == raw.get("sid"):
        return _caller_leg(raw, rate)
    if call_uuid == raw.get("b_sid"):
        return _dialled_leg(raw, rate)
    raise NotFound(f"no call {call_uuid!r}")


def find_recording(store: Store, auth_id: str, recording_id: str) -> Recording:
    """Return the tenant's recording `recording_id`, made of a call on one of its sessions; NotFound otherwise."""
    raw, _ = _call_of(store, auth_id, recording_id, "recording")
    if recording_id != raw.get("rec_sid"):
        raise NotFound(f"no recording {recording_id!r}")
    return Recording(
        recording_id=recording_id,
        call_uuid=raw.get("sid", ""),
        from_number=raw.get("from", ""),
        to_number=raw.get("callee", ""),
        url=raw.get("rec_url", ""),
        file_format=raw.get("rec_format", ""),
        started=_moment(raw, "rec_started"),
        ended=_moment(raw, "rec_ended"),
        duration=stored_int(raw.get("rec_duration"), "rec_duration"),
    )


def _call_of(store: Store, auth_id: str, some_id: str, kind: str) -> tuple[dict[str, str], Decimal]:
    """Return the interaction hash that `some_id` belongs to and the tenant's rate now; NotFound when there is none."""
    if not PATH_ID.fullmatch(some_id):
        raise NotFound(f"no {kind} {some_id!r}")
    reply = store.run("read_resource.lua", auth_id, 0, some_id)  # it reads no clock
    raw = named(reply["interaction"]) if reply["interaction"] else {}
    if not raw.get("sid"):
        raise NotFound(f"no {kind} {some_id!r}")
    return raw, as_amount(reply["rate"])


def _caller_leg(raw: dict[str, str], rate_now: Decimal) -> CallLeg:
    placed = raw.get("a_direction") == OUTBOUND  # masq called the first party: the leg goes out to them
    caller, virtual_number = raw.get("from", ""), raw.get("to", "")
    return CallLeg(
        call_uuid=raw["sid"],
        parent_call_uuid=None,
        direction=OUTBOUND if placed else INBOUND,
        from_number=virtual_number if placed else caller,
        to_number=caller if placed else virtual_number,
        initiated=_moment(raw, "started"),
        answered=_moment(raw, "a_answered"),
        ended=_moment(raw, "ended"),
        duration=stored_int(raw.get("a_duration"), "a_duration"),
        billed=stored_int(raw.get("a_billed"), "a_billed"),
        amount=as_amount(raw.get("a_amount")),
        rate=as_amount(raw["a_rate"]) if raw.get("a_rate") else rate_now,
        **_cause(raw.get("a_cause", "")),
    )


def _dialled_leg(raw: dict[str, str], rate_now: Decimal) -> CallLeg:
    over = stored_int(raw.get("b_rank"), "b_rank") >= 4  # its final status came (carrier_reports' ranks)
    return CallLeg(
        call_uuid=raw["b_sid"],
        parent_call_uuid=raw["sid"],
        direction=OUTBOUND,
        from_number=raw.get("to", ""),  # masq dials from the virtual number
        to_number=raw.get("callee", ""),
        initiated=_moment(raw, "b_started"),
        answered=_moment(raw, "b_answered"),
        ended=_moment(raw, "ended") if over else None,
        duration=stored_int(raw.get("b_duration"), "b_duration"),
        billed=stored_int(raw.get("b_billed"), "b_billed"),
        amount=as_amount(raw.get("b_amount")),
        rate=as_amount(raw["b_rate"]) if raw.get("b_rate") else rate_now,
        **_cause(raw.get("b_cause", "")),
    )


def _moment(raw: dict[str, str], name: str) -> int | None:
    """Return the time kept in field `name` (µs), None when it is not kept."""
    return stored_int(raw[name], name) if raw.get(name) else None


def _cause(written: str) -> dict[str, Any]:
    name, code = plivo_cause(written)
    return {"hangup_cause": name, "hangup_cause_code": code}
