"""The `masq` command: operators manage accounts, DIDs and the embedded Redis, and serve the app."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from typing import Any

import click
import redis

from app.cli_dids import did
from app.cli_pool import pool
from app.cli_redis import redis as redis_group
from app.cli_simulate import demo, simulate
from app.cli_support import dev_twilio_token, fail
from app.cli_tenants import tenant
from app.cli_worker import callbacks, worker
from routing.embedded import EmbeddedRedisError
from routing.errors import RoutingError

FIRST_STEPS = """\
masq listens on {base}
First steps, in another shell:
  {masq} tenant create --name acme
  {masq} did add AUTH_ID +14155550100
  curl -u AUTH_ID:AUTH_TOKEN -H 'Content-Type: application/json' \\
       -d '{{"first_party": "+14155551234", "second_party": "+14155554321"}}' \\
       {base}/v1/Account/AUTH_ID/Masking/Session/
Then call the session's virtual number as its first party, with no phone:
  {masq} simulate call --from +14155551234 --to VIRTUAL_NUMBER"""


class MasqGroup(click.Group):
    """A command group that turns domain and Redis errors into `{"error": ...}` on stderr and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RoutingError as exc:
            fail(exc.message)
        except EmbeddedRedisError as exc:
            fail(str(exc))
        except redis.RedisError as exc:
            fail(f"Redis: {exc}")


@click.group(cls=MasqGroup)
def cli() -> None:
    """masq: number-masking call routing. Settings come from the environment (REDIS_URL, MASQ_*)."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="The port.")
@click.option(
    "--worker/--no-worker",
    "with_worker",
    default=True,
    show_default=True,
    help="Also run `masq worker` (callbacks, expiry, call-outs) beside the web app.",
)
def serve(host: str, port: int, with_worker: bool) -> None:
    """Run the web app for development, with a worker beside it.

    Production runs gunicorn and `masq worker` instead; see the Procfile.
    """
    from app import create_app
    from app.config import from_environment
    from workers.runner import store_url

    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    overrides = {} if os.environ.get("MASQ_PUBLIC_URL") else {"MASQ_PUBLIC_URL": base}
    overrides["TWILIO_AUTH_TOKEN"] = dev_twilio_token(from_environment(), create=True)
    app = create_app(overrides)
    child = None
    if with_worker:  # the worker uses the very Redis the app uses, embedded or not
        # For development the worker may call loopback callback URLs (the demo's inbox) unless told otherwise.
        env = {
            "MASQ_ALLOW_PRIVATE_CALLBACKS": "1",
            **os.environ,
            "REDIS_URL": store_url(from_environment()),
            **overrides,
        }
        child = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env, stdout=sys.stderr)
    click.echo(FIRST_STEPS.format(base=base, masq=_command_name()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the worker too when told to stop
    try:
        app.run(host=host, port=port, debug=False, use_reloader=False)
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=20)


def _command_name() -> str:
    """Return how to run `masq` from here: plain when on PATH, else the virtualenv's script."""
    script = os.path.join(os.path.dirname(sys.executable), "masq")
    if not os.path.exists(script) or shutil.which("masq") == script:
        return "masq"
    relative = os.path.relpath(script)
    return script if relative.startswith("..") else relative


cli.add_command(tenant)
cli.add_command(did)
cli.add_command(pool)
cli.add_command(redis_group)
cli.add_command(simulate)
cli.add_command(demo)
cli.add_command(worker)
cli.add_command(callbacks)


def main() -> None:
    """Run the `masq` command."""
    cli(prog_name="masq")


if __name__ == "__main__":
    main()
