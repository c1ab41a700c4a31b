"""The tenant's event outbox: claiming events for delivery, and settling each one exactly once.

Events are appended to the tenant's stream (`Keys.events`) in the same atomic step as the state change
they report. Delivery is at least once:

- a worker claims new entries through the stream's consumer group, so an entry it holds stays pending
  until it is settled; entries held by a worker that died (SIGKILL) are taken over after `CLAIM_IDLE_MS`;
- a failed entry is acknowledged and parked in the retry index with growing back-off (`BACKOFF`, a little
  over a day in all); claiming a due retry leases it for `LEASE` so two workers never send it at once;
- after the last retry, or when the target can never be reached (a malformed URL), the entry moves to the
  dead letters, where an operator can read and replay it;
- a delivered entry is acknowledged and deleted, so the stream holds only what is still owed.

An entry holds its times (`TIME_FIELDS`) as integer µs, a hangup's outcome as `routing.calls.hangup_causes` words
it and a recording's format as the session's `record_file_format`; `wire_fields` turns them into what Plivo sends,
for the tenant and for anyone reading an event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from routing.calls.hangup_causes import on_the_wire
from routing.clock import US, plivo_time
from routing.lua import named
from routing.sessions.session import Session
from routing.store import Store

GROUP = "deliver"
CLAIM_IDLE_MS = 120_000  # well past one delivery (15 s at most); a lane may hold one longer: its owner keeps it
LEASE = 180 * US
BACKOFF = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 10800, 14400, 21600, 28800)

# The fields of an event that are times: µs in the stream, Plivo's time format on the wire.
TIME_FIELDS = ("EventTimestamp", "RecordingStartTime", "RecordingEndTime", "PinLockedUntil")

_groups_made: set[str] = set()


@dataclass(frozen=True)
class Policy:
    """How patient delivery is: the back-off between tries, and when a silent worker's events are taken over."""

    backoff: tuple[int, ...] = BACKOFF
    claim_idle_ms: int = CLAIM_IDLE_MS


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Event:
    """One outbox entry: its stream id, its flat parameters, and how many deliveries already failed."""

    entry_id: str
    fields: dict[str, str]
    attempts: int = 0


@dataclass(frozen=True)
class DeadLetter:
    """An event that could not be delivered, with why."""

    entry_id: str
    fields: dict[str, str]
    attempts: int
    error: str
    failed_at: int


def wire_fields(fields: dict[str, str]) -> dict[str, str]:
    """Return an event's fields as the tenant receives them, in Plivo's formats.

    Each time field's µs becomes Plivo's time ("" kept); a hangup's outcome becomes `HangupCause`, `PlivoHangupCause`
    and `PlivoHangupCauseCode`; `RecordingFormat` gets the dot of Plivo's `.mp3`, `.wav`.
    """
    wire = dict(fields)
    for name in TIME_FIELDS:
        value = wire.get(name, "")
        # Only digits are µs: an entry written while the scripts still formatted times passes as it was.
        if value.isascii() and value.isdigit():
            wire[name] = plivo_time(int(value))
    if "HangupCause" in wire:
        wire.update(on_the_wire(wire["HangupCause"]))
    recording_format = wire.get("RecordingFormat", "")
    if recording_format and not recording_format.startswith("."):
        # Plivo's list: `.mp3`, `.wav` (its session recording callback, under number-masking/api/session-object).
        wire["RecordingFormat"] = "." + recording_format
    return wire


def callback_of(fields: dict[str, str], session: Session) -> tuple[str, str]:
    """Return the URL and method the event of `fields` is sent to: a recording event to the session's recording
    callback, any other to its callback; the URL is "" when the session asks for none."""
    if fields.get("EventName", "").startswith("SessionRecording"):
        return session.recording_callback_url, session.recording_callback_method
    return session.callback_url, session.callback_method


def _ensure_group(store: Store, auth_id: str) -> None:
    stream = store.keys.events(auth_id)
    if stream in _groups_made:
        return
    try:
        store.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    _groups_made.add(stream)


