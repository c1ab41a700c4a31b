"""`masq web`: the production web process, the app served by granian (the Procfile's `web:` line runs it).

granian reads each request line and its headers in Rust, off the Python threads, and closes a connection whose
headers are not all in within MASQ_HEADER_TIMEOUT seconds; `app.asgi` then waits for the body on the event
loop, for at most MASQ_BODY_TIMEOUT seconds, and hands the app only whole requests. A client that sends half a
header, or declares a body it never finishes, holds no Python thread, and its connection is closed when its
time is up. Each of `workers` processes runs the app on `threads` Python threads, which wait on Redis in turn.
"""

from __future__ import annotations

import os
from typing import Any

import click

from routing import settings

# The factory each granian worker process calls; it reads its settings from the environment.
APP = "app.asgi:create_asgi"
# Connections each process holds at once, slow ones included; more wait in the kernel's backlog. A connection
# costs the process a few KB until it is answered or its timeouts close it.
CONNECTIONS = 1024


def check_settings(config: dict[str, Any]) -> None:
    """Raise ClickException saying what is wrong with the web process's settings (its tokens, where its queue is).

    Checked once before serving, not as a traceback from every worker process.
    """
    try:
        for check in (
            settings.metrics_token,
            settings.operator_token,
            settings.secret_key,
            settings.check_store,
            settings.check_queue,
        ):
            check(config)
    except ValueError as bad:
        raise click.ClickException(str(bad)) from bad


def run_web(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the app on `host`:`port` with `workers` processes of `threads` threads each, until stopped."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    config = settings.from_environment()
    check_settings(config)
    header_ms = round(config["MASQ_HEADER_TIMEOUT"] * 1000)
    if not 1 <= header_ms <= 60_000:  # what granian accepts
        raise click.ClickException("MASQ_HEADER_TIMEOUT must be between 0.001 and 60 seconds")
    if not config["MASQ_BODY_TIMEOUT"] > 0:
        raise click.ClickException("MASQ_BODY_TIMEOUT must be more than 0 seconds")
    os.environ["WEB_THREADS"] = str(threads)  # each worker process builds the app from the environment
    Granian(
        APP,
        address=host,
        port=port,
        interface=Interfaces.ASGINL,  # ASGI without lifespan events: the app needs none
        factory=True,
        workers=workers,
        # HTTP/1 only: granian's header timeout covers HTTP/1, and masq's clients (carriers, tenants' SDKs,
        # the platform's router) all speak it.
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=header_ms),
        websockets=False,
        backpressure=CONNECTIONS,
        log_level=LogLevels.warning,
        respawn_failed_workers=True,
    ).serve()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port", envvar="PORT", default=8080, show_default=True, type=click.IntRange(1, 65535), help="The port ($PORT)."
)
@click.option(
    "--workers",
    envvar="WEB_CONCURRENCY",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes ($WEB_CONCURRENCY).",
)
@click.option(
    "--threads",
    envvar="WEB_THREADS",
    default=settings.WEB_THREADS,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Python threads per process ($WEB_THREADS).",
)
def web(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app with granian, as a platform runs it: settings from the environment, no worker."""
    run_web(host, port, workers, threads)
