"""Settings and connections: the environment read into settings, and the clients built from them.

The web app (into `app.config`), the workers and the CLI all read their settings and make their connections
here. An empty REDIS_URL means "masq's embedded Redis": only the app and the CLI start that one, and they
put its URL in the settings they hand on, so everything built here connects to a configured URL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import redis
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from routing import logins
from routing.calls import pin_guesses, reconcile
from routing.clock import US
from routing.keys import DEFAULT_PREFIX
from routing.store import REDIS_TIMEOUT, Store, cluster_nodes

# Seconds the Twilio REST client waits for an answer (twilio-python waits forever unless told).
TWILIO_TIMEOUT = 10.0
# The web process (`masq web`, see `app.asgi`): the seconds a client has to send a request's line and headers
# (then its connection is closed, as is a kept-alive one left idle as long), then the seconds it has to send the
# body (then a 408); and the Python threads of each process that run the app on whole requests.
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 10.0
WEB_THREADS = 4
# The secrets masq is given (the bearer token /metrics asks for, the operator's token, the console's signing key):
# RFC 6750's b64token characters, long enough that guessing is hopeless (`openssl rand -hex 32` gives 64).
TOKEN = re.compile(r"[A-Za-z0-9._~+/-]{32,512}=*")
# Why the job queue needs a plain Redis, said in every refusal of a clustered one.
NO_RQ_ON_CLUSTER = "a Redis Cluster, where the job queue (RQ) does not run: its commands span several slots"


def _flag(environ: Mapping[str, str], name: str, default: str = "0") -> bool:
    return environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the settings `environ` (default: the process's environment) gives, with masq's defaults for the rest."""
    env = os.environ if environ is None else environ
    redis_url = env.get("REDIS_URL", "")
    return {
        # Empty REDIS_URL: masq starts (or reuses) its embedded Redis, keeping data under MASQ_DATA_DIR.
        "REDIS_URL": redis_url,
        # Empty: the job queue lives on the store's own Redis, which cannot be a Redis Cluster (see `queue_url`).
        "QUEUE_REDIS_URL": env.get("QUEUE_REDIS_URL", ""),
        # Seconds a Redis node may take to accept a connection or answer a command before it fails (see
        # `routing.store.REDIS_TIMEOUT`): a hung node then costs a request a 503 or an apology, not its thread.
        "MASQ_REDIS_TIMEOUT": float(env.get("MASQ_REDIS_TIMEOUT") or REDIS_TIMEOUT),
        "MASQ_QUEUE": env.get("MASQ_QUEUE", "masq"),
        "MASQ_KEY_PREFIX": env.get("MASQ_KEY_PREFIX", DEFAULT_PREFIX),
        "MASQ_DATA_DIR": env.get("MASQ_DATA_DIR", os.path.join(os.getcwd(), "var")),
        "MASQ_EMBEDDED_REDIS_PORT": int(env.get("MASQ_EMBEDDED_REDIS_PORT", "6390")),
        "MASQ_PUBLIC_URL": env.get("MASQ_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/"),
        "TWILIO_ACCOUNT_SID": env.get("TWILIO_ACCOUNT_SID", ""),
        "TWILIO_AUTH_TOKEN": env.get("TWILIO_AUTH_TOKEN", ""),
        # Where the Twilio REST client sends its requests instead of https://api.twilio.com (a loopback fake in
        # tests, or an egress proxy); empty for Twilio itself.
        "TWILIO_API_BASE_URL": env.get("TWILIO_API_BASE_URL", "").rstrip("/"),
        # Seconds the Twilio REST client waits for an answer.
        "MASQ_TWILIO_TIMEOUT": float(env.get("MASQ_TWILIO_TIMEOUT") or TWILIO_TIMEOUT),
        # Seconds a live call goes unheard of before the worker asks the carrier about it.
        "MASQ_RECONCILE_QUIET": float(env.get("MASQ_RECONCILE_QUIET") or reconcile.QUIET / US),
        # Development only: accept carrier webhooks without a valid X-Twilio-Signature.
        "MASQ_SKIP_TWILIO_SIGNATURE": _flag(env, "MASQ_SKIP_TWILIO_SIGNATURE"),
        "MASQ_ALLOW_PRIVATE_CALLBACKS": _flag(env, "MASQ_ALLOW_PRIVATE_CALLBACKS"),
        # Seconds between callback retries, comma-separated (default: 10 s growing to 8 h, 25 h in all).
        "MASQ_CALLBACK_BACKOFF": env.get("MASQ_CALLBACK_BACKOFF", ""),
        # How long a worker may hold an event silently before another takes it over (a killed worker).
        "MASQ_CALLBACK_CLAIM_IDLE_MS": env.get("MASQ_CALLBACK_CLAIM_IDLE_MS", ""),
        # Callbacks a worker has in flight to one endpoint (scheme, host, port) at once; the rest wait in its lane.
        "MASQ_CALLBACK_PER_ENDPOINT": env.get("MASQ_CALLBACK_PER_ENDPOINT", ""),
        # Flask's name for the largest request body the app reads.
        "MAX_CONTENT_LENGTH": int(env.get("MASQ_MAX_BODY_BYTES", str(64 * 1024))),
        # The web process's slow-client timeouts, in seconds, and its Python threads per process.
        "MASQ_HEADER_TIMEOUT": float(env.get("MASQ_HEADER_TIMEOUT") or HEADER_TIMEOUT),
        "MASQ_BODY_TIMEOUT": float(env.get("MASQ_BODY_TIMEOUT") or BODY_TIMEOUT),
        "WEB_THREADS": int(env.get("WEB_THREADS") or WEB_THREADS),
        # Requests each tenant may make on the REST APIs per window of seconds (0: no limit); carrier webhooks
        # are never limited.
        "MASQ_RATE_LIMIT": int(env.get("MASQ_RATE_LIMIT", "100")),
        "MASQ_RATE_WINDOW": float(env.get("MASQ_RATE_WINDOW", "1")),
        # Failed logins to the REST APIs a client address may make per window of seconds, at one account and over
        # all of them (0: no bound), and those an account takes from every address in the window before the
        # addresses that failed there wait too (0: no account bound); see `routing.logins`.
        "MASQ_LOGIN_FAILURES": int(env.get("MASQ_LOGIN_FAILURES") or logins.FAILURES),
        "MASQ_LOGIN_WINDOW": float(env.get("MASQ_LOGIN_WINDOW") or logins.WINDOW),
        "MASQ_ACCOUNT_LOGIN_FAILURES": int(env.get("MASQ_ACCOUNT_LOGIN_FAILURES") or logins.ACCOUNT_FAILURES),
        # Wrong PINs each session takes per window of seconds, from any number on any of its calls (0: no bound),
        # and the seconds its PIN entry stays locked once they are spent (see `routing.calls.pin_guesses`).
        "MASQ_PIN_GUESSES": int(env.get("MASQ_PIN_GUESSES") or pin_guesses.GUESSES),
        "MASQ_PIN_WINDOW": float(env.get("MASQ_PIN_WINDOW") or pin_guesses.WINDOW),
        "MASQ_PIN_LOCKOUT": float(env.get("MASQ_PIN_LOCKOUT") or pin_guesses.LOCKOUT),
        "MASQ_LOG_LEVEL": env.get("MASQ_LOG_LEVEL", "INFO").strip().upper(),
        # The bearer token a scraper sends for /metrics; empty: /metrics answers no one (see `metrics_token`).
        "MASQ_METRICS_TOKEN": env.get("MASQ_METRICS_TOKEN", "").strip(),
        # The token an operator logs in to the console with, to see every tenant; empty: no operator login.
        "MASQ_OPERATOR_TOKEN": env.get("MASQ_OPERATOR_TOKEN", "").strip(),
        # The key that signs the console's session cookies, the same in every web process (see `secret_key`);
        # empty: one made once and kept in MASQ_DATA_DIR (one host only).
        "MASQ_SECRET_KEY": env.get("MASQ_SECRET_KEY", "").strip(),
    }


