"""`python -m bench.run [--quick]`: print every figure, each as a ratio against its floor from the same run.

Each figure has its own private Redis (the webhook and create figures share one) and stops everything it
started, whatever happens. A full run writes bench/results.json; `--quick` (smaller sizes, a smoke run)
writes bench/results-quick.json, and `--only` bench/results-partial.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import allocation, cluster, deliveries, expiry, fairness, idle, memory, shared, slot, webhook
from bench.common import (
    GUNICORN_SETTINGS,
    Figure,
    ensure_wrk,
    load_average,
    private_redis,
    procfile_command,
    redis_server_binary,
    settle,
)

NAMES = (
    "webhook",
    "create",
    "allocation",
    "memory",
    "deliveries",
    "idle",
    "fairness",
    "expiry",
    "slot",
    "cluster",
    "shared",
)
HERE = Path(__file__).resolve().parent


def machine() -> dict[str, object]:
    """Return what the figures were measured on."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    redis_version = _output([redis_server_binary(), "--version"])
    wrk = shutil.which("wrk")
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "redis": redis_version.split("v=")[1].split()[0] if "v=" in redis_version else redis_version,
        "wrk": _output([wrk, "--version"]).split(" [")[0] if wrk else "",
        "kernel": platform.release(),
        "floor server": f"gunicorn {importlib.metadata.version('gunicorn')} {' '.join(GUNICORN_SETTINGS)}",
        "masq server": f"granian {importlib.metadata.version('granian')}: {procfile_command('web')}",
        "masq_revision": _revision(),
    }


def _output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _revision() -> str:
    """Return the commit measured, marked when the work tree had changes."""
    head = _output(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"])
    changed = _output(["git", "-C", str(HERE.parent), "status", "--porcelain", "--untracked-files=no"])
    return head + (" with uncommitted changes" if head and changed else "")


def table(figures: list[Figure]) -> str:
    """Return the figures as a text table."""
    rows = [("figure", "value", "floor", "ratio", "target", "result")]
    for f in figures:
        rows.append(
            (
                f.name,
                f"{_number(f.value)} {f.unit}",
                _number(f.floor) if f.floor is not None else "—",
                f"{f.ratio:.3f}" if f.ratio is not None else "—",
                f.target,
                f.result,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _number(value: float) -> str:
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"


def measure(names: list[str], quick: bool, workdir: Path, say: Callable[[str], None]) -> list[Figure]:
    """Run the selected figures; a figure that fails becomes an ERROR line, and the others still run."""
    figures: list[Figure] = []

    def attempt(name: str, step: Callable[[], list[Figure]]) -> None:
        busy = settle()
        say(f"{name}: running (machine {busy:.0%} busy before, load average {load_average():.2f})")
        began = time.monotonic()
        try:
            got = step()
        except Exception as exc:  # noqa: BLE001 - one figure's failure must not hide the others
            traceback.print_exc()
            got = [Figure(name, 0, "", "", False, detail={"error": f"{type(exc).__name__}: {exc}"})]
        for figure in got:
            figure.detail.setdefault("machine_busy_before", round(busy, 2))
        figures.extend(got)
        say(f"{name}: done in {time.monotonic() - began:.0f} s")

    if "webhook" in names or "create" in names:  # one run: they take turns with the floor
        attempt(
            "webhook, create" if "create" in names else "webhook",
            lambda: _with_redis(workdir, lambda url: webhook.run(workdir, quick, url, with_create="create" in names)),
        )
    if "allocation" in names:
        attempt("allocation", lambda: _with_redis(workdir, lambda url: allocation.run(workdir, quick, url)))
    if "memory" in names:
        attempt("memory", lambda: _with_redis(workdir, lambda url: memory.run(workdir, quick, url)))
    if "deliveries" in names:
        attempt("deliveries", lambda: _with_redis(workdir, lambda url: deliveries.run(workdir, quick, url)))
    if "idle" in names:
        attempt("idle", lambda: idle.run(workdir, quick))
    if "fairness" in names:
        attempt("fairness", lambda: _with_redis(workdir, lambda url: fairness.run(workdir, quick, url)))
    if "expiry" in names:
        attempt("expiry", lambda: expiry.run(workdir, quick))
    if "slot" in names:
        attempt("slot", lambda: _with_redis(workdir, lambda url: slot.run(workdir, quick, url)))
    if "cluster" in names:
        attempt("cluster", lambda: _with_redis(workdir, lambda url: cluster.run(workdir, quick, url)))
    if "shared" in names:
        attempt("shared", lambda: _with_redis(workdir, lambda url: shared.run(workdir, quick, url)))
    return figures


def _with_redis(workdir: Path, step: Callable[[str], list[Figure]]) -> list[Figure]:
    with private_redis(workdir) as url:
        return step(url)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; return 1 if a figure could not be measured, else 0 (a missed target is a result)."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter loads: a smoke run")
    parser.add_argument("--only", default=",".join(NAMES), help=f"comma-separated, of: {', '.join(NAMES)}")
    parser.add_argument(
        "--json",
        type=Path,
        help="where to write the results (default: bench/results.json, or bench/results-quick.json with --quick)",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(NAMES)
    if unknown:
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    say = lambda text: print(f"[bench] {text}", file=sys.stderr, flush=True)  # noqa: E731
    if {"webhook", "create", "cluster", "shared"} & set(names):
        ensure_wrk()
    began = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="masq-bench-") as tmp:
        figures = measure(names, args.quick, Path(tmp), say)
    seconds = round(time.monotonic() - began, 1)
    command = (
        "python -m bench.run"
        + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if names != list(NAMES) else "")
    )
    print(table(figures))
    print(f"\n{command}: {seconds:.0f} s on {os.cpu_count()} cores")
    partial = names != list(NAMES)
    out = args.json or HERE / (
        "results-quick.json" if args.quick else "results-partial.json" if partial else "results.json"
    )
    out.write_text(
        json.dumps(
            {
                "command": command,
                "started_at": started_at,
                "seconds": seconds,
                "machine": machine(),
                "figures": [f.as_dict() for f in figures],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"results: {out}")
    return 1 if any(f.detail.get("error") for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