def claim(
    store: Store,
    auth_id: str,
    consumer: str,
    now: int,
    count: int = 200,
    policy: Policy = DEFAULT_POLICY,
    new: bool = True,
    stale: bool = True,
    retries: bool = True,
    most_retries: int | None = None,
) -> list[Event]:
    """Return up to `count` events to deliver: `new` ones, `stale` ones (a dead worker held them past the claim time)
    and `retries` now due (at most `most_retries` of those); leaving out a kind saves its round trip when it is known
    to have none.

    An entry this consumer holds already and claims again as stale is taken again: it stays pending to it, its idle
    time starts over.
    """
    _ensure_group(store, auth_id)
    stream = store.keys.events(auth_id)
    entries: list[tuple[str, dict[str, str]]] = []
    if new:
        entries.extend(_read_new(store, auth_id, consumer, count))
    if stale and len(entries) < count:
        taken: Any = store.redis.xautoclaim(
            stream, GROUP, consumer, policy.claim_idle_ms, "0-0", count=count - len(entries)
        )
        entries.extend(e for e in taken[1] if e[0] is not None)  # Redis 6.2 answers nil for a deleted entry
    room = count - len(entries) if most_retries is None else min(count - len(entries), most_retries)
    if retries and room > 0:
        # Retries now due, each leased for LEASE so that no other worker takes it meanwhile.
        due = store.run("lease_due_retries.lua", auth_id, now, room, LEASE)["entries"]
        entries.extend((entry_id, named(flat)) for entry_id, flat in due)
    failures: list[Any] = []
    if entries:
        failures = store.redis.hmget(store.keys.event_failures(auth_id), [e[0] for e in entries])
    return [
        Event(str(entry_id), {str(k): str(v) for k, v in fields.items()}, _attempts(failure))
        for (entry_id, fields), failure in zip(entries, failures, strict=True)
        if fields
    ]


def _read_new(store: Store, auth_id: str, consumer: str, count: int) -> list[tuple[str, dict[str, str]]]:
    """Return up to `count` entries of the tenant's outbox no consumer has read yet, now pending to `consumer`."""
    stream = store.keys.events(auth_id)
    try:
        reply: Any = store.redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=count)
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        _groups_made.discard(stream)  # the stream was removed since; make the group again
        _ensure_group(store, auth_id)
        reply = store.redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=count)
    return [entry for _, items in reply or [] for entry in items]


def hand_back(store: Store, auth_id: str, entry_ids: list[str], owner: str, now: int, policy: Policy) -> int:
    """Hand the tenant's deliveries `entry_ids`, claimed and not sent, to the consumer `owner` (the tenant's owner) to
    be taken at once: each pending one becomes `owner`'s, idle for the claim time already, each leased retry falls due
    at `now`; ring the tenant's doorbell. Return how many pending ones were handed.

    Redis has no way to give a pending entry back to nobody; XCLAIM's IDLE makes it look abandoned, and the owner's
    next claim of stale entries takes it (routing/lua/hand_back.lua).
    """
    if not entry_ids:
        return 0
    return int(store.run("hand_back.lua", auth_id, now, owner, policy.claim_idle_ms, *entry_ids)["pending"])


def forget_consumers(store: Store, auth_ids: list[str], now: int, leaving: str = "", idle_ms: int = 0) -> int:
    """Delete, from each tenant's consumer group, the consumers holding nothing pending that are `leaving` or idle
    for `idle_ms` or more (0: none for idleness); return how many. One round trip (routing/lua/forget_consumers.lua).

    Housekeeping: a tenant whose call failed (its slot moving, its node down) keeps its consumers until the next time.
    """
    if not auth_ids:
        return 0
    idle = idle_ms if idle_ms > 0 else 1 << 62
    replies = store.run_each("forget_consumers.lua", auth_ids, now, leaving, idle)
    return sum(int(r["deleted"]) for r in replies if not isinstance(r, Exception))


