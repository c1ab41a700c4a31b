"""Running a piece of Lua with masq's libraries, for tests that hold Python to what the scripts do."""

from __future__ import annotations

from typing import Any

from routing import lua
from routing.store import Store


def lua_value(store: Store, library: str, expression: str, *args: object) -> Any:
    """Return the Lua `expression` evaluated after `library` is included; ARGV[2] on are `args` (ARGV[1], NOW, is 0)."""
    script = store.redis.register_script(lua.build(f"--! include {library}\nreturn {expression}"))
    return script(keys=[store.keys.tenant_base("MA0")], args=[0, *args])
