"""Where a running `masq serve` answers, recorded in the data folder for the commands that drive it.

`masq serve` writes its public URL and process id to MASQ_DATA_DIR/serve.json while it runs; `masq demo` and
`masq simulate call` read it, so they follow whatever host and port it was started with.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

import click
import requests

FILE = "serve.json"


@dataclass(frozen=True)
class Served:
    """A running `masq serve`: the URL carriers and tenants reach it at, and its process id."""

    url: str
    pid: int


def record(data_dir: str, url: str) -> None:
    """Record that this process serves masq at `url` for `data_dir`."""
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, FILE)
    with open(path + ".tmp", "w") as file:
        json.dump(asdict(Served(url, os.getpid())), file)
    os.replace(path + ".tmp", path)


def forget(data_dir: str) -> None:
    """Remove this process's record from `data_dir` (another process's record stays)."""
    served = recorded(data_dir)
    if served is not None and served.pid == os.getpid():
        os.remove(os.path.join(data_dir, FILE))


def recorded(data_dir: str) -> Served | None:
    """Return the `masq serve` recorded in `data_dir` while its process lives, else None."""
    try:
        with open(os.path.join(data_dir, FILE)) as file:
            served = Served(**json.load(file))
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(served.pid, 0)
    except ProcessLookupError:
        return None  # it ended without removing its record (it was killed)
    except PermissionError:
        pass  # alive, another user's
    return served


def base_url(given: str | None, config: dict[str, Any]) -> str:
    """Return masq's URL: `given`, else that of the `masq serve` running for MASQ_DATA_DIR, else MASQ_PUBLIC_URL."""
    if given:
        return given.rstrip("/")
    served = recorded(config["MASQ_DATA_DIR"])
    return served.url if served is not None else str(config["MASQ_PUBLIC_URL"])


def not_answering(url: str) -> click.ClickException:
    """Return the error for a masq that does not answer at `url`."""
    return click.ClickException(f"nothing answers at {url}: is `masq serve` running?")


def require_answer(url: str) -> None:
    """Raise `not_answering` unless an HTTP server answers at `url`."""
    try:
        requests.get(f"{url}/healthz", timeout=5).close()
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise not_answering(url) from exc
