"""The `masq` command: operators manage accounts, DIDs and the embedded Redis, serve the app and play the carrier."""

from __future__ import annotations

from typing import Any

import click
import redis
from redis.exceptions import RedisClusterException

from app.cli import demo, dids, embedded_redis, pool, serve, simulate, tenants, web, worker
from app.cli.embedded import EmbeddedRedisError
from app.cli.support import fail
from routing.errors import RoutingError


class MasqGroup(click.Group):
    """A command group that turns domain and Redis errors into `{"error": ...}` on stderr and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RoutingError as exc:
            fail(exc.message)
        except EmbeddedRedisError as exc:
            fail(str(exc))
        except (redis.RedisError, RedisClusterException) as exc:
            fail(f"Redis: {exc}")


@click.group(cls=MasqGroup)
def cli() -> None:
    """masq: number-masking call routing. Settings come from the environment (REDIS_URL, MASQ_*)."""


for command in (
    serve.serve,
    web.web,
    tenants.tenant,
    dids.did,
    pool.pool,
    embedded_redis.redis,
    simulate.simulate,
    demo.demo,
    worker.worker,
    worker.callbacks,
):
    cli.add_command(command)


def main() -> None:
    """Run the `masq` command."""
    cli(prog_name="masq")
