"""The key audit every test's scripts run under: a script names every key it touches before its first write.

base.lua's `keys_here` is how a script stays whole while its cluster slot moves (see there): it works only if the
script names, before its first write, every key it has read and every key it will touch. This module builds each
script as the tests run it with every `redis.call` and `redis.pcall` checked against that rule, so the whole suite
(single server and cluster) checks every path it takes through every script; a script that breaks the rule stops
with an error naming the script, the command and the key.

The rule, per command a script runs: before its first write, a command may touch keys not yet named; the first
write and every command after it touch only named keys, and by the first write every key touched before is named.
"""

from __future__ import annotations

from functools import cache

from routing import lua

# Where each command the scripts run has its keys: the first argument, all arguments, the second (a
# subcommand's key), ZINTER's count then keys, or none; and whether it writes.
_COMMANDS = {
    **dict.fromkeys(
        "GET HGET HMGET HGETALL HEXISTS HLEN SMEMBERS SCARD SISMEMBER ZSCORE ZCARD ZCOUNT ZRANGE ZRANGEBYSCORE "
        "ZREVRANGE ZREVRANGEBYSCORE LRANGE LLEN XLEN XRANGE XREVRANGE XPENDING PTTL TTL TYPE".split(),
        ("first", False),
    ),
    **dict.fromkeys(
        "SET HSET HSETNX HDEL HINCRBY INCR INCRBY SADD SREM SPOP ZADD ZREM ZINCRBY ZREMRANGEBYSCORE RPUSH LPUSH "
        "LTRIM PEXPIRE EXPIRE PERSIST XADD XACK XCLAIM XDEL XTRIM".split(),
        ("first", True),
    ),
    "EXISTS": ("all", False),
    "SINTER": ("all", False),
    "DEL": ("all", True),
    "UNLINK": ("all", True),
    "ZINTER": ("counted", False),
    "XINFO": ("second", False),
    "XGROUP": ("second", True),
    "PUBLISH": ("none", False),
    "TIME": ("none", False),
}

_PRELUDE = """
-- tests/lua_audit.py: every key a command touches is named (keys_here) by the script's first write.
local AUDIT_SCRIPT = '{name}'
local AUDIT_COMMANDS = {{{commands}}}
local AUDIT_WROTE = false
local AUDIT_TOUCHED = {{}}
local function audit(args)
  local command = string.upper(tostring(args[1]))
  local spec = AUDIT_COMMANDS[command]
  if not spec then error('lua audit: ' .. AUDIT_SCRIPT .. ' runs ' .. command .. ', unknown to tests/lua_audit.py') end
  local where, writes, keys = spec[1], spec[2], {{}}
  if where == 'first' then keys = {{args[2]}}
  elseif where == 'second' then keys = {{args[3]}}
  elseif where == 'all' then for i = 2, #args do keys[#keys + 1] = args[i] end
  elseif where == 'counted' then for i = 3, 2 + tonumber(args[2]) do keys[#keys + 1] = args[i] end
  end
  if writes and not AUDIT_WROTE then
    for key in pairs(AUDIT_TOUCHED) do
      if not NAMED[key] then
        error('lua audit: ' .. AUDIT_SCRIPT .. ' writes (' .. command .. ') before naming ' .. key .. ', which it read')
      end
    end
    AUDIT_WROTE = true
  end
  for _, key in ipairs(keys) do
    if not NAMED[key] then
      if AUDIT_WROTE then
        error('lua audit: ' .. AUDIT_SCRIPT .. ' runs ' .. command .. ' on ' .. key .. ', not named by its first write')
      end
      AUDIT_TOUCHED[key] = true
    end
  end
end
local function audited_call(...) audit({{...}}); return redis.call(...) end
local function audited_pcall(...) audit({{...}}); return redis.pcall(...) end
"""

_ANCHOR = "local NAMED = {[T] = true}\n"


def audited(text: str, name: str) -> str:
    """Return the built script `text` (file `name`) with each Redis command it runs checked by the audit."""
    if _ANCHOR not in text:
        raise lua.ScriptError(f"{name} does not include base.lua, whose NAMED the audit reads")
    text = text.replace("redis.call(", "audited_call(").replace("redis.pcall(", "audited_pcall(")
    commands = ", ".join(
        f"{command} = {{'{where}', {str(writes).lower()}}}" for command, (where, writes) in _COMMANDS.items()
    )
    prelude = _PRELUDE.format(name=name, commands=commands)
    return text.replace(_ANCHOR, _ANCHOR + prelude, 1)


def install() -> None:
    """Make `routing.lua.source`, which every store builds its scripts with, build them audited."""
    built = lua.source

    @cache
    def source(name: str, cluster: bool = False) -> str:
        return audited(built(name, cluster), name)

    lua.source = source  # type: ignore[assignment]
