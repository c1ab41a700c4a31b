"""`masq web`: the production web process, the app served by granian (the Procfile's `web:` line runs it).

granian reads and parses each request off the Python threads, in Rust, and hands the app only whole requests:
a client that sends half a header or a declared body it never finishes holds no Python thread, so slow or
hostile clients cannot starve the threads that answer carriers and tenants. Each of `workers` processes runs
the app on `threads` Python threads, which wait on Redis in turn.
"""

from __future__ import annotations

import click

# The app factory each granian worker process calls; it reads its settings from the environment.
APP = "app:create_app"
DEFAULT_THREADS = 4


def run_web(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the app on `host`:`port` with `workers` processes of `threads` threads each, until stopped."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    Granian(
        APP,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        factory=True,
        workers=workers,
        blocking_threads=threads,
        # Every client that may wait on the app at once: beyond this, granian queues connections itself.
        backpressure=workers * threads * 8,
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
    default=DEFAULT_THREADS,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Python threads per process ($WEB_THREADS).",
)
def web(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app with granian, as a platform runs it: settings from the environment, no worker."""
    run_web(host, port, workers, threads)