def metrics_token(settings: Mapping[str, Any]) -> str:
    """Return MASQ_METRICS_TOKEN, "" when unset; raise ValueError when it is not 32 to 512 b64token characters.

    The shape is RFC 6750's `b64token`, what an `Authorization: Bearer` header can carry.
    """
    return _token(settings, "MASQ_METRICS_TOKEN")


def operator_token(settings: Mapping[str, Any]) -> str:
    """Return MASQ_OPERATOR_TOKEN, "" when unset; raise ValueError when it is not 32 to 512 b64token characters."""
    return _token(settings, "MASQ_OPERATOR_TOKEN")


def secret_key(settings: Mapping[str, Any]) -> str:
    """Return MASQ_SECRET_KEY, "" when unset; raise ValueError when it is not 32 to 512 b64token characters."""
    return _token(settings, "MASQ_SECRET_KEY")


def _token(settings: Mapping[str, Any], name: str) -> str:
    """Return the setting `name`, "" when unset; raise ValueError unless it is 32 to 512 b64token characters."""
    token = str(settings.get(name) or "")
    if token and not TOKEN.fullmatch(token):
        raise ValueError(
            f"{name} must be 32 to 512 characters of A-Z a-z 0-9 . _ ~ + / - (e.g. `openssl rand -hex 32`)"
        )
    return token


