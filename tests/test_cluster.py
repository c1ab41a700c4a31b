"""The whole flow on a real Redis Cluster of three masters, with tenants on every node.

The cluster is the session's `cluster_url`; the job queue is on the plain Redis of `redis_url`, as the README's
deploy section sets it up. Redis 7 refuses a command whose keys span slots, and a script's access to a key
outside its slot (masq's scripts start with the `#!lua` shebang on a cluster, which asks for that check), so every
step here passing is every step staying in its tenant's slot; the last test checks that the module ran every
script masq has.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from click.testing import CliRunner, Result
from rq import Queue

from app import ops
from app.cli import cli
from app.cli.simulator import CallPlan, Carrier
from routing import due, event_log, lua, metrics, outbox, settings, tenants
from routing.activity import activity, tenant_ids
from routing.calls import reconcile
from routing.calls.live import live_calls
from routing.clock import US
from routing.keys import DEFAULT_PREFIX
from routing.lua import CLUSTER_SHEBANG
from routing.number_mode import set_number_settings
from routing.pool import pool_numbers
from routing.sessions import lifecycle
from routing.store import Store
from tests.conftest import cannot_run, owner_of, serving, wait_for
from tests.fake_twilio import FakeTwilio
from tests.receiver import Receiver
from tests.test_worker_flows import WorkerProcess, forget_queue
from tests.twilio_helpers import ACCOUNT_SID, TOKEN, sign

pytestmark = pytest.mark.integration  # a cluster of redis-servers, a worker process, HTTP servers

TENANTS = 12
DIDS = 3  # each tenant's
FIRST, SECOND = "+14155551234", "+14155554321"
METRICS_TOKEN = "cluster-metrics-token-" + "0" * 32
ROOT = Path(__file__).parent.parent

Masq = Callable[..., Result]


@dataclass(frozen=True)
class Account:
    """A tenant made with `masq tenant create`, its DIDs, and the cluster node its slot is on."""

    auth_id: str
    auth_token: str
    api_key: str
    numbers: list[str]
    node: str

    @property
    def basic(self) -> tuple[str, str]:
        return (self.auth_id, self.auth_token)

    @property
    def plivo_base(self) -> str:
        return f"/v1/Account/{self.auth_id}/Masking/Session/"


def ok(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output + result.stderr
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def error_of(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output + result.stderr
    message: str = json.loads(result.stderr)["error"]
    return message


@pytest.fixture(scope="module")
def cluster_env(cluster_url: str, redis_url: str) -> dict[str, str]:
    """The settings of a deployment on the cluster: the store there, the job queue on a plain Redis."""
    return {
        "REDIS_URL": cluster_url,
        "QUEUE_REDIS_URL": redis_url,
        "MASQ_KEY_PREFIX": DEFAULT_PREFIX,
        "MASQ_QUEUE": f"masqtest-cluster-{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture(scope="module")
def masq(cluster_env: dict[str, str]) -> Masq:
    """Run `masq ARGS…` in-process on the cluster; the result keeps stdout and stderr apart."""
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), env=cluster_env)


@pytest.fixture(scope="module")
def store(cluster_env: dict[str, str]) -> Iterator[Store]:
    store = Store.connect(cluster_env["REDIS_URL"], cluster_env["MASQ_KEY_PREFIX"])
    yield store
    store.redis.close()


@pytest.fixture(scope="module")
def accounts(masq: Masq, store: Store) -> list[Account]:
    """TENANTS tenants made by the CLI, each holding DIDS DIDs, and more until every node has at least one."""
    primaries = {node.name for node in store.redis.get_primaries()}
    assert len(primaries) == 3
    made: list[Account] = []
    while len(made) < TENANTS or {a.node for a in made} != primaries:
        assert len(made) < 10 * TENANTS, "the tenants' slots never reached every node"
        created = ok(masq("tenant", "create", "--name", f"tenant {len(made)}"))
        auth_id = str(created["auth_id"])
        numbers = [f"+1415200{len(made) * DIDS + i:04d}" for i in range(DIDS)]
        assert ok(masq("did", "add", auth_id, *numbers))["added"] == numbers
        node = store.redis.get_node_from_key(store.keys.tenant_base(auth_id)).name
        made.append(Account(auth_id, str(created["auth_token"]), str(created["api_key"]), numbers, node))
    return made


@pytest.fixture(scope="module")
def one_per_node(accounts: list[Account]) -> list[Account]:
    """The first tenant of each node."""
    return list({a.node: a for a in reversed(accounts)}.values())


@pytest.fixture(scope="module")
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def queue(cluster_env: dict[str, str]) -> Iterator[Queue]:
    connection = redis.Redis.from_url(cluster_env["QUEUE_REDIS_URL"])
    yield Queue(cluster_env["MASQ_QUEUE"], connection=connection)
    forget_queue(cluster_env["QUEUE_REDIS_URL"], cluster_env["MASQ_QUEUE"])
    connection.close()


@pytest.fixture(scope="module")
def server(store: Store, queue: Queue, fake_twilio: FakeTwilio) -> Iterator[str]:
    """masq over real HTTP on the cluster; the carrier's webhooks are signed with TOKEN."""
    with serving(
        store,
        QUEUE=queue,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_API_BASE_URL=fake_twilio.url,
        MASQ_SKIP_TWILIO_SIGNATURE=False,
        MASQ_METRICS_TOKEN=METRICS_TOKEN,
    ) as url:
        yield url


