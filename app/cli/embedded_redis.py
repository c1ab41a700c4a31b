"""`masq redis`: the embedded Redis that masq starts when `REDIS_URL` is unset."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import click

from app.cli import embedded
from app.cli.support import emit
from routing import settings


@click.group()
def redis() -> None:
    """Manage the embedded Redis.

    It keeps its data in MASQ_DATA_DIR, one server for each, and is started on MASQ_EMBEDDED_REDIS_PORT; once it
    runs, every command using MASQ_DATA_DIR finds it there, whatever port it is told.
    """


@redis.command()
def start() -> None:
    """Start the embedded Redis unless it already runs; it runs until `masq redis stop`."""
    config = settings.from_environment()
    embedded.ensure_running(config["MASQ_DATA_DIR"], config["MASQ_EMBEDDED_REDIS_PORT"])
    _emit_status(config)


@redis.command()
def stop() -> None:
    """Stop the embedded Redis; its data stays in MASQ_DATA_DIR."""
    config = settings.from_environment()
    port = _port(config)
    stopped = embedded.stop(port, config["MASQ_DATA_DIR"])
    emit({"port": port, "stopped": stopped, "data_dir": os.path.abspath(config["MASQ_DATA_DIR"])})


@redis.command()
def status() -> None:
    """Show whether the embedded Redis runs."""
    _emit_status(settings.from_environment())


def _port(config: dict[str, Any]) -> int:
    """Return the port of the Redis running for MASQ_DATA_DIR, else the one it would be started on."""
    running = embedded.running_port(config["MASQ_DATA_DIR"])
    return int(config["MASQ_EMBEDDED_REDIS_PORT"]) if running is None else running


def _emit_status(config: dict[str, Any]) -> None:
    result = asdict(embedded.status(_port(config)))
    result["data_dir"] = result["data_dir"] or os.path.abspath(config["MASQ_DATA_DIR"])
    if config["REDIS_URL"]:
        result["note"] = "REDIS_URL is set, so masq uses that Redis, not this one"
    emit(result)