def connect_store(settings: Mapping[str, Any]) -> Store:
    """Return the store on REDIS_URL under MASQ_KEY_PREFIX, its commands bounded by MASQ_REDIS_TIMEOUT seconds;
    raise ValueError when REDIS_URL is empty, cannot be read or is a plain URL naming a cluster node (`check_store`).
    """
    url = settings.get("REDIS_URL") or ""
    if not url:
        raise ValueError("REDIS_URL is empty: start masq's embedded Redis first, or set REDIS_URL")
    check_store(settings)
    return Store.connect(str(url), settings.get("MASQ_KEY_PREFIX", DEFAULT_PREFIX), redis_timeout(settings))


def redis_timeout(settings: Mapping[str, Any]) -> float:
    """Return MASQ_REDIS_TIMEOUT: the seconds a Redis node may take to connect or to answer a command."""
    return float(settings.get("MASQ_REDIS_TIMEOUT") or REDIS_TIMEOUT)


def queue_url(settings: Mapping[str, Any]) -> str:
    """Return QUEUE_REDIS_URL, "" for the store's own Redis; raise ValueError when the queue would be on a Redis
    Cluster (QUEUE_REDIS_URL names one, or is unset while REDIS_URL names one: RQ does not run on a cluster), or
    when either URL cannot be read."""
    url, store_url = str(settings.get("QUEUE_REDIS_URL") or ""), str(settings.get("REDIS_URL") or "")
    store_on_cluster = bool(store_url) and cluster_nodes(store_url) is not None  # a bad REDIS_URL is told here too
    if url and cluster_nodes(url, "QUEUE_REDIS_URL") is not None:
        raise ValueError(f"QUEUE_REDIS_URL names {NO_RQ_ON_CLUSTER}; give the queue a plain Redis (redis://…)")
    if not url and store_on_cluster:
        raise ValueError(f"REDIS_URL names {NO_RQ_ON_CLUSTER}; set QUEUE_REDIS_URL to a plain Redis (redis://…)")
    return url


def check_store(settings: Mapping[str, Any]) -> None:
    """Raise ValueError when REDIS_URL is a plain URL (`redis://`) naming a node of a Redis Cluster, whose
    `INFO cluster` says `cluster_enabled:1`: masq would reach only that node's slots and fail with MOVED everywhere
    else. A server that does not answer is not refused here: `/readyz` and the worker's log say so once they run."""
    url = str(settings.get("REDIS_URL") or "")
    if url and cluster_nodes(url) is None and _names_a_cluster_node(url, redis_timeout(settings)):
        raise ValueError(
            "REDIS_URL names a node of a Redis Cluster; name the cluster as redis+cluster://host:port[,host:port…]"
        )