@pytest.fixture(scope="module")
def callbacks() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(cluster_env: dict[str, str], fake_twilio: FakeTwilio, queue: Queue) -> Iterator[WorkerProcess]:
    """`masq worker` on the cluster, its queue on the plain Redis; one retry a second later, then a dead letter."""
    process = WorkerProcess(cluster_env["REDIS_URL"], cluster_env["MASQ_KEY_PREFIX"])
    process.env.update(
        QUEUE_REDIS_URL=cluster_env["QUEUE_REDIS_URL"],
        MASQ_QUEUE=queue.name,
        MASQ_CALLBACK_BACKOFF="1",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_API_BASE_URL=fake_twilio.url,
    )
    for name in ("TWILIO_EDGE", "TWILIO_REGION"):
        process.env.pop(name, None)
    yield process.start()
    process.stop()


def plivo(server: str, account: Account, method: str, path: str = "", **json_body: object) -> dict[str, object]:
    """Call the Plivo dialect as `account`; return the JSON answer of a 200."""
    answered = requests.request(
        method, f"{server}{account.plivo_base}{path}", json=json_body or None, auth=account.basic, timeout=10
    )
    assert answered.status_code == 200, answered.text
    payload: dict[str, object] = answered.json()
    return payload


def cloudtalk(server: str, account: Account, method: str, path: str, **json_body: object) -> requests.Response:
    """Call the CloudTalk dialect as `account`."""
    headers = {"X-API-Key": account.api_key}
    return requests.request(method, f"{server}/v1{path}", json=json_body or None, headers=headers, timeout=10)


def names_of(receiver: Receiver, session_uuid: str) -> list[str]:
    return [r.params["EventName"] for r in receiver.requests if r.params.get("SessionUUID") == session_uuid]


# -- tenants and DIDs, by the CLI --------------------------------------------------------------------------------
def test_tenants_made_by_the_cli_fall_on_every_node_and_own_their_dids(accounts, store):
    assert len(accounts) >= TENANTS
    assert len({a.node for a in accounts}) == 3
    assert set(store.redis.smembers(store.keys.tenants())) == {a.auth_id for a in accounts}
    for account in accounts:
        assert tenants.admit(store, tenants.basic_credential(*account.basic), store.now_us()).auth_id == account.auth_id
        assert {owner_of(store, number) for number in account.numbers} == {account.auth_id}


