"""The Redis store: one client, the key names and the registered scripts, passed to every domain call."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from routing import lua
from routing.keys import DEFAULT_PREFIX, Keys

# The most DID owners a store remembers: enough for every DID of a large deployment, bounded all the same.
OWNERS_KEPT = 100_000


@dataclass(frozen=True)
class Store:
    """A Redis connection with masq's key names and scripts bound to it."""

    redis: redis.Redis
    keys: Keys = field(default_factory=Keys)
    _scripts: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # DID → tenant as last read from the index through this store (see `routing.calls.inbound.owner`).
    did_owners: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    # Client address → µs until which it has failed logins on record, as last learnt through this store: these
    # addresses are asked about before a credential of theirs is checked (see `routing.logins`).
    failing_addresses: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    _threads: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @classmethod
    def connect(cls, url: str, prefix: str = DEFAULT_PREFIX) -> Store:
        """Return a store on the Redis at `url` (`redis://…`, `rediss://…` or `unix://…`)."""
        client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
        return cls(client, Keys(prefix))

    @property
    def client(self) -> redis.Redis:
        """Return this thread's client: one connection of the store's pool, held by the thread for its life.

        redis-py's `single_connection_client`: a command skips the pool's checkout and return (a lock and a
        readiness poll of the socket), about half of its client CPU, which the request path pays on each of its
        round trips. A forked process (an RQ work horse) makes its own. A client that is not redis-py's own
        (a test's fake Redis) is used as it is.
        """
        held = self._threads.__dict__
        client = held.get("client")
        if client is None or held["pid"] != os.getpid():
            if type(self.redis) is not redis.Redis:
                return self.redis
            client = redis.Redis(connection_pool=self.redis.connection_pool, single_connection_client=True)
            held.update(client=client, pid=os.getpid())
        return client

    def remember_owner(self, number: str, auth_id: str) -> None:
        """Remember that tenant `auth_id` holds DID `number`, forgetting them all past `OWNERS_KEPT` DIDs."""
        if len(self.did_owners) >= OWNERS_KEPT:
            self.did_owners.clear()
        self.did_owners[number] = auth_id

    def script(self, name: str) -> Any:
        """Return the script routing/lua/`name` registered on this Redis (call it with `keys`, `args`, `client`)."""
        registered = self._scripts.get(name)
        if registered is None:
            registered = self._scripts[name] = self.redis.register_script(lua.source(name))
        return registered

    def run(self, name: str, auth_id: str, now_us: int, *args: object) -> lua.Reply:
        """Run the tenant script `name` (`open_checked.lua`) for `auth_id` at `now_us` with `args`; return its reply."""
        arguments: list[Any] = [self.keys.tenant_base(auth_id), now_us, *args]
        return lua.named(self.script(name)(keys=[self.keys.tenant(auth_id)], args=arguments, client=self.client))

    def run_global(self, name: str, key: str, now_us: int, *args: object) -> lua.Reply:
        """Run the script `name` (`failed_logins_by.lua`) on the one global `key` at `now_us` with `args`.

        The key is the script's only key and its base (base.lua's T); return the script's reply.
        """
        arguments: list[Any] = [key, now_us, *args]
        return lua.named(self.script(name)(keys=[key], args=arguments, client=self.client))

    def run_many(self, name: str, auth_id: str, now_us: int, calls: Sequence[Sequence[str | int]]) -> list[lua.Reply]:
        """Run the tenant script `name` once per argument list in `calls`, in one round trip; return the replies.

        The first error reply is raised.
        """
        head: list[str | int] = [self.keys.tenant(auth_id), self.keys.tenant_base(auth_id), now_us]
        return self._pipelined(name, [[*head, *args] for args in calls])

    def run_across(self, name: str, auth_ids: Sequence[str], now_us: int, *args: str | int) -> list[lua.Reply]:
        """Run the tenant script `name` once for each tenant of `auth_ids` with `args`, in one round trip.

        Return the replies in the order of `auth_ids`; the first error reply is raised. Each call stays in its
        tenant's slot.
        """
        return self._pipelined(
            name, [[self.keys.tenant(auth_id), self.keys.tenant_base(auth_id), now_us, *args] for auth_id in auth_ids]
        )

    def _pipelined(self, name: str, calls: list[list[str | int]]) -> list[lua.Reply]:
        """Run the tenant script `name` once per list of its one key and its arguments in `calls`, in one round trip.

        (redis-py's pipelined scripts ask SCRIPT EXISTS first, a second round trip; here the script is loaded only
        when the server says it does not know it.)
        """
        script = self.script(name)
        replies: list[Any] = []
        for _ in range(2):
            pipe = self.redis.pipeline(transaction=False)
            for key_and_args in calls:
                pipe.evalsha(script.sha, 1, *key_and_args)
            replies = pipe.execute(raise_on_error=False)
            if not any(isinstance(reply, redis.exceptions.NoScriptError) for reply in replies):
                break
            script.sha = self.redis.script_load(script.script)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [lua.named(reply) for reply in replies]
