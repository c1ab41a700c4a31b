"""Shared virtual numbers against exclusive ones, in the same run: the inbound webhook, the create, and a day's DIDs.

One masq web process (as the Procfile serves it) and two tenants, one per number mode, each with sessions of
distinct parties: a DID each for the exclusive tenant, SESSIONS_PER_DID to a DID for the shared one. The loads take
turns, exclusive then shared, the order swapped each round, and the best round of each is kept (`webhook.load`,
the webhook figure's own wrk script); the two differ by a few commands in Redis, less than the noise of one
round. Creates give every request parties of its own (create.lua's numbering), as trips do: a shared create
then takes the fullest DID neither party holds. The round trips of a call to a shared DID are counted as the
webhook figure counts them. Then a ride-hailing day (`bench.ride_day`) runs through the allocation script in both
modes.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import create, ride_day, webhook
from bench.common import Figure, WrkResult, procfile_web, ratio
from routing.number_mode import EXCLUSIVE, SHARED

MODES = (EXCLUSIVE, SHARED)
# More and shorter rounds than the webhook figure's: the two modes differ little, so the best of each must be steady.
ROUNDS = {False: 5, True: 3}
ROUND_SECONDS = {False: 3.0, True: 1.5}
PROBE = 6000  # sessions for the first, calibrating, round (a second of load)
TARGET = 0.9  # shared against exclusive
HEADROOM = 1.8  # calls prepared per round, against the probe's rate


def run(workdir: Path, quick: bool, redis_url: str) -> list[Figure]:
    """Return the shared-against-exclusive figures: webhook and create requests/s, round trips, a day's DIDs."""
    seconds, rounds = ROUND_SECONDS[quick], ROUNDS[quick]
    calls: dict[str, list[tuple[str, str]]] = {}
    inbound: dict[str, list[WrkResult]] = {mode: [] for mode in MODES}
    creates: dict[str, list[WrkResult]] = {mode: [] for mode in MODES}
    with procfile_web(webhook.masq_env(redis_url), workdir) as masq:
        probe = _signed(webhook.prepare_calls(redis_url, PROBE, EXCLUSIVE))
        webhook.warm_up(masq.url, probe[: webhook.SPARE])
        probe_file = webhook.write_calls(workdir / "shared-probe.txt", probe[webhook.SPARE :])
        # Room for a round faster than the probe (servers warm up): a call repeated past its file meets its own
        # interaction again, a cheaper answer that would flatter the round (counted, and the figure then misses).
        per_round = int(webhook.load(masq, probe_file, 1.0, 16).rps * seconds * HEADROOM) + 500
        first_did = PROBE
        creators = {}
        for mode in MODES:
            calls[mode] = webhook.prepare_calls(redis_url, per_round * rounds + webhook.SPARE, mode, start=first_did)
            first_did += len({number for _, number in calls[mode]})
            dids = per_round * rounds + 100 if mode == EXCLUSIVE else per_round * rounds // 40 + 100
            creators[mode] = create.prepare(redis_url, dids, mode, start=first_did)
            first_did += dids
        files = {
            mode: [
                webhook.write_calls(
                    workdir / f"shared-{mode}-{r}.txt",
                    _signed(calls[mode][webhook.SPARE + r * per_round : webhook.SPARE + (r + 1) * per_round]),
                )
                for r in range(rounds)
            ]
            for mode in MODES
        }
        for mode in MODES:
            webhook.warm_up(masq.url, _signed(calls[mode][: webhook.SPARE - 2]))
            creators[mode].warm_up(masq)
        for r in range(rounds):
            order = MODES if r % 2 == 0 else MODES[::-1]
            for mode in order:
                inbound[mode].append(webhook.load(masq, files[mode][r], seconds, 16, redis_url))
            for mode in order:
                creates[mode].append(creators[mode].load(masq, seconds, first=r * 500_000))
    trips = webhook.count_round_trips(redis_url, _signed(calls[SHARED][webhook.SPARE - 2 : webhook.SPARE]))
    day = ride_day.run(redis_url, quick, first_did)
    return [
        _versus("inbound webhook, shared DIDs vs exclusive, requests/s at 16 connections", inbound),
        _versus("session create, shared vs exclusive, requests/s at 16 connections", creates),
        webhook.round_trips_figure("Redis round trips before the TwiML (inbound, shared DID)", trips),
        Figure(
            f"DIDs for a day of {day.trips:,} ride-hailing trips, shared (exclusive as floor)",
            day.shared_dids,
            "DIDs",
            "fewer than exclusive",
            day.shared_dids < day.exclusive_dids,
            day.exclusive_dids,
            ratio(day.shared_dids, day.exclusive_dids),
            asdict(day),
        ),
    ]


def _signed(targets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the signed calls from each (caller, DID) of `targets`."""
    return webhook.signed_calls([number for _, number in targets], [caller for caller, _ in targets])


def _versus(name: str, runs: dict[str, list[WrkResult]]) -> Figure:
    """Return the figure of the best shared round against the best exclusive one (the floor), ≥ TARGET."""
    best = {mode: max(runs[mode], key=lambda run: run.rps) for mode in MODES}
    bad = sum(
        run.counts.get("non200", 0) + run.counts.get("unexpected", 0) + run.counts.get("repeated", 0)
        for mode in MODES
        for run in runs[mode]
    )
    value = ratio(best[SHARED].rps, best[EXCLUSIVE].rps)
    detail: dict[str, Any] = {f"{mode}_16_rounds": [run.as_dict() for run in runs[mode]] for mode in MODES}
    detail["answers_not_as_expected_or_repeated"] = bad
    detail["p99_ms"] = {mode: best[mode].p99_ms for mode in MODES}
    return Figure(
        name,
        round(best[SHARED].rps, 1),
        "req/s",
        f"≥ {TARGET}× exclusive",
        value >= TARGET and bad == 0,
        round(best[EXCLUSIVE].rps, 1),
        value,
        detail,
    )