def test_dids_are_added_suspended_resumed_and_released_on_every_node(masq, one_per_node, store):
    for index, account in enumerate(one_per_node):
        number = f"+1415299{index:04d}"
        assert ok(masq("did", "add", account.auth_id, number))["added"] == [number]
        assert ok(masq("did", "suspend", account.auth_id, number))["status"] == "suspended"
        assert ok(masq("did", "resume", account.auth_id, number))["status"] == "active"

        assert ok(masq("did", "release", account.auth_id, number))["status"] == "released"

        assert owner_of(store, number) is None
        assert number not in store.redis.smembers(store.keys.numbers(account.auth_id))
        released = ok(masq("did", "list", account.auth_id, "--status", "released"))["assignments"]
        assert [a["number"] for a in released] == [number]  # type: ignore[index]
        assert error_of(masq("did", "release", account.auth_id, number)) == f"{number} is not in this account's pool"


def test_a_did_carrying_an_open_session_is_not_released_and_the_cli_says_why(masq, server, one_per_node, store):
    account = one_per_node[0]
    created = plivo(server, account, "POST", first_party=FIRST, second_party=SECOND)
    number = str(created["virtual_number"])

    said = error_of(masq("did", "release", account.auth_id, number))

    assert said == f"{number} carries an open session; complete it first"
    assert owner_of(store, number) == account.auth_id
    plivo(server, account, "DELETE", f"{created['session_uuid']}/")


def test_the_consoles_views_read_every_tenant_across_the_nodes(accounts, store):
    shown = activity(store, tenant_ids(store), store.now_us())

    assert {a.auth_id for a in accounts} <= {row.auth_id for row in shown}
    for account in accounts:
        assert [n.number for n in pool_numbers(store, account.auth_id)] == account.numbers


# -- the two API dialects -----------------------------------------------------------------------------------------
def test_the_plivo_dialect_creates_reads_lists_updates_and_completes_on_every_node(server, one_per_node):
    for account in one_per_node:
        created = plivo(server, account, "POST", first_party=FIRST, second_party=SECOND, session_expiry=600)
        uuid_path = f"{created['session_uuid']}/"
        assert created["message"] == "Session created"
        assert created["virtual_number"] in account.numbers

        assert plivo(server, account, "GET", uuid_path)["response"]["status"] == "active"  # type: ignore[index]
        listed = plivo(server, account, "GET")["response"]["objects"]  # type: ignore[index]
        assert created["session_uuid"] in {s["session_uuid"] for s in listed}  # type: ignore[union-attr]
        updated = plivo(server, account, "POST", uuid_path, session_expiry=1200)
        assert updated["message"] == "Session updated"
        assert plivo(server, account, "DELETE", uuid_path)["message"] == "Session Deleted"
        assert plivo(server, account, "GET", uuid_path)["response"]["status"] == "expired"  # type: ignore[index]


def test_the_cloudtalk_dialect_creates_reads_and_completes_and_shows_the_pool_on_every_node(server, one_per_node):
    for account in one_per_node:
        created = cloudtalk(server, account, "POST", "/sessions", driver_phone=FIRST, customer_phone=SECOND)
        assert created.status_code in (200, 201), created.text
        session_id = created.json()["id"]

        read = cloudtalk(server, account, "GET", f"/sessions/{session_id}")
        assert read.status_code == 200 and read.json()["status"] == "active"
        completed = cloudtalk(server, account, "POST", f"/sessions/{session_id}/complete")
        assert completed.status_code == 200, completed.text
        assert cloudtalk(server, account, "GET", f"/sessions/{session_id}").json()["status"] == "completed"

        pool = cloudtalk(server, account, "GET", "/did/pool")
        assert pool.status_code == 200
        assert (pool.json()["size"], pool.json()["in_use"]) == (DIDS, 0)
        assignments = cloudtalk(server, account, "GET", "/did/assignments").json()
        assert sorted(a["e164"] for a in assignments["assignments"]) == account.numbers


def test_a_subaccounts_session_opened_by_its_parent_is_found_through_the_parent(masq, server, one_per_node):
    parent = one_per_node[-1]
    sub_id = str(ok(masq("tenant", "create", "--name", "branch", "--parent", parent.auth_id))["auth_id"])
    number = "+14152980001"
    ok(masq("did", "add", sub_id, number))

    created = plivo(server, parent, "POST", first_party=FIRST, second_party=SECOND, subaccount=sub_id)

    assert created["virtual_number"] == number
    shown = plivo(server, parent, "GET", f"{created['session_uuid']}/")["response"]
    assert shown["status"] == "active"  # type: ignore[index]
    plivo(server, parent, "DELETE", f"{created['session_uuid']}/")


