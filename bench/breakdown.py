"""Where a request's CPU goes: masq's WSGI app called in-process (no HTTP server), against the floor's, by step.

Process CPU time per call, after a warm-up, so that waiting for Redis is not counted but the client's work
for each round trip is. These are the numbers behind the webhook and create figures: under gunicorn every
request also pays the server's own HTTP work, which the floor measures.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from bench import fixtures, floor_app, webhook
from bench.common import PREFIX, counting_round_trips
from routing.calls import inbound, twiml
from routing.clock import now_us
from routing.store import Store


def environ(method: str, path: str, body: bytes, content_type: str, headers: dict[str, str]) -> dict[str, Any]:
    """Return a WSGI environ for one request, as gunicorn would build it."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
    }
    env.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return env


WARM_UP = 50
REPEATS = 3


def cpu_us(step: Callable[[], object], count: int) -> float:
    """Return the CPU µs one call of `step` takes: the least of REPEATS runs of `count` calls, after a warm-up.

    The least, because other work on the machine only ever adds time.
    """
    for _ in range(WARM_UP):
        step()
    best = float("inf")
    for _ in range(REPEATS):
        began = time.process_time()
        for _ in range(count):
            step()
        best = min(best, time.process_time() - began)
    return round(best / count * 1e6, 1)


def cpu_us_in_turns(
    variants: dict[str, tuple[Callable[[], object], Callable[[], Any]]], count: int
) -> dict[str, float]:
    """Return the CPU µs per call of each variant (a step, and a context to run it in), measured in turns.

    Each of REPEATS rounds runs `count` calls of every variant in turn; the least of each is kept, so that a
    burst of other work on the machine does not land on one variant only.
    """
    best = dict.fromkeys(variants, float("inf"))
    for step, context in variants.values():
        with context():
            for _ in range(WARM_UP):
                step()
    for _ in range(REPEATS):
        for name, (step, context) in variants.items():
            with context():
                began = time.process_time()
                for _ in range(count):
                    step()
                best[name] = min(best[name], time.process_time() - began)
    return {name: round(seconds / count * 1e6, 1) for name, seconds in best.items()}


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
    return None


@contextmanager
def access_log_off() -> Iterator[None]:
    """Raise the root logger above INFO for the block, as MASQ_LOG_LEVEL=WARNING would."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.setLevel(level)


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send what the app logs to nowhere while measuring (a terminal would cost more than a server's file)."""
    saved = sys.stderr
    with open("/dev/null", "w") as null:
        sys.stderr = null
        try:
            yield
        finally:
            sys.stderr = saved


def calls_needed(count: int) -> int:
    """Return how many calls (and so sessions, or free DIDs for creates) a breakdown of `count` uses."""
    return 4 * (WARM_UP + REPEATS * count) + 10


def inbound_cpu(redis_url: str, calls: list[tuple[str, str]], count: int) -> dict[str, Any]:
    """Return CPU µs per inbound call: the whole app, without the access log, the floor, and each step.

    Uses `calls_needed(count)` of the `calls`, each a new call to its own session.
    """
    from app import create_app

    app = create_app({**_config(redis_url), "MASQ_PUBLIC_URL": webhook.PUBLIC_URL, "TWILIO_AUTH_TOKEN": webhook.TOKEN})
    floor = floor_app.create_app()
    pending = iter(calls)

    def one(target: Any = app) -> bytes:
        body, signature = next(pending)
        env = environ(
            "POST", webhook.PATH, body.encode(), "application/x-www-form-urlencoded", {"X-Twilio-Signature": signature}
        )
        return b"".join(target(env, _start_response))

    with quiet_stderr():
        if b"<Dial" not in one():
            raise RuntimeError("the in-process inbound call was not bridged")
        floor_env = calls[0]
        result: dict[str, Any] = cpu_us_in_turns(
            {
                "masq_wsgi": (one, nullcontext),
                "masq_wsgi_without_access_log": (one, access_log_off),
                "floor_wsgi": (
                    lambda: b"".join(
                        floor(
                            environ(
                                "POST",
                                webhook.PATH,
                                floor_env[0].encode(),
                                "application/x-www-form-urlencoded",
                                {"X-Twilio-Signature": floor_env[1]},
                            ),
                            _start_response,
                        )
                    ),
                    nullcontext,
                ),
            },
            count,
        )

    body, signature = calls[0]
    form = MultiDict(parse_qsl(body))
    url = webhook.PUBLIC_URL + webhook.PATH
    validator = RequestValidator(webhook.TOKEN)
    store = Store.connect(redis_url, PREFIX)
    fresh = iter(dict(parse_qsl(b)) for b, _ in pending)

    def identify() -> inbound.Decision:
        fields = next(fresh)
        call = inbound.IncomingCall(fields["CallSid"], fields["From"], fields["To"])
        return inbound.identify_caller(store, call, now_us())

    def read_numbers() -> inbound.IncomingCall:
        fields = next(fresh)  # a DID not seen before, from a caller seen often: as in the load test
        return inbound.incoming_call(fields["CallSid"], fields["From"], fields["To"])

    decision = identify()
    links = app.extensions["masq.links"]
    result["steps"] = {
        "parse the form": cpu_us(lambda: _form(body), count),
        "check X-Twilio-Signature": cpu_us(lambda: validator.validate(url, form, signature), count),
        "read the numbers (phonenumbers)": cpu_us(read_numbers, count),
        "identify_caller: 2 round trips and the decision": cpu_us(identify, count),
        "render the TwiML": cpu_us(lambda: str(twiml.answer(decision, links)), count),
    }
    result["steps"]["the access log line"] = round(result["masq_wsgi"] - result["masq_wsgi_without_access_log"], 1)
    store.redis.close()
    return result


def create(redis_url: str, auth_id: str, token: str, count: int, rate_limit: int) -> dict[str, Any]:
    """Return CPU µs per session create in-process, the floor's, and the round trips one create makes."""
    from app import create_app

    app = create_app({**_config(redis_url), "MASQ_RATE_LIMIT": rate_limit})
    floor = floor_app.create_app()
    path = f"/v1/Account/{auth_id}/Masking/Session/"
    body = json.dumps(fixtures.session_request()).encode()
    headers = {"Authorization": "Basic " + base64.b64encode(f"{auth_id}:{token}".encode()).decode()}

    def one(target: Any = app) -> bytes:
        return b"".join(target(environ("POST", path, body, "application/json", headers), _start_response))

    with quiet_stderr():
        if b"Session created" not in one():
            raise RuntimeError("the in-process create did not create a session")
        with counting_round_trips() as trips:
            one()
        result: dict[str, Any] = {
            "round_trips": trips[0],
            **cpu_us_in_turns(
                {
                    "masq_wsgi": (one, nullcontext),
                    "masq_wsgi_without_access_log": (one, access_log_off),
                    "floor_wsgi": (lambda: one(floor), nullcontext),
                },
                count,
            ),
        }
    return result


def _config(redis_url: str) -> dict[str, Any]:
    return {"REDIS_URL": redis_url, "QUEUE_REDIS_URL": redis_url, "MASQ_KEY_PREFIX": PREFIX}


def _form(body: str) -> object:
    from werkzeug.wrappers import Request

    return Request(environ("POST", "/", body.encode(), "application/x-www-form-urlencoded", {})).form
