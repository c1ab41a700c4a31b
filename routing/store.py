"""The Redis store: one client, the key names and the registered scripts, passed to every domain call.

The store is one Redis server (`redis://`, `rediss://`, `unix://` URLs) or a Redis Cluster, named by any of its
nodes: `redis+cluster://host:port[,host:port…]`, or `rediss+cluster://…` for TLS, with an optional
`user:password@` before the first node and no database (a cluster has only database 0). On a cluster every
tenant script runs in its tenant's slot (see `routing.lua`), and the few global keys are read and written one at
a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import unquote

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from routing import lua
from routing.keys import DEFAULT_PREFIX, Keys
from routing.redis_clock import RedisClock

# The most DID owners a store remembers: enough for every DID of a large deployment, bounded all the same.
OWNERS_KEPT = 100_000

# Seconds a connection to a Redis node, or a command on it, may take before it fails (MASQ_REDIS_TIMEOUT). Redis
# answers masq's commands in milliseconds, so only a hung or unreachable node takes this long; failing then keeps a
# request within what its caller waits (a carrier's voice webhook has 15 s in all, and hears masq's apology instead
# of silence), frees its web thread, and lets the worker carry on with the tenants on the other nodes. A cluster's
# client tries a command once more after refreshing its map of the slots, so there a hung node costs twice this.
REDIS_TIMEOUT = 2.0

# A single server's client or a cluster's: they take the same commands.
Client: TypeAlias = redis.Redis | RedisCluster

# What Redis says to a script it stopped because a key is not on its node (base.lua's keys_here: the tenant's slot is
# moving between two nodes), and to a command whose keys a moving slot holds only in part.
_SLOT_MOVING = ("Script attempted to access a non local key", "TRYAGAIN")


def slot_moving(error: BaseException) -> bool:
    """Return whether `error` is Redis refusing a tenant's script or command because the tenant's cluster slot is
    being moved between nodes (or has just moved: a redirection the client could not follow): nothing of it was
    written, and the same request succeeds once the slot has moved (seconds). Callers answer it as the store being
    briefly unavailable, without a traceback."""
    if isinstance(error, redis.exceptions.TryAgainError | redis.exceptions.AskError | redis.exceptions.MovedError):
        return True  # a redirection the client could not follow: within a transaction, say
    return isinstance(error, redis.ResponseError) and any(text in str(error) for text in _SLOT_MOVING)


SINGLE_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme → TLS


@dataclass(frozen=True)
class ClusterNodes:
    """Where a Redis Cluster is: its seed nodes (host, port), whether it speaks TLS, and its credentials."""

    nodes: tuple[tuple[str, int], ...]
    tls: bool = False
    username: str | None = None
    password: str | None = None


def cluster_nodes(url: str, setting: str = "REDIS_URL") -> ClusterNodes | None:
    """Return the nodes a cluster URL names, or None for a single server's URL (`redis://`, `rediss://`, `unix://`).

    Raise ValueError naming `setting` for any other scheme, or for a cluster URL that cannot be read.
    """
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or (scheme not in SINGLE_SCHEMES and scheme not in CLUSTER_SCHEMES):
        forms = ", ".join(f"{s}://" for s in (*SINGLE_SCHEMES, *CLUSTER_SCHEMES))
        raise ValueError(f"{setting} must start with one of {forms}, not {_shown(url)!r}")
    if scheme in SINGLE_SCHEMES:
        return None
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    location, tail = rest[:end], rest[end:]
    if tail not in ("", "/", "/0"):
        raise ValueError(
            f"{setting}: a Redis Cluster URL takes no database or options after its nodes, not {_shown(url)!r}"
        )
    userinfo, _, hosts = location.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    nodes = tuple(_node(text, setting, url) for text in hosts.split(","))
    return ClusterNodes(
        nodes, CLUSTER_SCHEMES[scheme], unquote(user) or None, unquote(password) if has_password else None
    )


def _shown(url: str) -> str:
    """Return `url` fit for an error message: its password, if any, as `***`."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    start = head.find("://") + 3 if "://" in head else 0
    user, colon, _ = head[start:].partition(":")
    return f"{head[:start]}{user}{':***' if colon else ''}@{tail}"


