"""The Lua loader: every file builds, includes come once, and scripts check before they write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis

from routing import keys, lua, tenants
from tests import lua_audit
from tests.conftest import make_tenant

FUNCTION = re.compile(r"^\s*local function (\w+)\(", re.M)


LUA_FILES = sorted(p.name for p in Path(lua.__file__).parent.glob("*.lua"))


@pytest.mark.parametrize("name", LUA_FILES)
def test_every_lua_file_builds_and_compiles_on_the_real_redis(real_store, name):
    source = lua.source(name)

    assert "--! include" not in source
    assert real_store.redis.script_load(source)


@pytest.mark.parametrize("name", sorted(p.name for p in Path(lua.__file__).parent.glob("*.lua")))
def test_a_built_script_holds_each_library_once(name):
    defined = FUNCTION.findall(lua.source(name))

    assert len(defined) == len(set(defined))


def test_a_script_that_includes_libraries_twice_over_gets_each_once():
    source = lua.build("--! include credentials.lua\n--! include pool.lua\n--! include base.lua\nreturn 1")

    assert source.count("local function number_arg(") == 1  # base.lua, wanted by all three
    assert source.index("local function number_arg(") < source.index("local function gcra(")
    assert source.startswith("local K = {")


def test_an_unknown_include_is_an_error_when_the_script_is_built():
    with pytest.raises(lua.ScriptError, match="nowhere.lua"):
        lua.build("--! include base.lua\n--! include nowhere.lua\nreturn 1")
    with pytest.raises(lua.ScriptError):
        lua.source("nowhere.lua")


def test_libraries_that_include_each_other_are_an_error(monkeypatch):
    files = {"a.lua": "--! include b.lua\nlocal x = 1", "b.lua": "--! include a.lua\nlocal y = 2"}
    monkeypatch.setattr(lua, "_read", files.__getitem__)

    with pytest.raises(lua.ScriptError, match="includes"):
        lua.build("--! include a.lua\nreturn 1")


def test_every_key_name_a_script_uses_is_one_of_routing_keys():
    used = {name for file in LUA_FILES for name in re.findall(r"\bK\.(\w+)", lua.source(file))}

    assert used and used <= set(keys.lua_names())


def test_a_named_reply_is_a_dict_and_anything_else_an_error():
    assert lua.named(["outcome", "ok", "ended", 2]) == {"outcome": "ok", "ended": 2}
    with pytest.raises(lua.ScriptError):
        lua.named(["outcome"])


# -- scripts check before they write ---------------------------------------------------------------------------------
def tenant_keys(store, tenant):
    return {key: store.redis.dump(key) for key in store.redis.scan_iter(store.keys.tenant_base(tenant.auth_id) + "*")}


def test_a_script_given_a_malformed_argument_writes_nothing(real_store):
    store = real_store
    tenant = make_tenant(store, ["+14155550100"])
    before = tenant_keys(store, tenant)
    session = json.dumps({"session_uuid": "u1", "virtual_number": ""})
    given = tenants.basic_credential(tenant.auth_id, tenant.auth_token).arguments()

    with pytest.raises(redis.ResponseError):
        store.run("add_number.lua", tenant.auth_id, 1, "+14155550101", "US", "not json")
    with pytest.raises(redis.ResponseError):
        store.run("open_checked.lua", tenant.auth_id, 1, "u1", session, "soon", 1, 0, "*", "US", "", *given)
    with pytest.raises(redis.ResponseError):
        store.run("set_number_status.lua", tenant.auth_id, 1, "+14155550100", "paused")
    with pytest.raises(redis.ResponseError):
        store.run("reclaim.lua", tenant.auth_id, "now", 10)

    assert tenant_keys(store, tenant) == before


# -- scripts name their keys before they write (base.lua's keys_here; tests/lua_audit.py) ----------------------------
def run_text(store, text, cluster=False):
    """Run the script `text` (after base.lua) under the key audit, on a tenant base of the store's own."""
    built = lua_audit.audited(lua.build("--! include base.lua\n" + text, cluster=cluster), "probe.lua")
    base = store.keys.prefix + "t:{probe}"
    try:
        return store.redis.eval(built, 1, base, 1)
    finally:
        store.redis.delete(base, base + ":a", base + ":b", base + ":c")


@pytest.mark.parametrize("cluster", [False, True])
def test_the_audit_stops_a_script_that_touches_an_unnamed_key_after_its_first_write(real_store, cluster):
    with pytest.raises(redis.ResponseError, match="lua audit: probe.lua runs SET on .*:b after its first write"):
        run_text(real_store, "redis.call('SET', T .. ':a', 1)\nredis.call('SET', T .. ':b', 1)\nreturn 1", cluster)


@pytest.mark.parametrize("cluster", [False, True])
def test_keys_read_before_the_first_write_and_keys_named_may_be_touched_after_it(real_store, cluster):
    text = """
redis.call('GET', T .. ':a')
keys_here({T .. ':c'})
redis.call('SET', T .. ':b', 1)
redis.call('SET', T .. ':a', 2)
redis.call('SET', T .. ':c', 3)
return 1"""
    assert run_text(real_store, text, cluster) == 1


@pytest.mark.parametrize("cluster", [False, True])
def test_the_audit_stops_a_script_that_touches_a_key_it_emptied_itself(real_store, cluster):
    text = """
keys_here({T .. ':a', T .. ':b'})
redis.call('SADD', T .. ':a', 'x')
redis.call('SREM', T .. ':a', 'x')
redis.call('SADD', T .. ':b', 'y')
redis.call('SCARD', T .. ':a')
return 1"""
    with pytest.raises(redis.ResponseError, match="runs SCARD on .*:a, which its SREM emptied earlier in the whole"):
        run_text(real_store, text, cluster)


def test_after_a_whole_a_script_reads_freely_and_names_again_by_its_next_write(real_store):
    allowed = "redis.call('SET', T .. ':a', 1)\nwhole()\nredis.call('GET', T .. ':b')\nredis.call('SET', T .. ':b', 1)"
    assert run_text(real_store, allowed + "\nreturn 1") == 1
    with pytest.raises(redis.ResponseError, match="runs SET on .*:c after its first write"):
        run_text(real_store, allowed + "\nredis.call('SET', T .. ':c', 1)\nreturn 1")


def test_a_script_built_for_a_cluster_runs_every_command_through_tracked_call():
    built = lua.build("--! include base.lua\nredis.call('GET', T)\nredis.pcall('GET', T)\nreturn 1", cluster=True)

    assert built.startswith(lua.CLUSTER_SHEBANG) and "local CLUSTER = true" in built
    assert "tracked_call('GET', T)" in built and "tracked_pcall('GET', T)" in built
    assert "redis.call(" not in built.split("local function tracked(")[1]
    assert "local CLUSTER = false" in lua.build("--! include base.lua\nreturn 1")
