"""A session's calls as the API shows them: the live call, the totals and each interaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from routing.calls.billing import as_amount
from routing.lua import Reply, named
from routing.store import Store

MAX_SHOWN = 100
log = logging.getLogger("masq.calls")
_LOGGED: set[str] = set()


# The largest stored number read as it is: the µs of the last second of year 9999 (counts and seconds are far below).
MAX_STORED = 253_402_300_799 * 1_000_000


def stored_int(raw: str | None, name: str) -> int:
    """Return a whole number kept in Redis; one that is not a number from 0 to MAX_STORED reads as 0 (logged once)."""
    if not raw:
        return 0
    try:
        value = int(raw) if len(raw) <= 20 else -1
    except ValueError:
        value = -1
    if 0 <= value <= MAX_STORED:
        return value
    if name not in _LOGGED:
        _LOGGED.add(name)
        log.warning("stored %s %r is not a number from 0 to %d: read as 0", name, raw[:40], MAX_STORED)
    return 0


@dataclass(frozen=True)
class Interaction:
    """One call on a session. `a_*` is the caller's leg, `b_*` the dialled one; times in µs."""

    call_sid: str
    caller: str
    caller_party: str
    callee: str
    state: str
    started: int
    ended: int | None
    pin: str
    wrong_pins: int
    a_status: str
    b_sid: str
    b_status: str
    billed: int
    amount: Decimal
    recording_sid: str
    recording_url: str
    recording_status: str

    @property
    def duration(self) -> int:
        """Return the interaction's length in whole seconds so far (0 while it runs)."""
        return -(-(self.ended - self.started) // 1_000_000) if self.ended else 0

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Interaction:
        """Return the interaction kept as the Redis hash `raw`."""
        return cls(
            call_sid=raw.get("sid", ""),
            caller=raw.get("from", ""),
            caller_party=raw.get("caller", ""),
            callee=raw.get("callee", ""),
            state=raw.get("state", ""),
            started=stored_int(raw.get("started"), "started"),
            ended=stored_int(raw["ended"], "ended") if raw.get("ended") else None,
            pin=raw.get("pin", ""),
            wrong_pins=stored_int(raw.get("tries"), "tries"),
            a_status="completed" if raw.get("ended") else ("in-progress" if raw.get("a_answered") else "ringing"),
            b_sid=raw.get("b_sid", ""),
            b_status=raw.get("b_status", ""),
            billed=stored_int(raw.get("billed"), "billed"),
            amount=as_amount(raw.get("amount")),
            recording_sid=raw.get("rec_sid", ""),
            recording_url=raw.get("rec_url", ""),
            recording_status=raw.get("rec_status", ""),
        )


@dataclass(frozen=True)
class CallState:
    """A session's call totals and interactions (the latest `MAX_SHOWN`)."""

    live: str = ""
    live_until: int = 0
    count: int = 0
    billed: int = 0
    amount: Decimal = Decimal("0")
    last: int | None = None
    interactions: list[Interaction] = field(default_factory=list)

    def in_call(self, now: int) -> bool:
        """Return whether a call holds the session at `now`."""
        return bool(self.live) and self.live_until > now

    @classmethod
    def from_reply(cls, reply: Reply) -> CallState:
        """Return the state from read_calls.lua's reply (its hashes as flat lists of names and values)."""
        totals = named(reply["state"])
        return cls(
            live=totals.get("live", ""),
            live_until=stored_int(totals.get("live_until"), "live_until"),
            count=stored_int(totals.get("count"), "count"),
            billed=stored_int(totals.get("billed"), "billed"),
            amount=as_amount(totals.get("amount")),
            last=stored_int(totals["last"], "last") if totals.get("last") else None,
            interactions=[Interaction.from_hash(named(flat)) for flat in reply["interactions"] if flat],
        )


def read_calls(store: Store, auth_id: str, session_uuid: str, now: int) -> CallState:
    """Return the session's call state, in one round trip."""
    return CallState.from_reply(store.run("read_calls.lua", auth_id, now, session_uuid, MAX_SHOWN))


def read_calls_many(store: Store, auth_id: str, session_uuids: list[str], now: int) -> list[CallState]:
    """Return each session's call state, in the order given, all in one pipelined round trip."""
    if not session_uuids:
        return []
    replies = store.run_many("read_calls.lua", auth_id, now, [(uuid, MAX_SHOWN) for uuid in session_uuids])
    return [CallState.from_reply(reply) for reply in replies]