def test_a_wrong_password_is_refused_and_counted_against_its_address(server, one_per_node):
    account = one_per_node[0]
    wrong = requests.get(f"{server}{account.plivo_base}", auth=(account.auth_id, "x" * 32), timeout=10)
    assert wrong.status_code == 401
    assert requests.get(f"{server}{account.plivo_base}", auth=account.basic, timeout=10).status_code == 200


# -- calls ------------------------------------------------------------------------------------------------------
def test_signed_calls_are_identified_bridged_and_reported_on_every_node(server, one_per_node, store):
    for account in one_per_node:
        created = plivo(server, account, "POST", first_party=FIRST, second_party=SECOND, record=True)

        result = Carrier(server, TOKEN).call(CallPlan(FIRST, str(created["virtual_number"]), talk_seconds=30))

        assert (result.ending, result.dialled) == ("bridged", SECOND)
        shown = plivo(server, account, "GET", f"{created['session_uuid']}/")["response"]
        assert shown["total_call_count"] == 1  # type: ignore[index]
        [interaction] = shown["interaction"]  # type: ignore[index]
        assert interaction["first_party_resource_url"].endswith(f"/Call/{result.call_sid}/")
        assert interaction["recording_resource_url"]
        call = requests.get(
            f"{server}/v1/Account/{account.auth_id}/Call/{result.call_sid}/", auth=account.basic, timeout=10
        )
        assert call.status_code == 200, call.text
        plivo(server, account, "DELETE", f"{created['session_uuid']}/")


def test_a_caller_who_keys_the_right_pin_is_bridged(server, one_per_node):
    account = one_per_node[1]
    pins = {
        "is_pin_authentication_required": True,
        "first_party_pin": "1234",
        "second_party_pin": "5678",
        "pin_prompt_play": "https://cdn.example.com/pin.mp3",
    }
    created = plivo(server, account, "POST", first_party=FIRST, second_party=SECOND, **pins)

    result = Carrier(server, TOKEN).call(CallPlan("+14155550999", str(created["virtual_number"]), digits=("1234",)))

    assert result.ending == "bridged"
    plivo(server, account, "DELETE", f"{created['session_uuid']}/")


def test_a_quiet_live_call_is_found_and_closed_as_the_carrier_reports_it(server, one_per_node, store):
    account = one_per_node[2]
    created = plivo(server, account, "POST", first_party=FIRST, second_party=SECOND)
    fields = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": "CA" + uuid.uuid4().hex,
        "CallStatus": "ringing",
        "From": FIRST,
        "To": str(created["virtual_number"]),
        "Direction": "inbound",
    }
    url = f"{server}/voice/inbound"
    answered = requests.post(url, data=fields, headers={"X-Twilio-Signature": sign(url, fields)}, timeout=10)
    assert "<Dial" in answered.text

    assert fields["CallSid"] in [live.call.call_sid for live in live_calls(store, account.auth_id)]
    later = store.now_us() + 3600 * US
    assert fields["CallSid"] in reconcile.quiet_calls(store, account.auth_id, later)
    assert reconcile.close_call(store, account.auth_id, fields["CallSid"], "completed", 5, later) == "ok"
    plivo(server, account, "DELETE", f"{created['session_uuid']}/")


def test_the_first_party_is_called_by_the_worker_and_bridged_on_answer(server, one_per_node, fake_twilio, worker):
    account = one_per_node[0]
    created = plivo(server, account, "POST", first_party=FIRST, second_party=SECOND, initiate_call_to_first_party=True)

    wait_for(lambda: fake_twilio.calls)

    [placed] = [c for c in fake_twilio.calls if c.fields["From"] == created["virtual_number"]]
    url = placed.fields["Url"].partition("#")[0]  # the carrier requests, and signs, the URL without its fragment
    fields = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": placed.sid,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": str(created["virtual_number"]),
        "To": FIRST,
    }
    answered = requests.post(url, data=fields, headers={"X-Twilio-Signature": sign(url, fields)}, timeout=10)
    assert f">{SECOND}</Number>" in answered.text
    plivo(server, account, "DELETE", f"{created['session_uuid']}/")


