"""How many wrong PINs a session takes, whatever number or call they come from, and the lockout after the last.

A call ends after `pin_retry` wrong PINs, but that bounds one call only: caller ID is forgeable, so a guesser
can call again and again from changing numbers. The bound that holds is the session's: each wrong PIN keyed on
any of its calls is counted against one budget, `guesses` per `window` seconds, kept in Redis so that every web
process agrees. The budget is GCRA (as `routing.rate_limit`'s): `guesses` at once, then one more every
`window / guesses` seconds. The wrong PIN that leaves no room for another locks the session's PIN entry for
`lockout` seconds (longer if the budget needs longer to have room again): while it is locked no PIN is compared,
the right one included, a caller who would be asked for one hears that PIN entry is locked and is hung up on,
and the tenant hears of the lock once, as a `SessionPinAuthenticationStatus` event with
`PinAuthenticationStatus` `locked` and `PinLockedUntil`. An empty entry (the caller keyed nothing) is not a guess
and is not counted; the session's parties calling from their own numbers are never asked for a PIN unless the
session forces one, so the lock does not keep them from each other.

On a shared DID (`routing.number_mode`) a stranger's PIN names the session among all the DID's, so each guess there
aims at every PIN on the DID at once: those wrong PINs count against the DID's own budget, of the same size, and
its lock stops every stranger's PIN entry on the DID (the parties calling from their own numbers still reach
their sessions). No session hears of them: they were no session's calls.

The steps run in Redis (routing/lua/pin_guesses.lua), inside the scripts of a call's steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing import rate_limit
from routing.clock import US

# The defaults of MASQ_PIN_GUESSES, MASQ_PIN_WINDOW and MASQ_PIN_LOCKOUT (see `routing.settings`): two calls'
# worth of a party's mistakes (`pin_retry` is at most 5), and at most about ten guesses an hour.
GUESSES = 10
WINDOW = 3600.0
LOCKOUT = 3600.0


@dataclass(frozen=True)
class PinBudget:
    """Wrong PINs a session takes: `guesses` per `window` s (no bound when either is 0), then `lockout` s locked."""

    guesses: int = GUESSES
    window: float = WINDOW
    lockout: float = LOCKOUT

    def script_args(self) -> tuple[int, int, int]:
        """Return GCRA's interval and tolerance and the lockout, in µs, as pin_check.lua takes them (0s: no bound)."""
        spacing = rate_limit.spacing(self.guesses, self.window)
        if spacing is None:
            return 0, 0, 0
        interval, tolerance = spacing
        return interval, tolerance, max(0, round(self.lockout * US))


DEFAULT_BUDGET = PinBudget()