def check_queue(settings: Mapping[str, Any]) -> None:
    """Raise ValueError when the job queue would be on a Redis Cluster: named as one (see `queue_url`), or a plain
    URL (QUEUE_REDIS_URL, else REDIS_URL) naming a node of one, where RQ's commands would fail with MOVED (see
    `check_store`). A server that does not answer is not refused here. An empty REDIS_URL (the embedded Redis) is
    not asked."""
    url = queue_url(settings)
    setting = "QUEUE_REDIS_URL" if url else "REDIS_URL"
    url = url or str(settings.get("REDIS_URL") or "")
    if url and _names_a_cluster_node(url, redis_timeout(settings)):
        fix = "" if setting == "QUEUE_REDIS_URL" else "name the cluster as redis+cluster://… and "
        raise ValueError(f"{setting} names a node of {NO_RQ_ON_CLUSTER}; {fix}give the queue a plain Redis (redis://…)")


def _names_a_cluster_node(url: str, timeout: float) -> bool:
    """Return whether the single server's `url` answers `INFO cluster` with `cluster_enabled:1` (False when it does
    not answer)."""
    try:
        with redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout) as client:
            return str(client.info("cluster").get("cluster_enabled", 0)) == "1"
    except redis.RedisError:
        return False


def queue_connection(store: Store, url: str = "", timeout: float = REDIS_TIMEOUT, waits: bool = False) -> redis.Redis:
    """Return RQ's connection to `url` (QUEUE_REDIS_URL), else to the store's server: RQ wants bytes, not text.

    Connecting fails after `timeout` seconds (MASQ_REDIS_TIMEOUT, see `redis_timeout`), and so does a command,
    unless the connection `waits`: a worker's RQ waits on the queue with BLPOP for minutes and gives its connection
    a longer bound of its own (rq's `Worker._set_connection`). Raise ValueError when the queue would be on a Redis
    Cluster (see `queue_url`).
    """
    limits = {"socket_timeout": None if waits else timeout, "socket_connect_timeout": timeout}
    if url:
        return redis.Redis.from_url(queue_url({"QUEUE_REDIS_URL": url}), **limits)
    if store.is_cluster:
        raise ValueError(f"the store is {NO_RQ_ON_CLUSTER}; set QUEUE_REDIS_URL to a plain Redis (redis://…)")
    pool = store.redis.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False, **limits}
    return redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))


def has_carrier(settings: Mapping[str, Any]) -> bool:
    """Return whether the settings name a carrier account masq can ask (an account sid and its auth token)."""
    return bool(settings.get("TWILIO_ACCOUNT_SID") and settings.get("TWILIO_AUTH_TOKEN"))


def pin_budget(settings: Mapping[str, Any]) -> pin_guesses.PinBudget:
    """Return the wrong PINs each session takes: MASQ_PIN_GUESSES per MASQ_PIN_WINDOW s, then MASQ_PIN_LOCKOUT s."""
    return pin_guesses.PinBudget(
        int(settings["MASQ_PIN_GUESSES"]), float(settings["MASQ_PIN_WINDOW"]), float(settings["MASQ_PIN_LOCKOUT"])
    )


def login_budget(settings: Mapping[str, Any]) -> logins.LoginBudget:
    """Return the failed logins a client may make: MASQ_LOGIN_FAILURES per MASQ_LOGIN_WINDOW s from one address,
    and MASQ_ACCOUNT_LOGIN_FAILURES per MASQ_LOGIN_WINDOW s at one account."""
    return logins.LoginBudget(
        int(settings["MASQ_LOGIN_FAILURES"]),
        float(settings["MASQ_LOGIN_WINDOW"]),
        int(settings["MASQ_ACCOUNT_LOGIN_FAILURES"]),
    )


def twilio_client(settings: Mapping[str, Any]) -> Client:
    """Return a Twilio REST client with a bounded HTTP timeout, sending to TWILIO_API_BASE_URL when set."""
    client = Client(
        settings["TWILIO_ACCOUNT_SID"],
        settings["TWILIO_AUTH_TOKEN"],
        http_client=TwilioHttpClient(timeout=float(settings.get("MASQ_TWILIO_TIMEOUT", TWILIO_TIMEOUT))),
    )
    if settings.get("TWILIO_API_BASE_URL"):
        client.api.base_url = settings["TWILIO_API_BASE_URL"]
    return client
