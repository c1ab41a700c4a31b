"""Every error the domain raises, under one base.

RoutingError
├── InvalidInput        a field is missing or out of bounds (names the field)
├── NotFound            no such tenant, session or number for this tenant
├── Conflict            the request is valid but the state forbids it
│   ├── NumberUnavailable   a specific number is taken, cooling, suspended or not in the pool
│   ├── PinUnavailable      a PIN given is one a session on the shared number has (names the field)
│   ├── PoolExhausted       no free number fits the request
│   └── SessionEnded        the session has already ended (on request, or at its expiry time)
├── RateLimited         the tenant is over its request rate limit (says when to retry)
│   └── TooManyFailedLogins the client has failed to log in too often; its credential was not checked
└── Unauthenticated     credentials missing or wrong
"""

from __future__ import annotations


class RoutingError(Exception):
    """Base of every domain error; its message is safe to show to the tenant."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(RoutingError):
    """A field is missing, malformed or out of bounds."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(RoutingError):
    """The thing does not exist, or belongs to someone else (indistinguishable on purpose)."""


class Conflict(RoutingError):
    """The request is well formed but the current state forbids it."""


class NumberUnavailable(Conflict):
    """A specifically requested number cannot be handed out now."""


class PinUnavailable(Conflict):
    """A PIN given for a session on a shared number is one another session there has (open or cooling off): on a
    shared number the PIN names the session, so no two of its sessions may have one PIN."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class PoolExhausted(Conflict):
    """No free number in the tenant's pool fits the request."""


class SessionEnded(Conflict):
    """The session has already ended, so it can be neither changed nor ended again.

    Its status reads `expired` however it ended (Plivo's word); `by_request` says whether a request ended it (a
    DELETE or a complete) rather than its expiry time, for a dialect that calls that end something else.
    """

    def __init__(self, session_uuid: str, by_request: bool, refused: str = "") -> None:
        cause = "ended by a request" if by_request else "its expiry time passed"
        super().__init__(
            f"session {session_uuid} has expired ({cause}) and {refused}"
            if refused
            else f"session {session_uuid} has already expired ({cause})"
        )
        self.session_uuid = session_uuid
        self.by_request = by_request


class RateLimited(RoutingError):
    """The tenant has sent more requests than its rate limit allows; the next may go in `retry_after` seconds."""

    def __init__(self, retry_after: int, message: str = "") -> None:
        super().__init__(message or f"too many requests; retry after {retry_after} s")
        self.retry_after = retry_after


class TooManyFailedLogins(RateLimited):
    """Too many failed logins from the client's address (or at the account it tries): the credential was not
    checked; the next try is checked in `retry_after` seconds."""


class Unauthenticated(RoutingError):
    """Credentials are missing or wrong."""