# -- shared numbers --------------------------------------------------------------------------------------------
def test_sessions_share_a_did_on_every_node_and_calls_reach_the_callers_own(server, one_per_node, store):
    rider, driver_a, driver_b = "+14155550171", "+14155550172", "+14155550173"
    for account in one_per_node:
        settings_now = set_number_settings(store, account.auth_id, "shared")
        assert settings_now.number_mode == "shared"
        try:
            first = plivo(server, account, "POST", first_party=driver_a, second_party=rider)
            second = plivo(server, account, "POST", first_party=driver_b, second_party=rider)
            third = plivo(server, account, "POST", first_party="+14155550175", second_party="+14155550174")
            assert first["virtual_number"] != second["virtual_number"]  # the rider is in both: two DIDs
            # Two new people take a DID already in use (the fullest neither holds), not a free one.
            assert third["virtual_number"] in (first["virtual_number"], second["virtual_number"])

            on_first = Carrier(server, TOKEN).call(CallPlan(rider, str(first["virtual_number"])))
            on_second = Carrier(server, TOKEN).call(CallPlan(rider, str(second["virtual_number"])))

            assert (on_first.ending, on_first.dialled) == ("bridged", driver_a)
            assert (on_second.ending, on_second.dialled) == ("bridged", driver_b)
        finally:
            for created in (locals().get(name) for name in ("first", "second", "third")):
                if created:
                    plivo(server, account, "DELETE", f"{created['session_uuid']}/")
            set_number_settings(store, account.auth_id, "exclusive")


# -- the worker's schedule ----------------------------------------------------------------------------------------
def test_the_due_index_the_doorbell_and_a_retry_made_due_run_on_every_node(one_per_node, store):
    listener = store.redis.pubsub()  # on a cluster, any node: a script's PUBLISH reaches every node
    listener.subscribe(store.keys.due_channel())
    try:
        for account in one_per_node:
            now = store.now_us()
            credential = tenants.basic_credential(*account.basic)
            session = lifecycle.open_session(store, credential, {"first_party": FIRST, "second_party": SECOND}, now)
            try:
                found = due.next_dues(store, [account.auth_id], now, 60_000, 120 * US)[0]
                assert found.sweep is not None and found.sweep <= session.expiry  # it, or a session before it

                # Due before any hint a worker can have written (one may be rewriting it meanwhile): it rings.
                due.ring(store, account.auth_id, 1, now, outbox=False)
                assert heard_ring(listener, account.auth_id, 1)

                assert outbox.retry_now(store, account.auth_id, "1-1", now) is False  # no such retry waiting
                # Handing back a delivery no worker holds hands nothing (a worker losing the tenant hands its own).
                policy = outbox.DEFAULT_POLICY
                assert outbox.hand_back(store, account.auth_id, ["1-1"], "nobody", now, policy) == 0
            finally:
                lifecycle.end_session(store, account.auth_id, session.session_uuid, store.now_us())
    finally:
        listener.close()