def _node(text: str, setting: str, url: str) -> tuple[str, int]:
    """Return (host, port) from `host:port` or `[IPv6 address]:port`."""
    host, _, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{setting}: each node of a Redis Cluster URL is host:port, not {text!r} in {_shown(url)!r}")
    return host, int(port)


@dataclass(frozen=True)
class Store:
    """A Redis connection with masq's key names and scripts bound to it."""

    redis: Client
    keys: Keys = field(default_factory=Keys)
    _scripts: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # DID → tenant as last read from the index through this store (see `routing.calls.inbound.owner`).
    did_owners: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    # Client address → µs until which it has failed logins on record, as last learnt through this store: these
    # addresses are asked about before a credential of theirs is checked (see `routing.logins`).
    failing_addresses: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    _threads: threading.local = field(default_factory=threading.local, repr=False, compare=False)
    _clock: RedisClock = field(default_factory=RedisClock, repr=False, compare=False)

    @classmethod
    def connect(cls, url: str, prefix: str = DEFAULT_PREFIX, timeout: float = REDIS_TIMEOUT) -> Store:
        """Return a store on the Redis or the Redis Cluster at `url` (see the module's docstring for the forms).

        Connecting to a node and each command on it fail with redis.TimeoutError after `timeout` seconds (see
        `REDIS_TIMEOUT`). Raise ValueError naming REDIS_URL when `url` is none of the forms.
        """
        cluster = cluster_nodes(url)
        limits = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        if cluster is None:
            # One more try after a lost connection (a restarted server), none after a timeout: a node that did not
            # answer in time is not waited on twice.
            retry = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))
            try:
                client = redis.Redis.from_url(
                    url, decode_responses=True, health_check_interval=30, retry=retry, **limits
                )
            except ValueError as bad:
                raise ValueError(f"REDIS_URL cannot be read: {bad}") from bad
            return cls(client, Keys(prefix))
        return cls(
            RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in cluster.nodes],
                decode_responses=True,
                ssl=cluster.tls,
                username=cluster.username,
                password=cluster.password,
                retry=Retry(NoBackoff(), 1),  # redis-py's default is three more tries: four timeouts in a row
                **limits,
            ),
            Keys(prefix),
        )

    @property
    def is_cluster(self) -> bool:
        """Return whether the store is a Redis Cluster."""
        return isinstance(self.redis, RedisCluster)

    @property
    def client(self) -> Client:
        """Return this thread's client: one connection of the store's pool, held by the thread for its life.

        redis-py's `single_connection_client`: a command skips the pool's checkout and return (a lock and a
        readiness poll of the socket), about half of its client CPU, which the request path pays on each of its
        round trips. A forked process (an RQ work horse) makes its own. A cluster's client (which holds a pool per
        node) and a client that is not redis-py's own (a test's fake Redis) are used as they are.
        """
        held = self._threads.__dict__
        client = held.get("client")
        if client is None or held["pid"] != os.getpid():
            if type(self.redis) is not redis.Redis:
                return self.redis
            client = redis.Redis(connection_pool=self.redis.connection_pool, single_connection_client=True)
            held.update(client=client, pid=os.getpid())
        return client

    def now_us(self) -> int:
        """Return Redis' time now, in µs since the epoch: its last measured `TIME` plus the monotonic time since.

        Redis' clock is measured with one `TIME` every ten seconds (see `routing.redis_clock`); raise redis-py's
        errors when Redis cannot be asked.
        """
        return self._clock.now_us(self.client)

    def remember_owner(self, number: str, auth_id: str) -> None:
        """Remember that tenant `auth_id` holds DID `number`, forgetting them all past `OWNERS_KEPT` DIDs."""
        if len(self.did_owners) >= OWNERS_KEPT:
            self.did_owners.clear()
        self.did_owners[number] = auth_id

    def script(self, name: str) -> Any:
        """Return the script routing/lua/`name` registered on this Redis (call it with `keys`, `args`, `client`)."""
        registered = self._scripts.get(name)
        if registered is None:
            registered = self._scripts[name] = self.redis.register_script(lua.source(name, self.is_cluster))
        return registered

    def run(self, name: str, auth_id: str, now_us: int, *args: object) -> lua.Reply:
        """Run the tenant script `name` (`open_checked.lua`) for `auth_id` at `now_us` with `args`; return its reply.

        The script's one key is the tenant's base (`Keys.tenant_base`), its ARGV `now_us` then `args`.
        """
        arguments: list[Any] = [now_us, *args]
        return lua.named(self.script(name)(keys=[self.keys.tenant_base(auth_id)], args=arguments, client=self.client))

    def run_global(self, name: str, key: str, now_us: int, *args: object) -> lua.Reply:
        """Run the script `name` (`failed_logins_by.lua`) on the one global `key` at `now_us` with `args`.

        The key is the script's only key and its base (base.lua's T); return the script's reply.
        """
        arguments: list[Any] = [now_us, *args]
        return lua.named(self.script(name)(keys=[key], args=arguments, client=self.client))

    def run_many(self, name: str, auth_id: str, now_us: int, calls: Sequence[Sequence[str | int]]) -> list[lua.Reply]:
        """Run the tenant script `name` once per argument list in `calls`, in one round trip; return the replies.

        The first error reply is raised.
        """
        base = self.keys.tenant_base(auth_id)
        return [lua.named(_raised(reply)) for reply in self._pipelined(name, [[base, now_us, *args] for args in calls])]

    def run_across(self, name: str, auth_ids: Sequence[str], now_us: int, *args: str | int) -> list[lua.Reply]:
        """Run the tenant script `name` once for each tenant of `auth_ids` with `args`, in one round trip.

        Return the replies in the order of `auth_ids`; the first error reply is raised. Each call stays in its
        tenant's slot (on a cluster, each node gets the calls of its tenants, all nodes at once).
        """
        return [_raised(reply) for reply in self.run_each(name, auth_ids, now_us, *args)]

    def run_each(
        self, name: str, auth_ids: Sequence[str], now_us: int, *args: str | int
    ) -> list[lua.Reply | Exception]:
        """`run_across`, but a tenant whose call failed (its slot moving, its node down) gets the error in its place
        instead of the error being raised: one tenant's trouble does not take the others' replies away."""
        replies = self._pipelined(name, [[self.keys.tenant_base(auth_id), now_us, *args] for auth_id in auth_ids])
        return [reply if isinstance(reply, Exception) else lua.named(reply) for reply in replies]

    def _pipelined(self, name: str, calls: list[list[str | int]]) -> list[Any]:
        """Run the tenant script `name` once per list of its one key and its arguments in `calls`, in one round trip;
        return the raw replies, an error reply as its exception.

        (redis-py's pipelined scripts ask SCRIPT EXISTS first, a second round trip; here the script is loaded only
        when a server says it does not know it, on every server at once (redis-py sends a cluster's SCRIPT LOAD to
        each primary), and only the calls it refused are run again: on a cluster the other nodes ran theirs.)
        """
        script = self.script(name)
        replies: list[Any] = [None] * len(calls)
        waiting = list(range(len(calls)))
        for attempt in range(2):
            pipe = self.redis.pipeline(transaction=False)
            for index in waiting:
                # Not `pipe.evalsha`, which a cluster's pipeline refuses: its `execute_command` routes an EVALSHA by
                # its key's slot.
                pipe.execute_command("EVALSHA", script.sha, 1, *calls[index])
            for index, reply in zip(waiting, pipe.execute(raise_on_error=False), strict=True):
                replies[index] = reply
            waiting = [i for i in waiting if isinstance(replies[i], redis.exceptions.NoScriptError)]
            if not waiting or attempt:
                break
            script.sha = self.redis.script_load(script.script)
        return replies


def _raised(reply: Any) -> Any:
    """Return a pipelined reply, or raise it when it is an error."""
    if isinstance(reply, Exception):
        raise reply
    return reply
