"""The key audit every test's scripts run under: a script names every key it touches after its first write.

base.lua's `keys_here` and `tracked_call` are how a script stays whole while its cluster slot moves (see there): the
keys a script reads before its first write are named at that write, and the keys it touches after must have been
named by then. This module builds each script as the tests run it with every Redis command checked against that
rule, on a single server as on a cluster, so the whole suite checks every path it takes through every script; a
script that breaks the rule stops with an error naming the script, the command and the key.

The rule, per whole (base.lua's `whole`): before its first write, a command may touch any key; the first write names
the keys touched so far and its own (as `tracked_call` does on a cluster); every command after it touches only named
keys, and never a key the whole has emptied (deleted, or left with no member or field): while the slot moves, the
node answers a command on a key it does not hold with a redirection, which stops the script, whether the key moved
away or the script deleted it itself.
"""

from __future__ import annotations

from functools import cache

from routing import lua

_PRELUDE = """
-- tests/lua_audit.py: after a whole's first write, every key a command touches is named.
local AUDIT_SCRIPT = '{name}'
local AUDIT = {{wrote = false, seen = {{}}, emptied = {{}}, count = 0}}
local function audit(args)
  if WHOLE.count ~= AUDIT.count then AUDIT = {{wrote = false, seen = {{}}, emptied = {{}}, count = WHOLE.count}} end
  local keys, writes = command_keys(args)
  for _, key in ipairs(keys) do
    if AUDIT.emptied[key] then
      error('lua audit: ' .. AUDIT_SCRIPT .. ' runs ' .. tostring(args[1]) .. ' on ' .. key
            .. ', which its ' .. AUDIT.emptied[key] .. ' emptied earlier in the whole')
    end
  end
  if writes and not AUDIT.wrote then
    AUDIT.wrote = true
    for key in pairs(AUDIT.seen) do NAMED[key] = true end
    for _, key in ipairs(keys) do NAMED[key] = true end
  end
  for _, key in ipairs(keys) do
    if not NAMED[key] then
      if AUDIT.wrote then
        error('lua audit: ' .. AUDIT_SCRIPT .. ' runs ' .. tostring(args[1]) .. ' on ' .. key
              .. ' after its first write without naming it before')
      end
      AUDIT.seen[key] = true
    end
  end
end
-- The commands that can leave a key empty, which Redis then deletes. (A TTL set by a script cannot end a key during
-- it: Redis 7 stops the clock for a script's run.)
local AUDIT_REMOVING = {{DEL = true, UNLINK = true, HDEL = true, SREM = true, SPOP = true, ZREM = true,
                        ZREMRANGEBYSCORE = true, XDEL = true, XTRIM = true, LTRIM = true}}
-- After a write: the keys it left empty, which the rest of the whole may not touch.
local function note_emptied(args)
  if not AUDIT_REMOVING[string.upper(tostring(args[1]))] then return end
  local keys = command_keys(args)
  for _, key in ipairs(keys) do
    if redis.call('EXISTS', key) == 0 then AUDIT.emptied[key] = tostring(args[1]) end
  end
end
-- `run` (redis.call or redis.pcall) with each command checked before it runs and its removals noted after.
local function audited(run)
  return function(...)
    audit({{...}})
    local result = run(...)
    note_emptied({{...}})
    return result
  end
end
local audited_call, audited_pcall = audited(redis.call), audited(redis.pcall)
local raw_call, raw_pcall = audited_call, audited_pcall
"""

_ANCHOR = "local WHOLE = {seen = {}, wrote = false, count = 0}\n"


def audited(text: str, name: str) -> str:
    """Return the built script `text` (file `name`) with each Redis command it runs checked by the audit."""
    if _ANCHOR not in text:
        return text  # a library on its own (billing.lua): audited in the scripts that include it after base.lua
    text = text.replace("redis.call(", "audited_call(").replace("redis.pcall(", "audited_pcall(")
    return text.replace(_ANCHOR, _ANCHOR + _PRELUDE.format(name=name), 1)


def install() -> None:
    """Make `routing.lua.source`, which every store builds its scripts with, build them audited."""
    built = lua.source

    @cache
    def source(name: str, cluster: bool = False) -> str:
        return audited(built(name, cluster), name)

    lua.source = source  # type: ignore[assignment]
