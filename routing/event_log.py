"""A session's events as its history keeps them, each with where its delivery stands.

The outbox forgets an event once it is delivered; the session's history (`Keys.session_events`, written by
routing/lua/events.lua in the step that appends the event) keeps a copy under the event's outbox entry id. Where
the delivery stands is read from the outbox's own records, by that id:

- `dead`: in the dead letters (its attempts, last error and when it failed);
- `retrying`: failed and waiting for its next try (its attempts, last error and when it is due);
- `queued`: still owed, not yet failed;
- `replayed`: a dead letter put back in the outbox as a new entry, which has its own line;
- `delivered`: none of those (an event whose session asked for no callback is settled as delivered too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from routing.outbox import wire_fields
from routing.store import Store

DEAD = "dead"
RETRYING = "retrying"
QUEUED = "queued"
REPLAYED = "replayed"
DELIVERED = "delivered"
SHOWN = 500  # the latest events a session's page shows


@dataclass(frozen=True)
class LoggedEvent:
    """One event of a session: its outbox entry id, its fields as the tenant receives them, and its delivery.

    `attempts`, `error`, `failed_at` and `due` (µs) say how a failing delivery stands; `replay_of` is the dead
    letter this entry replays.
    """

    entry_id: str
    fields: dict[str, str]
    state: str
    attempts: int = 0
    error: str = ""
    failed_at: int | None = None
    due: int | None = None
    replay_of: str = ""

    @property
    def name(self) -> str:
        """Return the event's name (`SessionPartiesHangup`)."""
        return self.fields.get("EventName", "")


def session_events(store: Store, auth_id: str, session_uuid: str, most: int = SHOWN) -> list[LoggedEvent]:
    """Return the latest `most` events of the session, oldest first, each with its delivery state (two round trips)."""
    copies: Any = store.redis.xrevrange(store.keys.session_events(auth_id, session_uuid), count=most)
    copies.reverse()
    entries = [str(fields.get("entry", "")) for _, fields in copies]
    if not entries:
        return []
    keys = store.keys
    with store.redis.pipeline(transaction=True) as pipe:
        pipe.hmget(keys.dead_letters(auth_id), entries)
        pipe.hmget(keys.event_failures(auth_id), entries)
        pipe.zmscore(keys.event_retries(auth_id), entries)
        for entry in entries:
            pipe.xrange(keys.events(auth_id), entry, entry)
        dead, failures, due, *owed = pipe.execute()
    replayed = {str(fields["replay_of"]) for _, fields in copies if fields.get("replay_of")}
    events = []
    for index, (_, copy) in enumerate(copies):
        fields = {str(k): str(v) for k, v in copy.items() if k not in ("entry", "replay_of")}
        events.append(
            _logged(
                entries[index],
                wire_fields(fields),
                str(copy.get("replay_of", "")),
                dead[index],
                failures[index],
                due[index],
                bool(owed[index]),
                entries[index] in replayed,
            )
        )
    return events


def _logged(
    entry_id: str,
    fields: dict[str, str],
    replay_of: str,
    dead: str | None,
    failure: str | None,
    due: float | None,
    owed: bool,
    replayed: bool,
) -> LoggedEvent:
    """Return the event with the state its outbox records give (see the module's docstring)."""
    if dead is not None:
        letter = json.loads(dead)
        return LoggedEvent(
            entry_id,
            fields,
            DEAD,
            int(letter["attempts"]),
            str(letter["error"]),
            int(letter["failed_at"]),
            replay_of=replay_of,
        )
    if failure is not None and owed:
        record = json.loads(failure)
        return LoggedEvent(
            entry_id,
            fields,
            RETRYING,
            int(record["attempts"]),
            str(record["error"]),
            int(record["at"]),
            None if due is None else int(due),
            replay_of,
        )
    if owed:
        return LoggedEvent(entry_id, fields, QUEUED, replay_of=replay_of)
    return LoggedEvent(entry_id, fields, REPLAYED if replayed else DELIVERED, replay_of=replay_of)
