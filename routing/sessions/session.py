"""The masking session: what a tenant asked for, and how it is kept."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from routing.clock import US

ACTIVE = "active"
IN_PROGRESS = "in-progress"
EXPIRED = "expired"


@dataclass(frozen=True)
class Session:
    """One masking session. Times are µs since the epoch; numbers are E.164 (`""` when absent)."""

    session_uuid: str
    auth_id: str
    first_party: str
    second_party: str
    virtual_number: str
    created: int
    modified: int
    expiry: int
    subaccount: str = ""
    call_time_limit: int = 14400
    ring_timeout: int = 120
    record: bool = False
    record_file_format: str = "mp3"
    recording_callback_url: str = ""
    recording_callback_method: str = "POST"
    callback_url: str = ""
    callback_method: str = "POST"
    initiate_call_to_first_party: bool = False
    first_party_play_url: str = ""
    second_party_play_url: str = ""
    is_pin_authentication_required: bool = False
    generate_pin: bool = False
    generate_pin_length: int = 4
    first_party_pin: str = ""
    second_party_pin: str = ""
    pin_prompt_play: str = ""
    pin_retry: int = 1
    pin_retry_wait: int = 5
    incorrect_pin_play: str = ""
    unknown_caller_play: str = ""
    force_pin_authentication: bool = False
    geomatch: bool = True
    create_session_with_single_party: bool = False
    virtual_number_cooloff_period: int = 0
    amount: str = "0"
    ended_by: str = ""  # "request" once ended through the API; empty while open or when its TTL ran out
    # How it holds its DID (`routing.number_mode`); last, where the allocation script writes it into the record.
    number_mode: str = "exclusive"

    def status(self, now: int) -> str:
        """Return `expired` once the expiry time has passed, whoever asks and whatever ran."""
        return EXPIRED if self.expiry <= now else ACTIVE

    @property
    def duration(self) -> int:
        """Return the session's length in whole seconds, expiry − created, as Plivo reports it."""
        return (self.expiry - self.created) // US

    @property
    def expiry_member(self) -> str:
        """Return the member this session has in the open-sessions index while it is open."""
        return f"{self.session_uuid}|{self.virtual_number}|{self.virtual_number_cooloff_period}"

    def party(self, number: str) -> str | None:
        """Return `first` or `second` when `number` is that party of the session."""
        if number and number == self.first_party:
            return "first"
        if number and number == self.second_party:
            return "second"
        return None

    def to_json(self) -> str:
        """Return the compact JSON kept in Redis: defaults are left out to save memory."""
        data: dict[str, Any] = {}
        for name, default in _FIELDS:
            value = getattr(self, name)
            if value != default:
                data[name] = value
        return _COMPACT.encode(data)

    @classmethod
    def from_json(cls, text: str) -> Session:
        """Return the session kept as `text`."""
        data: dict[str, Any] = json.loads(text)
        return cls(**data)

    def evolve(self, **changes: Any) -> Session:
        """Return a copy with `changes` applied (as dataclasses.replace, without looking the fields up again)."""
        values = {name: getattr(self, name) for name, _ in _FIELDS}
        values.update(changes)
        return type(self)(**values)


# Every field's name and default (MISSING when it has none), in order: read on every create and update.
_FIELDS = tuple((f.name, f.default) for f in fields(Session))
# `json.dumps(..., separators=...)` builds an encoder on each call; this is the same encoder, built once.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
