from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from app.cli import cli, embedded, served_url
from routing import pool, tenants
from routing.clock import now_us
from routing.number_mode import NumberSettings, number_settings
from routing.store import Store
from tests.conftest import owner_of

pytestmark = pytest.mark.integration  # runs the CLI on a real Redis and starts servers

Masq = Callable[..., Result]


@pytest.fixture
def masq(env: dict[str, str]) -> Masq:
    """Run `masq ARGS…` in-process; the result keeps stdout and stderr apart."""
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), env=env)


@pytest.fixture
def cli_store(env: dict[str, str]) -> Iterator[Store]:
    """The store the commands write to, for looking at what they did."""
    store = Store.connect(env["REDIS_URL"], env["MASQ_KEY_PREFIX"])
    yield store
    store.redis.close()


def ok(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output + result.stderr
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def error_of(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    message: str = json.loads(result.stderr)["error"]
    return message


def new_account(masq: Masq, *args: str) -> str:
    return str(ok(masq("tenant", "create", "--name", "acme", *args))["auth_id"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- tenant -----------------------------------------------------------------------------------------------
def test_tenant_create_prints_a_plivo_shaped_auth_id_and_credentials_that_work(masq, cli_store):
    created = ok(masq("tenant", "create", "--name", "acme"))

    assert list(created) == ["auth_id", "auth_token", "api_key", "number_mode", "parties_per_number"]
    assert (created["number_mode"], created["parties_per_number"]) == ("exclusive", 100)
    assert re.fullmatch(r"MA[A-Z0-9]{18}", str(created["auth_id"]))
    basic = tenants.basic_credential(str(created["auth_id"]), str(created["auth_token"]))
    assert tenants.admit(cli_store, basic, now_us()).name == "acme"
    assert (
        tenants.admit(cli_store, tenants.api_key_credential(str(created["api_key"])), now_us()).auth_id
        == created["auth_id"]
    )


def test_tenant_create_with_a_parent_makes_a_subaccount_of_it(masq, cli_store):
    parent = new_account(masq)

    sub = ok(masq("tenant", "create", "--name", "acme-eu", "--parent", parent))

    assert re.fullmatch(r"SA[A-Z0-9]{18}", str(sub["auth_id"]))
    assert tenants.get_tenant(cli_store, str(sub["auth_id"])).parent == parent


def test_tenant_create_under_an_unknown_parent_exits_1_with_the_error_as_json_on_stderr(masq):
    assert "no account" in error_of(masq("tenant", "create", "--name", "acme", "--parent", "MA" + "0" * 18))


def test_tenant_create_under_a_subaccount_is_refused(masq):
    sub = new_account(masq, "--parent", new_account(masq))

    assert "subaccount" in error_of(masq("tenant", "create", "--name", "deeper", "--parent", sub))


def test_a_redis_that_does_not_answer_exits_1_with_the_error_as_json(env):
    unreachable = {**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}

    result = CliRunner().invoke(cli, ["tenant", "create", "--name", "acme"], env=unreachable)

    assert error_of(result).startswith("Redis: ")


def test_tenant_create_and_update_set_how_the_accounts_sessions_take_numbers(masq, cli_store):
    created = ok(masq("tenant", "create", "--name", "rides", "--number-mode", "shared"))
    auth_id = str(created["auth_id"])
    assert created["number_mode"] == "shared"

    updated = ok(masq("tenant", "update", auth_id, "--parties-per-number", "40"))
    back = ok(masq("tenant", "update", auth_id, "--number-mode", "exclusive"))

    assert updated == {"auth_id": auth_id, "number_mode": "shared", "parties_per_number": 40}
    assert back == {"auth_id": auth_id, "number_mode": "exclusive", "parties_per_number": 40}
    assert number_settings(cli_store, auth_id) == NumberSettings("exclusive", 40)


@pytest.mark.parametrize(
    "args", [("--number-mode", "dedicated"), ("--parties-per-number", "1"), ("--parties-per-number", "1001")]
)
def test_tenant_update_with_a_setting_out_of_bounds_is_a_usage_error(masq, args):
    assert masq("tenant", "update", new_account(masq), *args).exit_code == 2


def test_tenant_update_of_an_unknown_account_exits_1(masq):
    assert "no account" in error_of(masq("tenant", "update", "MA" + "0" * 18, "--number-mode", "shared"))


def test_tenant_create_without_a_name_is_a_usage_error(masq):
    result = masq("tenant", "create")

    assert result.exit_code == 2
    assert "--name" in result.stderr


# -- did --------------------------------------------------------------------------------------------------
def test_did_add_puts_numbers_in_the_pool_and_reports_those_already_held(masq, cli_store):
    auth_id = new_account(masq)

    first = ok(masq("did", "add", auth_id, "+14155550100", "14155550101"))
    again = ok(masq("did", "add", auth_id, "+14155550101", "+14155550102"))

    assert first == {"auth_id": auth_id, "added": ["+14155550100", "+14155550101"], "already_held": []}
    assert again == {"auth_id": auth_id, "added": ["+14155550102"], "already_held": ["+14155550101"]}
    assert owner_of(cli_store, "+14155550102") == auth_id


def test_did_add_to_an_unknown_account_fails_and_claims_no_number(masq, cli_store):
    assert "no account" in error_of(masq("did", "add", "MA" + "0" * 18, "+14155550100"))
    assert owner_of(cli_store, "+14155550100") is None


def test_did_add_of_a_number_another_account_holds_is_a_conflict(masq):
    ok(masq("did", "add", new_account(masq), "+14155550100"))

    assert "another account" in error_of(masq("did", "add", new_account(masq), "+14155550100"))


def test_did_add_of_something_that_is_not_a_phone_number_names_the_field(masq):
    assert error_of(masq("did", "add", new_account(masq), "+1234")).startswith("number:")


@pytest.mark.parametrize("dial_string", ["+14155550100,,5", "+14155550100#5", "+14155550100;ext=5", "+14155550100 x5"])
def test_did_add_of_a_dial_string_names_the_field_and_claims_no_number(masq, cli_store, dial_string):
    message = error_of(masq("did", "add", new_account(masq), "+14155550101", dial_string))

    assert message.startswith("number:") and "extensions" in message
    assert owner_of(cli_store, "+14155550100") is None and owner_of(cli_store, "+14155550101") is None


def test_did_add_without_numbers_is_a_usage_error(masq):
    assert masq("did", "add", new_account(masq)).exit_code == 2


def test_did_suspend_resume_and_release_show_in_the_assignments(masq):
    auth_id = new_account(masq)
    ok(masq("did", "add", auth_id, "+14155550100", "+14155550101"))

    suspended = ok(masq("did", "suspend", auth_id, "14155550100"))
    assert suspended == {"auth_id": auth_id, "number": "+14155550100", "status": "suspended"}
    assert [a["number"] for a in ok(masq("did", "list", auth_id, "--status", "suspended"))["assignments"]] == [
        "+14155550100"
    ]

    assert ok(masq("did", "resume", auth_id, "+14155550100"))["status"] == "active"
    assert ok(masq("did", "release", auth_id, "+14155550101"))["status"] == "released"

    active = ok(masq("did", "list", auth_id))["assignments"]
    released = ok(masq("did", "list", auth_id, "--status", "released"))["assignments"]
    assert [(a["number"], a["status"], a["released_at"]) for a in active] == [("+14155550100", "active", None)]
    assert [(a["number"], a["status"]) for a in released] == [("+14155550101", "released")]
    assert released[0]["released_at"].endswith("Z")


def test_did_list_on_a_day_shows_every_number_held_that_day(masq, cli_store):
    auth_id = new_account(masq)
    pool.add_numbers(cli_store, auth_id, ["+14155550100"], 1_700_000_000_000_000)  # 2023-11-14
    pool.release_number(cli_store, auth_id, "+14155550100", now_us())

    held = ok(masq("did", "list", auth_id, "--on", "2023-11-14"))["assignments"]
    before = ok(masq("did", "list", auth_id, "--on", "2023-11-13"))["assignments"]

    assert [(a["number"], a["status"], a["assigned_at"]) for a in held] == [
        ("+14155550100", "released", "2023-11-14T22:13:20.000000Z")
    ]
    assert before == []


@pytest.mark.parametrize("args", [["--status", "gone"], ["--on", "2023-02-30"], ["--on", "yesterday"]])
def test_did_list_with_a_bad_filter_is_a_usage_error(masq, args):
    assert masq("did", "list", new_account(masq), *args).exit_code == 2


@pytest.mark.parametrize("verb", ["suspend", "resume", "release"])
def test_did_commands_on_a_number_outside_the_pool_exit_1(masq, verb):
    assert "not in this account's pool" in error_of(masq("did", verb, new_account(masq), "+14155550199"))


# -- redis ------------------------------------------------------------------------------------------------
def test_redis_start_status_and_stop_manage_the_embedded_server(tmp_path):
    runner = CliRunner()
    port = free_port()
    env = {"MASQ_DATA_DIR": str(tmp_path), "MASQ_EMBEDDED_REDIS_PORT": str(port), "REDIS_URL": ""}
    try:
        started = ok(runner.invoke(cli, ["redis", "start"], env=env))
        assert started["running"] is True and started["append_only"] is True
        assert started["url"] == f"redis://127.0.0.1:{port}/0"
        assert Path(str(started["data_dir"])) == tmp_path.resolve()
        assert ok(runner.invoke(cli, ["redis", "status"], env=env))["pid"] == started["pid"]

        assert ok(runner.invoke(cli, ["redis", "stop"], env=env))["stopped"] is True
        assert ok(runner.invoke(cli, ["redis", "status"], env=env))["running"] is False
        assert ok(runner.invoke(cli, ["redis", "stop"], env=env))["stopped"] is False
    finally:
        embedded.stop(port)


def test_redis_stop_refuses_a_server_that_keeps_its_data_elsewhere(tmp_path):
    port = free_port()
    embedded.ensure_running(str(tmp_path / "one"), port)
    try:
        env = {"MASQ_DATA_DIR": str(tmp_path / "other"), "MASQ_EMBEDDED_REDIS_PORT": str(port)}
        assert "not stopping it" in error_of(CliRunner().invoke(cli, ["redis", "stop"], env=env))
        assert embedded.status(port).running
    finally:
        embedded.stop(port)


def test_a_command_told_another_port_uses_the_redis_running_for_its_data_directory(tmp_path):
    runner = CliRunner()
    port, other = free_port(), free_port()
    data = {"MASQ_DATA_DIR": str(tmp_path), "REDIS_URL": ""}
    try:
        ok(runner.invoke(cli, ["redis", "start"], env={**data, "MASQ_EMBEDDED_REDIS_PORT": str(port)}))
        told_other = {**data, "MASQ_EMBEDDED_REDIS_PORT": str(other)}

        created = ok(runner.invoke(cli, ["tenant", "create", "--name", "acme"], env=told_other))

        store = Store.connect(embedded.url_for(port))
        basic = tenants.basic_credential(str(created["auth_id"]), str(created["auth_token"]))
        assert tenants.admit(store, basic, now_us()).name == "acme"
        store.redis.close()
        assert embedded.status(other).running is False
        assert ok(runner.invoke(cli, ["redis", "status"], env=told_other))["port"] == port
        assert ok(runner.invoke(cli, ["redis", "stop"], env=told_other))["stopped"] is True
        assert embedded.running_port(str(tmp_path)) is None
    finally:
        embedded.stop(port)
        embedded.stop(other)


# -- serve ------------------------------------------------------------------------------------------------
def test_serve_answers_http_and_prints_where_it_listens_and_how_to_start(env, tmp_path):
    port = free_port()
    server = _serve(port, {**env, "MASQ_DATA_DIR": str(tmp_path)})
    try:
        status = _first_status(f"http://127.0.0.1:{port}/v1/Account/MA{'0' * 18}/Masking/Session/")
    finally:
        output = _end(server)

    assert status == 401
    assert f"masq listens on http://127.0.0.1:{port}" in output
    assert "masq tenant create" in output and "curl -u AUTH_ID:AUTH_TOKEN" in output
    assert "masq demo" in output


@pytest.mark.parametrize(("args", "stays"), [((), False), (("--keep-redis",), True)])
def test_the_embedded_redis_stops_with_serve_unless_asked_to_stay(tmp_path, args, stays):
    redis_port, port = free_port(), free_port()
    environ = {"REDIS_URL": "", "MASQ_DATA_DIR": str(tmp_path), "MASQ_EMBEDDED_REDIS_PORT": str(redis_port)}
    server = _serve(port, environ, "--no-worker", *args)
    try:
        assert _first_status(f"http://127.0.0.1:{port}/healthz") == 200
        assert embedded.running_port(str(tmp_path)) == redis_port

        _end(server)

        assert (embedded.running_port(str(tmp_path)) == redis_port) is stays
        assert embedded.status(redis_port).running is stays
    finally:
        _end(server)
        embedded.stop(redis_port)


def test_serve_records_its_url_while_it_runs_and_a_second_serve_on_the_folder_is_refused(env, tmp_path):
    port = free_port()
    server = _serve(port, {**env, "MASQ_DATA_DIR": str(tmp_path)}, "--no-worker")
    try:
        _first_status(f"http://127.0.0.1:{port}/healthz")
        recorded = served_url.recorded(str(tmp_path))
        assert recorded is not None and (recorded.url, recorded.pid) == (f"http://127.0.0.1:{port}", server.pid)

        second = CliRunner().invoke(
            cli, ["serve", "--port", str(free_port())], env={**env, "MASQ_DATA_DIR": str(tmp_path)}
        )

        assert second.exit_code == 1
        assert f"masq serve already runs for {tmp_path} at http://127.0.0.1:{port}" in second.stderr
    finally:
        _end(server)
    assert served_url.recorded(str(tmp_path)) is None
    assert not (tmp_path / served_url.FILE).exists()


def _serve(port: int, environ: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start `masq serve --port PORT ARGS…` in the environment `environ` (over this process's)."""
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *args],
        env={**os.environ, **environ},
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def _end(server: subprocess.Popen[str]) -> str:
    """Stop `masq serve` with SIGTERM, then anything left of its process group; return its output."""
    output = ""
    if server.returncode is None:
        server.terminate()
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return output


def _first_status(url: str) -> int:
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
