"""The Redis store: one client, the key names and the registered scripts, passed to every domain call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from routing import lua
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

    def script(self, name: str) -> Any:
        """Return the script routing/lua/`name` registered on this Redis (call it with `keys`, `args`, `client`)."""
        registered = self._scripts.get(name)
        if registered is None:
            registered = self._scripts[name] = self.redis.register_script(lua.source(name))
        return registered

    def run(self, name: str, auth_id: str, now_us: int, *args: object) -> lua.Reply:
        """Run the tenant script `name` (`allocate.lua`) for `auth_id` at `now_us` with `args`; return its reply."""
        arguments: list[Any] = [self.keys.tenant_base(auth_id), now_us, *args]
        return lua.named(self.script(name)(keys=[self.keys.tenant(auth_id)], args=arguments))
