"""The Redis store: one client, the key names and the registered scripts, passed to every domain call."""

from __future__ import annotations

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
        script = self._scripts.get(body)
        if script is None:
            script = self.redis.register_script(scripts.build(body))
            self._scripts[body] = script
        arguments: list[Any] = [self.keys.tenant_base(auth_id), now_us, *args]
        return script(keys=[self.keys.tenant(auth_id)], args=arguments)
