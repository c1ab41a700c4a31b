"""Why a create found no virtual number, in the words of its 409.

pool.lua's `exhausted` counts what each number the create could have taken is doing, each number once: in use,
cooling off or suspended (a suspended number counts as suspended whatever else it does). For a shared create,
shared.lua's `shared_shortage` counts the numbers in shared use instead: held by both parties, full, or held by one
of them. The words name the party that has no number left when the parties' own holdings are why, and say how to
get a number: add one, or turn geomatch off when another country has one to give.
"""

from __future__ import annotations

from routing.lua import Reply

# What a number may be doing, in the order a refusal lists them, and the words for it.
STATES = (
    ("first", "already first_party's"),
    ("second", "already second_party's"),
    ("both", "already both parties'"),
    ("in_use", "in use"),
    ("cooling", "cooling off"),
    ("suspended", "suspended"),
    ("full", "full"),
)
SIZING = (
    "a party holds a number while a session of theirs on it is open or cooling off, so someone in k sessions at "
    "once needs 2k − 1 numbers to share"
)


def shortage(reply: Reply, country: str, geomatch: bool) -> str:
    """Return why the allocation's `exhausted` `reply` found no number for a session whose first party is in
    `country`: none held where one must be, or what each held one is doing, and what would help."""
    counts = {name: int(reply.get(name, 0)) for name, _ in STATES}
    held, shared = int(reply["held"]), bool(reply.get("shared"))
    where = f" in {country}" if geomatch else ""
    elsewhere = _either([str(c) for c in reply.get("free_elsewhere") or []]) if geomatch else ""
    switch = (
        f"set geomatch to false to take a {'number' if shared else 'free number'} from {elsewhere}" if elsewhere else ""
    )
    if held == 0:
        if not geomatch:
            return "no virtual number: the pool has no numbers"
        advice = f"add one, or {switch}" if switch else "add one (no other country has a free number either)"
        return (
            f"no virtual number in {country}: the pool has no number in {country}, and geomatch asks for one "
            f"in first_party's country; {advice}"
        )
    states = _either([f"{words} ({counts[name]})" for name, words in STATES if counts[name] > 0]) or "taken"
    held_there = (
        f"the pool's {held} number{where} is {states}"
        if held == 1
        else f"the pool's {held} numbers{where} are {states}"
    )
    holding = counts["first"] + counts["second"] + counts["both"] > 0
    hints = []
    if counts["full"]:
        hints.append(f"a full number has no room for two more parties under the cap of {int(reply['cap'])}")
    if holding:
        hints.append(SIZING)
    if counts["full"] or holding:
        hints.append("add numbers" + (f", or {switch}" if switch else ""))
    elif switch:
        hints.append(switch)
    return f"{_head(counts, where, holding)}: {held_there}" + "".join(f"; {hint}" for hint in hints)


def _head(counts: dict[str, int], where: str, holding: bool) -> str:
    """Return what the refusal says first: that no number is free, or which party has none left (every number is
    theirs, or one it cannot take otherwise), or that each party could take one but not one both can."""
    if not holding:
        return f"no free virtual number{where}"
    # A party can take only the numbers the other party holds alone and that have room.
    out = [party for party, other in (("first_party", "second"), ("second_party", "first")) if counts[other] == 0]
    if out:
        return f"no virtual number{where} left for {' or '.join(out)}"
    return f"no virtual number{where} that both parties can take"


def _either(words: list[str]) -> str:
    """Return `a`, `a or b`, `a, b or c`."""
    return " or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)
