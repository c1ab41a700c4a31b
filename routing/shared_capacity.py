"""The capacity of the DIDs a tenant's shared sessions use (`routing.number_mode`), country by country.

On a shared DID a real number is in at most one session (open or cooling off), so someone in k sessions at once
holds k DIDs, and a pair needs a DID neither holds: 2k − 1 DIDs per country, k being the most sessions (open or
cooling off) any one real number is in at once there, never run out for want of a DID both parties can take. The
cap on the parties of one DID (`parties_per_number`) takes DIDs out when full. Parties come two at a time, and a DID
takes a pair only while both fit under the cap, so a full DID holds the largest even number of parties at most the
cap (`parties_when_full`: 2 under a cap of 3): one more DID per that many holdings keeps a DID with room, and a
country's shared sessions need 2k − 1 + ⌊holdings / parties_when_full⌋ at most.

The allocation script keeps what is read here (routing/lua/shared.lua): per country, each real number's count of
DIDs held and each shared DID's count of parties, the holdings now, and in the pool figures by hour
(`Keys.capacity`) the peaks `k-{country}`, `held-{country}` and `dids-{country}` (DIDs in shared use). A peak can
only rise when a shared session opens, which is when it is noted, so the window's largest is the largest noted,
or today's when higher.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from routing.number_mode import number_settings
from routing.store import Store

BUSIEST = 5  # the DIDs listed per country, most parties first


@dataclass(frozen=True)
class BusyNumber:
    """A shared DID and the parties holding it (sessions open or cooling off)."""

    number: str
    parties: int


@dataclass(frozen=True)
class SharedCountry:
    """One country's shared use: its DIDs held, those in shared use (now and the window's peak), k (now and peak),
    the holdings (now and peak), the busiest DIDs, and the cap a DID has."""

    country: str
    numbers: int
    in_shared_use: int  # held by parties of sessions open or cooling off
    peak_in_shared_use: int
    largest_k: int
    peak_k: int
    holdings: int
    peak_holdings: int
    busiest: tuple[BusyNumber, ...]
    parties_per_number: int
    with_open_sessions: int = 0  # of `in_shared_use`, those carrying an open session (the rest cool off)

    @property
    def numbers_required(self) -> int:
        """Return 2k − 1 for the window's peak k: the DIDs no pair can run out of (0 without shared sessions)."""
        return 2 * self.peak_k - 1 if self.peak_k else 0

    @property
    def parties_when_full(self) -> int:
        """Return the parties a full DID holds: the largest even number at most `parties_per_number`, since a DID
        takes parties in pairs and only while both fit."""
        return self.parties_per_number - self.parties_per_number % 2

    @property
    def numbers_recommended(self) -> int:
        """Return `numbers_required` and one DID per `parties_when_full` holdings at the peak (full DIDs take no
        one), 0 without shared sessions."""
        if not self.peak_k:
            return 0
        return self.numbers_required + self.peak_holdings // self.parties_when_full

    @property
    def short_by(self) -> int:
        """Return how many DIDs the country lacks for `numbers_recommended` (0 when it has enough)."""
        return max(self.numbers_recommended - self.numbers, 0)


def shared_countries(
    store: Store, auth_id: str, countries: Iterable[str], hours: Iterable[Mapping[str, int]]
) -> tuple[SharedCountry, ...]:
    """Return the shared use of each of `countries` that has any now or had any in `hours` (the window's figures
    by hour, as `routing.capacity` reads them), sorted by country. One round trip."""
    listed = sorted(countries)
    peaks: dict[str, int] = {}
    for figures in hours:
        for name, value in figures.items():
            if name.startswith(("k-", "held-", "dids-")):
                peaks[name] = max(peaks.get(name, 0), value)
    keys = store.keys
    with store.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.shared_figures(auth_id))
        for country in listed:
            pipe.zrevrange(keys.dids_held(auth_id, country), 0, 0, withscores=True)
            pipe.zrevrange(keys.shared(auth_id, country), 0, BUSIEST - 1, withscores=True)
            pipe.zcard(keys.shared(auth_id, country))
            pipe.scard(keys.numbers_in(auth_id, country))
            pipe.scard(keys.shared_live(auth_id, country))
        held_now, *rest = pipe.execute()
    cap = number_settings(store, auth_id).parties_per_number
    found = []
    for i, country in enumerate(listed):
        top_k, busiest, in_use, numbers, with_open = rest[5 * i : 5 * i + 5]
        largest_k = int(top_k[0][1]) if top_k else 0
        holdings = max(int(held_now.get(country, 0)), 0)
        peak_k = max(peaks.get(f"k-{country}", 0), largest_k)
        if not peak_k and not in_use:
            continue
        found.append(
            SharedCountry(
                country=country,
                numbers=numbers,
                in_shared_use=in_use,
                peak_in_shared_use=max(peaks.get(f"dids-{country}", 0), in_use),
                largest_k=largest_k,
                peak_k=peak_k,
                holdings=holdings,
                peak_holdings=max(peaks.get(f"held-{country}", 0), holdings),
                busiest=tuple(BusyNumber(str(number), int(parties)) for number, parties in busiest),
                parties_per_number=cap,
                with_open_sessions=with_open,
            )
        )
    return tuple(found)
