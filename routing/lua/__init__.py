"""masq's Lua scripts, each in a `.lua` file of this package, and the one loader that builds them.

Libraries define functions and constants; entry scripts (what `Store.run` runs) include them and end with
`return reply(...)`. A line `--! include name.lua` stands for that library, itself expanded the same way; a library
goes into a built script once, before the first code that includes it. Every built script starts with
`local K = {...}`, the tenant-key suffixes of `routing.keys`, so that a script names a key `T .. K.session .. uuid`.

Keys. A script declares one key, KEYS[1], and takes `now` (µs) as ARGV[1], its own arguments after. For a tenant
script (`Store.run`, `run_many`, `run_across`) KEYS[1] is the tenant's base, `masq:t:{auth_id}`, and base.lua
makes it T; every other key the script touches is T followed by a suffix of K, so it carries KEYS[1]'s hash tag
`{auth_id}` and lies in KEYS[1]'s slot. On a Redis Cluster the script therefore runs whole on the node that owns
the tenant's slot. There every script starts with Redis 7's `#!lua` shebang (`store.CLUSTER_SHEBANG`), under
which Redis refuses a script's access to a key of another slot, even one its node holds (without it, Redis
refuses only keys of other nodes); the tests on a real cluster (tests/test_cluster.py) run every script of the
request path, the worker and the CLI that way. A script on a global key (`Store.run_global`) touches that one
key, which is its T.

A script answers with a flat list of names and values (base.lua's `reply`); `named` turns it into a dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from routing.keys import lua_names

Reply = dict[str, Any]

_INCLUDE = re.compile(r"--! include (\S+)")
_FILES = resources.files(__name__)


class ScriptError(Exception):
    """A script cannot be built: it includes a file that does not exist, or includes itself."""


# What each script starts with on a cluster: Redis 7's shebang, under which Redis refuses a script's access to any
# key outside the slot of its declared key (a script without one may reach any key its node holds), so that a key
# built wrong fails at once instead of working until its slot moves to another node.
CLUSTER_SHEBANG = "#!lua\n"


@cache
def source(name: str, cluster: bool = False) -> str:
    """Return the whole source of the script in file `name` (`open_checked.lua`), built once per process.

    `cluster`: the script is for a Redis Cluster (see `build`).
    """
    return build(_read(name), name, cluster)


def build(text: str, name: str = "<text>", cluster: bool = False) -> str:
    """Return the script `text` as Redis runs it: the key names first, then `text` with its includes expanded.

    For a Redis Cluster (`cluster`), the script starts with `CLUSTER_SHEBANG`, its constant CLUSTER is true, which
    makes base.lua's `keys_here` ask the node whether it holds the keys a script names, and each `redis.call` or
    `redis.pcall` is base.lua's `tracked_call` or `tracked_pcall`, which name the keys a script reads before it writes.
    """
    head = CLUSTER_SHEBANG if cluster else ""
    flag = f"local CLUSTER = {'true' if cluster else 'false'}\n"
    body = "\n".join(_expand(text, name, included=set(), within=[]))
    if cluster:
        body = body.replace("redis.call(", "tracked_call(").replace("redis.pcall(", "tracked_pcall(")
    return head + _key_names() + flag + body


def named(reply: list[Any]) -> Reply:
    """Return a script's flat list of names and values as a dict; raise ScriptError when it is not one."""
    if not isinstance(reply, list) or len(reply) % 2:
        raise ScriptError(f"not a named reply: {reply!r}")
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _read(name: str) -> str:
    file = _FILES.joinpath(name)
    if not name.endswith(".lua") or "/" in name or not file.is_file():
        raise ScriptError(f"no Lua file {name!r} in routing/lua")
    return file.read_text(encoding="utf-8")


def _expand(text: str, name: str, included: set[str], within: list[str]) -> Iterator[str]:
    """Yield the lines of `text`, each include replaced by its library unless the script already has it."""
    for line in text.splitlines():
        match = _INCLUDE.fullmatch(line.strip())
        if match is None:
            yield line
            continue
        library = match.group(1)
        if library in within or library == name:
            raise ScriptError(f"{name} includes {library}, which includes it")
        if library in included:
            continue
        included.add(library)
        yield from _expand(_read(library), library, included, [*within, name])


@cache
def _key_names() -> str:
    fields = ", ".join(f"{name} = '{_lua_string(value)}'" for name, value in sorted(lua_names().items()))
    return f"local K = {{{fields}}}\n"


def _lua_string(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9:_-]*", text):
        raise ScriptError(f"key suffix {text!r} is not a plain name")
    return text