def heard_ring(listener: object, auth_id: str, due_at: int, seconds: float = 10.0) -> bool:
    """Return whether `listener` hears a ring for `auth_id` due at `due_at` within `seconds` (others are skipped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = listener.get_message(timeout=0.5)  # type: ignore[attr-defined]
        if message and message["type"] == "message":
            ring = due.parse_ring(str(message["data"]))
            if ring is not None and (ring.auth_id, ring.due) == (auth_id, due_at):
                return True
    return False


# -- expiry, metrics, capacity, readiness --------------------------------------------------------------------------
def test_sessions_past_their_expiry_are_ended_by_the_domains_reclaim(one_per_node, store):
    for account in one_per_node:
        parties = {"first_party": FIRST, "second_party": SECOND, "session_expiry": 60}
        # Opened 61 s ago by Redis' clock: its expiry passed a second ago.
        credential = tenants.basic_credential(*account.basic)
        session = lifecycle.open_session(store, credential, parties, store.now_us() - 61 * US)

        lifecycle.reclaim_expired(store, account.auth_id, store.now_us())  # unless the worker's sweep did already

        found = lifecycle.get_session(store, account.auth_id, session.session_uuid)
        assert found.status(store.now_us()) == "expired"
        told = [event.name for event in event_log.session_events(store, account.auth_id, session.session_uuid)]
        assert "SessionTimeout" in told


def test_metrics_sum_every_tenant_on_every_node_and_are_served(server, accounts, store):
    figures = metrics.gather(store, store.now_us())

    assert figures.tenants == len(store.redis.smembers(store.keys.tenants()))
    assert figures.tenants >= len(accounts)
    served = requests.get(f"{server}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert served.status_code == 200
    assert re.search(rf"^masq_tenants {figures.tenants}(\.0)?$", served.text, re.M)


def test_readyz_pings_every_primary(server, store):
    answered = requests.get(f"{server}/readyz", timeout=10)
    assert (answered.status_code, answered.json()) == (200, {"status": "ok"})
    ops.ping(store.redis, 1.0)


# -- the worker ---------------------------------------------------------------------------------------------------
def test_the_worker_delivers_the_events_of_tenants_on_every_node(server, one_per_node, callbacks, worker):
    opened = [
        (account, plivo(server, account, "POST", first_party=FIRST, second_party=SECOND, callback_url=callbacks.url))
        for account in one_per_node
    ]
    for account, created in opened:
        plivo(server, account, "DELETE", f"{created['session_uuid']}/")

    for _, created in opened:
        wait_for(lambda created=created: "SessionEnded" in names_of(callbacks, str(created["session_uuid"])))


def test_an_undeliverable_event_becomes_a_dead_letter_that_the_cli_replays(server, masq, one_per_node, worker):
    account = one_per_node[1]
    refusing = Receiver(status=500).start()
    try:
        created = plivo(server, account, "POST", first_party=FIRST, second_party=SECOND, callback_url=refusing.url)
        session_uuid = str(created["session_uuid"])
        plivo(server, account, "DELETE", f"{session_uuid}/")

        def dead() -> list[object]:
            failed = ok(masq("callbacks", "failed", account.auth_id))["failed"]
            return [d for d in failed if d["event"]["SessionUUID"] == session_uuid]  # type: ignore[attr-defined, index]

        wait_for(dead)
        refusing.status = 200
        assert ok(masq("callbacks", "replay", account.auth_id))["replayed"]
        wait_for(lambda: [r for r in refusing.requests if r.status == 200 and r.params["SessionUUID"] == session_uuid])
    finally:
        refusing.stop()


def test_the_worker_refuses_to_run_its_queue_on_the_cluster(cluster_env):
    without_queue = {**cluster_env, "QUEUE_REDIS_URL": ""}

    result = CliRunner().invoke(cli, ["worker", "--burst"], env=without_queue)

    assert result.exit_code == 1
    assert "REDIS_URL names a Redis Cluster" in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    with pytest.raises(ValueError, match="QUEUE_REDIS_URL"):
        settings.queue_url(without_queue)


def a_node_of(cluster_url: str) -> str:
    """Return a plain `redis://` URL naming the first node of the cluster at `cluster_url`."""
    return "redis://" + cluster_url.partition("://")[2].split(",")[0]


@pytest.mark.parametrize("command", [["worker", "--burst"], ["web"], ["serve", "--no-worker"]])
def test_a_plain_queue_url_naming_a_cluster_node_is_refused_before_anything_starts(cluster_env, tmp_path, command):
    on_a_node = {**cluster_env, "QUEUE_REDIS_URL": a_node_of(cluster_env["REDIS_URL"]), "MASQ_DATA_DIR": str(tmp_path)}

    result = CliRunner().invoke(cli, command, env=on_a_node)

    said = result.output + result.stderr
    assert result.exit_code == 1, said
    assert "QUEUE_REDIS_URL names a node of a Redis Cluster" in said
    assert "Traceback" not in said and "masq listens" not in said


@pytest.mark.parametrize(
    "command", [["tenant", "create", "--name", "orphan"], ["worker", "--burst"], ["web"], ["serve", "--no-worker"]]
)
def test_a_plain_store_url_naming_a_cluster_node_is_refused_before_anything_is_written(
    cluster_env, store, tmp_path, command
):
    on_a_node = {**cluster_env, "REDIS_URL": a_node_of(cluster_env["REDIS_URL"]), "MASQ_DATA_DIR": str(tmp_path)}
    tenants_before = store.redis.smembers(store.keys.tenants())
    records_before = sorted(store.redis.scan_iter(match=store.keys.prefix + "t:*", count=1000))

    result = CliRunner().invoke(cli, command, env=on_a_node)

    said = result.output + result.stderr
    assert result.exit_code == 1, said
    assert "REDIS_URL names a node of a Redis Cluster" in said and "redis+cluster://" in said
    assert "Traceback" not in said and "masq listens" not in said and "auth_token" not in said
    assert store.redis.smembers(store.keys.tenants()) == tenants_before
    assert sorted(store.redis.scan_iter(match=store.keys.prefix + "t:*", count=1000)) == records_before


def test_a_plain_store_url_naming_a_cluster_node_with_no_queue_is_refused(cluster_env):
    on_a_node = {**cluster_env, "REDIS_URL": a_node_of(cluster_env["REDIS_URL"]), "QUEUE_REDIS_URL": ""}

    with pytest.raises(
        ValueError, match=r"REDIS_URL names a node of a Redis Cluster.*name the cluster as redis\+cluster"
    ):
        settings.check_queue(on_a_node)


def test_serve_refuses_a_cluster_with_no_queue_before_it_says_it_listens(cluster_env, tmp_path):
    without_queue = {**cluster_env, "QUEUE_REDIS_URL": "", "MASQ_DATA_DIR": str(tmp_path)}

    result = CliRunner().invoke(cli, ["serve", "--no-worker"], env=without_queue)

    said = result.output + result.stderr
    assert result.exit_code == 1
    assert "REDIS_URL names a Redis Cluster" in said
    assert "masq listens" not in said and "Traceback" not in said


def test_a_script_reaching_outside_its_tenants_slot_is_refused_even_on_the_same_node(accounts, store):
    by_node: dict[str, list[Account]] = {}
    for account in accounts:
        by_node.setdefault(account.node, []).append(account)
    [own, other, *_] = max(by_node.values(), key=len)  # TENANTS tenants on 3 nodes: one node has two
    peek = lua.build("--! include base.lua\nreturn redis.call('HGET', ARGV[2], 'name')")

    with pytest.raises(redis.ResponseError, match="do not hash to the same slot"):
        store.redis.register_script(CLUSTER_SHEBANG + peek)(
            keys=[store.keys.tenant_base(own.auth_id)], args=[store.now_us(), store.keys.tenant(other.auth_id)]
        )
    assert store.script("metrics.lua").script.startswith(CLUSTER_SHEBANG)


# -- every script ---------------------------------------------------------------------------------------------------
def scripts_masq_runs() -> set[str]:
    """Return the name of every script the code runs: each `"name.lua"` in app/, routing/ and workers/."""
    found: set[str] = set()
    for folder in ("app", "routing", "workers"):
        for path in (ROOT / folder).rglob("*.py"):
            found.update(re.findall(r"\"(\w+\.lua)\"", path.read_text(encoding="utf-8")))
    return found


def test_every_script_ran_on_the_cluster(request, store):
    module = request.node.module.__name__
    ran_here = [item for item in request.session.items if item.module.__name__ == module]
    if len(ran_here) < len([name for name in dir(request.node.module) if name.startswith("test_")]):
        cannot_run("the module's other tests were deselected: they are what runs the scripts")
    primaries = store.redis.get_primaries()
    never = []
    for name in sorted(scripts_masq_runs()):
        sha = store.script(name).sha
        if not all(store.redis.get_redis_connection(node).script_exists(sha)[0] for node in primaries):
            never.append(name)
    assert never == [], f"scripts this module never ran on the cluster: {never}"
