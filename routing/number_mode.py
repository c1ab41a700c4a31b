"""How a tenant's sessions take virtual numbers: each its own DID (`exclusive`), or DIDs shared by many sessions.

Exclusive, the default, is CloudTalk's promise: an open session's DID carries no other session, so a pool needs a
DID per open session (and per session cooling off). Shared is Plivo's and Twilio Proxy's way: a call to DID D from
caller C is resolved by the pair (D, C), so one DID carries many sessions, as long as a real number is in at most
one of them there. A session's parties therefore need a DID that neither holds already (in a session open or
cooling off); someone in k sessions at once holds k DIDs, and a pair whose parties hold k − 1 others each needs the
(2k − 1)-th. A country's pool of 2k − 1 DIDs, k being the most sessions any one real number is in at once, never
runs out for want of a DID both parties can take, plus one DID for each `parties_per_number` holdings (rounded down
to an even number: parties come in pairs), since a full DID takes no one (see `routing.shared_capacity`).

The tenant's `number_mode` is the default of each create, which may ask for either mode (`number_mode` in Plivo's
dialect, `dedicated` or `shared` in CloudTalk's). A single-party session is exclusive whatever is asked: with one
party known, a call cannot be resolved by its caller. A DID is in one mode at a time: a shared DID is never handed
out exclusively until no party holds it, nor an exclusive one shared until it is free.

The allocation is one script (routing/lua/shared.lua): it ends the parties' holdings whose cool-off is over, takes
the pair's previous DID when both may take it (sticky), else the most loaded DID under the cap that neither holds
(so that DIDs stay free for new pairs and for exclusive sessions), else a free one, and writes both routes, both
holdings and the session at once, so parallel creates for one person never give them one DID twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.errors import InvalidInput
from routing.store import Store

EXCLUSIVE = "exclusive"
SHARED = "shared"
MODES = (EXCLUSIVE, SHARED)
# The most parties one shared DID carries (open or cooling off) unless the tenant says otherwise: Twilio Proxy's advice.
DEFAULT_PARTIES_PER_NUMBER = 100
# The bounds of `parties_per_number`: a session has two parties; PINs of 4 digits must stay plentiful on one DID.
PARTIES_PER_NUMBER = (2, 1000)


@dataclass(frozen=True)
class NumberSettings:
    """A tenant's number mode, and the most parties a shared DID of its pool carries."""

    number_mode: str = EXCLUSIVE
    parties_per_number: int = DEFAULT_PARTIES_PER_NUMBER


def number_settings(store: Store, auth_id: str) -> NumberSettings:
    """Return the tenant's settings as the allocation reads them (a missing or odd value reads as the default)."""
    mode, parties = store.redis.hmget(store.keys.tenant(auth_id), "number_mode", "parties_per_number")
    given = int(parties) if parties and str(parties).isdigit() else 0
    count = given if given >= PARTIES_PER_NUMBER[0] else DEFAULT_PARTIES_PER_NUMBER
    return NumberSettings(SHARED if mode == SHARED else EXCLUSIVE, count)


def set_number_settings(
    store: Store, auth_id: str, mode: str | None = None, parties_per_number: int | None = None
) -> NumberSettings:
    """Change the tenant's number mode and/or its parties per shared DID; return the settings now.

    InvalidInput (naming `number_mode` or `parties_per_number`) for a value out of bounds. The change applies to the
    sessions opened from then on; open ones keep their DIDs.
    """
    changes: dict[str, str | int] = {}
    if mode is not None:
        if mode not in MODES:
            raise InvalidInput("number_mode", "must be " + " or ".join(MODES))
        changes["number_mode"] = mode
    if parties_per_number is not None:
        low, high = PARTIES_PER_NUMBER
        if not low <= parties_per_number <= high:
            raise InvalidInput("parties_per_number", f"must be between {low} and {high}")
        changes["parties_per_number"] = parties_per_number
    if changes:
        store.redis.hset(store.keys.tenant(auth_id), mapping=changes)
    return number_settings(store, auth_id)
