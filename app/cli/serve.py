"""`masq serve`: the web app for development, with a worker beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import click

from app.cli import embedded, served_url
from app.cli.embedded import store_url
from app.cli.support import dev_twilio_token
from app.cli.web import check_settings, run_web
from routing import settings

FIRST_STEPS = """\
masq listens on {base}
See it all at once, in another shell: {masq} demo
Or step by step:
  {masq} tenant create --name acme
  {masq} did add AUTH_ID +14155550100 +14155550101
  curl -u AUTH_ID:AUTH_TOKEN -H 'Content-Type: application/json' \\
       -d '{{"first_party": "+14155551234", "second_party": "+14155554321"}}' \\
       {base}/v1/Account/AUTH_ID/Masking/Session/
Then call the session's virtual number as its first party, with no phone:
  {masq} simulate call --from +14155551234 --to VIRTUAL_NUMBER"""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="The port.")
@click.option(
    "--worker/--no-worker",
    "with_worker",
    default=True,
    show_default=True,
    help="Also run `masq worker` (callbacks, expiry, outbound calls) beside the web app.",
)
@click.option(
    "--keep-redis",
    is_flag=True,
    help="Leave the embedded Redis running when masq serve ends (by default it stops; its data stays).",
)
def serve(host: str, port: int, with_worker: bool, keep_redis: bool) -> None:
    """Run the web app for development, with a worker beside it.

    The web app is served as `masq web` serves it (granian, one process); production runs `masq web` and
    `masq worker` as two processes instead (see the Procfile). With no REDIS_URL, the embedded Redis of
    MASQ_DATA_DIR is started (or found) and stopped when masq serve ends. The URL masq answers at is recorded in
    MASQ_DATA_DIR while it runs, for `masq demo` and `masq simulate call`.
    """
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    config = settings.from_environment()
    check_settings(config)  # before anything is started or said
    data_dir = config["MASQ_DATA_DIR"]
    running = served_url.recorded(data_dir)
    if running is not None:
        raise click.ClickException(f"masq serve already runs for {data_dir} at {running.url} (pid {running.pid})")
    overrides = {} if os.environ.get("MASQ_PUBLIC_URL") else {"MASQ_PUBLIC_URL": base}
    overrides["TWILIO_AUTH_TOKEN"] = dev_twilio_token(config, create=True)
    # The app and the worker use the very Redis resolved here, embedded or not.
    embedded_redis = not config["REDIS_URL"]
    overrides["REDIS_URL"] = store_url(config)
    os.environ.update(overrides)  # granian's worker builds the app from the environment
    child = None
    try:
        served_url.record(data_dir, os.environ["MASQ_PUBLIC_URL"].rstrip("/"))
        if with_worker:
            # For development the worker may call loopback callback URLs (the demo's inbox) unless told otherwise.
            env = {"MASQ_ALLOW_PRIVATE_CALLBACKS": "1", **os.environ}
            child = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env, stdout=sys.stderr)
        click.echo(FIRST_STEPS.format(base=base, masq=_command_name()))
        run_web(host, port, workers=1, threads=config["WEB_THREADS"])
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=20)
        served_url.forget(data_dir)
        if embedded_redis and not keep_redis:
            _stop_embedded_redis(data_dir)


def _stop_embedded_redis(data_dir: str) -> None:
    """Stop the embedded Redis of `data_dir`, saying so."""
    port = embedded.running_port(data_dir)
    if port is not None and embedded.stop(port, data_dir):
        click.echo(
            f"stopped the embedded Redis (its data stays in {data_dir}; --keep-redis leaves it running)", err=True
        )


def _command_name() -> str:
    """Return how to run `masq` from here: plain when on PATH, else the virtualenv's script."""
    script = os.path.join(os.path.dirname(sys.executable), "masq")
    if not os.path.exists(script) or shutil.which("masq") == script:
        return "masq"
    relative = os.path.relpath(script)
    return script if relative.startswith("..") else relative
