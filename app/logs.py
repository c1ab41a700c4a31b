"""Logs as JSON lines on stderr, for the web app and the worker, with one access line per HTTP request.

What is written is chosen field by field: never a request's body or headers. As a safety net the formatter
also masks anything shaped like a phone number (`+14155****34`) and blanks anything shaped like a credential,
in the message, the traceback and every extra field.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Request, has_request_context, request

from routing.phone import mask

# E.164 with its `+` (or `%2B`), and 10 to 15 bare digits as Plivo writes parties; not digits inside an id
# (a CallSid, a uuid's last group, a decimal) nor part of a longer run (a time in µs).
PHONE = re.compile(r"(?<![\w+])(?:\+|%2[Bb])[1-9]\d{6,14}(?!\d)|(?<![\w.+%-])[1-9]\d{9,14}(?![\w-]|\.\d)")
# masq's API keys and auth tokens, and credentials as an Authorization header carries them.
CREDENTIAL = re.compile(
    r"\bmk_[A-Za-z0-9]+_[\w-]+|\b(?:Basic|Bearer)\s+[\w+/=.~-]{8,}"
    r"|(?<![\w-])[A-Za-z0-9]{40}(?![\w-])"
)
# An extra field named like one of these is never written, whatever it holds.
SECRET_NAME = re.compile(r"token|key|secret|passw|pin|authorization|signature|cookie|credential", re.IGNORECASE)
REDACTED = "[redacted]"
# Libraries whose INFO lines would repeat the access line or spell out each REST call.
QUIET = ("werkzeug", "twilio.http_client")
GIVEN_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # an X-Request-Id masq keeps
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

access_log = logging.getLogger("masq.access")
LOGGED_PATH = 256  # characters of a request's path its access line keeps (a refused one's may be 8 KB)
# Where a request's id and its tenant's auth_id are kept in the WSGI environ, for every line logged about it.
REQUEST_ID = "masq.request_id"  # set by app.edge for every request
AUTH_ID = "masq.auth_id"  # set by app.auth once the request's credential checked out


# What a phone number or a credential needs: a run of 7 digits, `mk_`, `Basic`/`Bearer`, an escaped `+`, or a run
# of 40 letters and digits. Most log text has none of them, and skips the two substitutions.
_RISKY = re.compile(r"\d{7}|mk_|Basic|Bearer|%2[Bb]|[A-Za-z0-9]{40}")


def scrub(text: str) -> str:
    """Return `text` with phone numbers masked and credentials blanked."""
    # One word of ASCII letters and digits, not all digits and shorter than a token, can be neither: a phone number
    # in it would touch a letter, and a credential is longer. Most ids (a CallSid, a request id) are such words.
    if len(text) < 40 and text.isascii() and text.isalnum() and not text.isdigit():
        return text
    if not _RISKY.search(text):
        return text
    return CREDENTIAL.sub(REDACTED, PHONE.sub(lambda m: mask(m.group()), text))


# Whether each field name seen so far is a secret's: a few dozen names, looked up for every field of every line.
_SECRET_NAMES: dict[str, bool] = {}


def secret_name(name: str) -> bool:
    """Return whether an extra field named `name` must never be written."""
    secret = _SECRET_NAMES.get(name)
    if secret is None:
        secret = SECRET_NAME.search(name) is not None
        if len(_SECRET_NAMES) < 1024:
            _SECRET_NAMES[name] = secret
    return secret


def clean(name: str, value: Any) -> Any:
    """Return an extra field's value as it may be written."""
    if secret_name(name):
        return REDACTED
    if type(value) is str:  # most fields: checked first
        return scrub(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        # A phone number has at least 7 digits: a status or a count is written as it is.
        return scrub(str(value)) if abs(value) >= 1_000_000 and PHONE.fullmatch(str(value)) else value
    if isinstance(value, dict):
        return {str(k): clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean(name, v) for v in value]
    return scrub(str(value))


# The second a line's time stamp falls in, formatted once: every line of a busy second shares it.
_second: tuple[int, str] = (-1, "")


def timestamp(created: float) -> str:
    """Return `created` (epoch seconds) as ISO 8601 UTC to the millisecond: `2026-11-23T17:10:44.463Z`."""
    global _second
    second, millis = divmod(int(created * 1000), 1000)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{millis:03d}Z"


# `json.dumps(..., default=str)` builds an encoder on every call; this is the same encoder, built once.
_ENCODER = json.JSONEncoder(default=str)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: `ts`, `level`, `logger`, `message`, then the request's id and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if "request_id" not in record.__dict__ and has_request_context():
            environ = request.environ
            line.update(request_id=environ.get(REQUEST_ID), auth_id=environ.get(AUTH_ID))
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = clean(name, value)
        if record.exc_info:
            line["exc"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = scrub(self.formatStack(record.stack_info))
        return _ENCODER.encode({k: v for k, v in line.items() if v is not None and v != ""})


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stderr` as it is at each line, so a swapped stream (a test's, the CLI runner's) is used."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str | int = "INFO") -> None:
    """Send every log line to stderr as JSON; calling it again changes only the level."""
    root = logging.getLogger()
    if not any(isinstance(handler, StderrHandler) for handler in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def request_ids() -> dict[str, str]:
    """Return the tenant, call and session the current request names, as log fields (see `ids_of`)."""
    return ids_of(request, request.environ.get(AUTH_ID, ""))


def ids_of(asked: Request, auth_id: str) -> dict[str, str]:
    """Return the tenant, call and session request `asked` names, as log fields; `auth_id` is who sent it, if known.

    The carrier's form counts only if it was already read: reading it here could fail (a body too large) or
    wait on the client.
    """
    args = asked.args if asked.query_string else {}  # a MultiDict's `get` of a missing name raises and catches
    form = asked.__dict__.get("form") or {}  # werkzeug keeps a form it has read there
    return ids_from(args, asked.view_args or {}, form, auth_id)


def ids_from(args: Mapping[str, str], path: Mapping[str, Any], form: Mapping[str, str], auth_id: str) -> dict[str, str]:
    """Return the tenant, call and session a request names, as log fields of at most 64 characters each.

    From the authenticated tenant's `auth_id`, else the call step's URL (`args` `t`, `c`, `s`), the `path`'s
    session, and the carrier's `form` (its `CallSid`).
    """
    fields = {
        "auth_id": auth_id or args.get("t", ""),
        "call_sid": args.get("c") or form.get("CallSid", ""),
        "session_uuid": path.get("session_uuid") or path.get("session_id") or args.get("s", ""),
    }
    return {name: str(value)[:64] for name, value in fields.items() if value}


def init_app(app: Flask) -> None:
    """Configure logging at MASQ_LOG_LEVEL (the access line is `app.edge`'s)."""
    configure_logging(app.config.get("MASQ_LOG_LEVEL") or "INFO")


def request_id_from(given: str) -> str:
    """Return the client's X-Request-Id when it is a plain token (a load balancer's), else a new one."""
    return given if GIVEN_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def write_access_line(
    method: str, path: str, status: int, started: float | None, fields: Mapping[str, str | None]
) -> None:
    """Write the access line of one request that began at `started` (`time.perf_counter()`).

    `fields` are the request's ids (`request_ids()`, or what a handler outside Flask knows of them).
    """
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration = round((time.perf_counter() - started) * 1000, 2) if started is not None else None
    extra = {**fields, "method": method, "path": path[:LOGGED_PATH], "status": status, "duration_ms": duration}
    # Built and handed to the handlers directly: `Logger.info` would also walk the stack to find its caller,
    # which an access line never shows.
    record = access_log.makeRecord(
        access_log.name, logging.INFO, "", 0, "%s %s %d", (method, path, status), None, extra=extra
    )
    access_log.handle(record)