def _attempts(failure: str | None) -> int:
    return int(json.loads(failure)["attempts"]) if failure else 0


def delivered(store: Store, auth_id: str, events: list[Event]) -> None:
    """Settle `events` as delivered: acknowledge and forget them."""
    if not events:
        return
    ids = [e.entry_id for e in events]
    with store.redis.pipeline(transaction=True) as pipe:
        pipe.xack(store.keys.events(auth_id), GROUP, *ids)
        pipe.xdel(store.keys.events(auth_id), *ids)
        pipe.zrem(store.keys.event_retries(auth_id), *ids)
        pipe.hdel(store.keys.event_failures(auth_id), *ids)
        pipe.hincrby(store.keys.tenant(auth_id), "callbacks_delivered", len(ids))
        pipe.execute()


def failed(
    store: Store, auth_id: str, event: Event, error: str, now: int, retry: bool = True, policy: Policy = DEFAULT_POLICY
) -> bool:
    """Settle `event` as failed: park it for its next retry, or make it a dead letter; return whether dead."""
    attempts = event.attempts + 1
    dead = not retry or attempts > len(policy.backoff)
    stream, entry_id = store.keys.events(auth_id), event.entry_id
    with store.redis.pipeline(transaction=True) as pipe:
        pipe.xack(stream, GROUP, entry_id)
        if dead:
            letter = {"fields": event.fields, "attempts": attempts, "error": error, "failed_at": now}
            pipe.hset(store.keys.dead_letters(auth_id), entry_id, json.dumps(letter))
            pipe.xdel(stream, entry_id)
            pipe.zrem(store.keys.event_retries(auth_id), entry_id)
            pipe.hdel(store.keys.event_failures(auth_id), entry_id)
            pipe.hincrby(store.keys.tenant(auth_id), "callbacks_dead", 1)
        else:
            pipe.hincrby(store.keys.tenant(auth_id), "callbacks_failed", 1)
            pipe.zadd(store.keys.event_retries(auth_id), {entry_id: now + policy.backoff[attempts - 1] * US})
            pipe.hset(
                store.keys.event_failures(auth_id),
                entry_id,
                json.dumps({"attempts": attempts, "error": error, "at": now}),
            )
        pipe.execute()
    return dead


def dead_letters(store: Store, auth_id: str) -> list[DeadLetter]:
    """Return the tenant's undeliverable events, oldest first."""
    raw = store.redis.hgetall(store.keys.dead_letters(auth_id))
    letters = [DeadLetter(str(k), **json.loads(v)) for k, v in raw.items()]
    return sorted(letters, key=lambda letter: letter.failed_at)


def replay(store: Store, auth_id: str, entry_ids: list[str] | None = None) -> int:
    """Put dead letters (all, or `entry_ids`) back in the outbox as new entries; return how many.

    Each goes back in one step (routing/lua/replay.lua) that also copies it to its session's history as the replay
    of the dead letter; a letter another replay took meanwhile is not sent twice.
    """
    letters = [d for d in dead_letters(store, auth_id) if entry_ids is None or d.entry_id in entry_ids]
    replayed = 0
    for letter in letters:
        flat = [part for name, value in letter.fields.items() for part in (name, value)]
        session_uuid = letter.fields.get("SessionUUID", "")
        reply = store.run("replay.lua", auth_id, 0, letter.entry_id, session_uuid, *flat)  # it reads no clock
        replayed += bool(reply["entry"])
    return replayed


def retry_now(store: Store, auth_id: str, entry_id: str, now: int) -> bool:
    """Make the event `entry_id`, waiting for a retry, due at `now` (ringing the tenant's doorbell, routing.due);
    return whether it was waiting.

    A retry a worker holds leased at this moment may then be sent once more: deliveries are at least once, and each
    carries its idempotency key.
    """
    return bool(store.run("retry_now.lua", auth_id, now, entry_id)["waiting"])
