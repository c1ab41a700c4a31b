"""The Redis store: one client, the key names and the registered scripts, passed to every domain call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from routing import scripts
from routing.keys import DEFAULT_PREFIX, Keys


@dataclass(frozen=True)
class Store:
    """A Redis connection with masq's key names and scripts bound to it."""

    redis: redis.Redis
    keys: Keys = field(default_factory=Keys)
    _scripts: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def connect(cls, url: str, prefix: str = DEFAULT_PREFIX) -> Store:
        """Return a store on the Redis at `url` (`redis://…`, `rediss://…` or `unix://…`)."""
        client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
        return cls(client, Keys(prefix))

    def run(self, body: str, auth_id: str, now_us: int, *args: object) -> Any:
        """Run a tenant-scoped Lua script for `auth_id`; `body` is a script of `routing.scripts`' form."""
        arguments: list[Any] = [self.keys.tenant_base(auth_id), now_us, *args]
        return self._script(body)(keys=[self.keys.tenant(auth_id)], args=arguments)

    def run_many(self, body: str, auth_id: str, now_us: int, calls: Sequence[Sequence[str | int]]) -> list[Any]:
        """Run a tenant script once per argument list in `calls`, pipelined in one round trip; return the replies.

        The first error reply is raised. (redis-py's pipelined scripts ask SCRIPT EXISTS first, a second round
        trip; here the script is loaded only when the server says it does not know it.)
        """
        script = self._script(body)
        head: list[str | int] = [self.keys.tenant(auth_id), self.keys.tenant_base(auth_id), now_us]
        replies: list[Any] = []
        for _ in range(2):
            pipe = self.redis.pipeline(transaction=False)
            for args in calls:
                pipe.evalsha(script.sha, 1, *head, *args)
            replies = pipe.execute(raise_on_error=False)
            if not any(isinstance(reply, redis.exceptions.NoScriptError) for reply in replies):
                break
            script.sha = self.redis.script_load(script.script)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _script(self, body: str) -> Any:
        script = self._scripts.get(body)
        if script is None:
            script = self.redis.register_script(scripts.build(body))
            self._scripts[body] = script
        return script
