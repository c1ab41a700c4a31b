"""Failed logins are bounded per client address and per account; credentials never reach Redis as themselves."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import fakeredis
import pytest
import redis
import requests

from app.cli import embedded
from routing import logins, settings, tenants
from routing.clock import US, now_us
from routing.errors import TooManyFailedLogins, Unauthenticated
from routing.keys import Keys
from routing.logins import LoginBudget
from routing.sessions import lifecycle
from routing.store import Store
from routing.tenants import Tenant
from tests.conftest import _free_port, changed, make_tenant, serving

NOW = 1_710_000_000_000_000
BUDGET = LoginBudget(failures=3, window=60, account_failures=5)  # one failure back every 20 s, the account's 12 s
ATTACKER, TENANT_SERVER = "203.0.113.7", "198.51.100.20"
PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}


def login(store, tenant, token, now=NOW, address=ATTACKER, budget=BUDGET) -> Tenant:
    return tenants.admit(store, tenants.basic_credential(tenant.auth_id, token, 0, 0, address, budget), now)


def answer(store, tenant, token, now=NOW, address=ATTACKER, budget=BUDGET) -> int | str:
    """Return "ok", "wrong" (401), or the seconds a held login is told to wait (429)."""
    try:
        login(store, tenant, token, now, address, budget)
    except TooManyFailedLogins as held:
        return held.retry_after
    except Unauthenticated:
        return "wrong"
    return "ok"


def failure_keys(store) -> list[str]:
    return sorted(store.redis.scan_iter(match=f"{store.keys.prefix}*failed-logins*"))


@pytest.fixture
def commands(store, monkeypatch) -> list[str]:
    """Record the name of every command the store sends (a script is one EVALSHA: one round trip).

    Redis' clock is read first: a process asks for it once per ten seconds, not for the request counted here.
    """
    store.now_us()
    sent: list[str] = []
    send = store.redis.execute_command

    def counting(*args, **options):
        sent.append(str(args[0]))
        return send(*args, **options)

    monkeypatch.setattr(store.redis, "execute_command", counting)
    return sent


# -- an address at one account -------------------------------------------------------------------------------
def test_an_address_gets_its_failures_then_is_held_before_its_credential_is_checked(store, tenant):
    wrong = changed(tenant.auth_token)

    answers = [answer(store, tenant, wrong) for _ in range(BUDGET.failures + 2)]

    assert answers == ["wrong"] * BUDGET.failures + [20, 20]
    assert answer(store, tenant, tenant.auth_token) == 20  # held: not even the right token is looked at


def test_retry_after_is_when_the_next_try_is_checked_again(store, tenant):
    wrong = changed(tenant.auth_token)
    for _ in range(BUDGET.failures):
        answer(store, tenant, wrong)
    retry_after = answer(store, tenant, wrong)
    assert retry_after == 20

    assert answer(store, tenant, tenant.auth_token, NOW + retry_after * US - 1) == 1
    assert answer(store, tenant, tenant.auth_token, NOW + retry_after * US) == "ok"
    assert answer(store, tenant, wrong, NOW + retry_after * US) == "wrong"
    assert answer(store, tenant, wrong, NOW + retry_after * US) == 20


def test_the_whole_budget_is_back_after_a_quiet_window_and_its_keys_expire_then(store, tenant):
    start = now_us()
    for _ in range(BUDGET.failures):
        answer(store, tenant, changed(tenant.auth_token), start)
    ttls = [store.redis.pttl(key) for key in failure_keys(store)]  # the address's here and everywhere, the account's

    later = start + round(BUDGET.window * US)
    assert [answer(store, tenant, changed(tenant.auth_token), later) for _ in range(4)] == ["wrong"] * 3 + [20]
    assert len(ttls) == 3 and all(0 < ttl <= BUDGET.window * 1000 + 1 for ttl in ttls)


def test_a_right_credential_counts_nothing(store, tenant):
    for _ in range(3 * BUDGET.failures):
        assert login(store, tenant, tenant.auth_token).auth_id == tenant.auth_id
        assert (
            tenants.admit(store, tenants.api_key_credential(tenant.api_key, 0, 0, ATTACKER, BUDGET), NOW).auth_id
            == tenant.auth_id
        )

    assert failure_keys(store) == []


def test_a_wrong_api_key_is_a_failed_login_of_its_account_as_a_wrong_token_is(store, tenant):
    key = tenants.api_key_credential(changed(tenant.api_key), 0, 0, ATTACKER, BUDGET)
    for _ in range(BUDGET.failures):
        with pytest.raises(Unauthenticated, match="X-API-Key"):
            tenants.admit(store, key, NOW)

    assert answer(store, tenant, tenant.auth_token) == 20


# -- the account from every address ----------------------------------------------------------------------------
def test_a_right_login_from_a_clean_address_works_while_others_guess_at_the_account(store, tenant):
    wrong = changed(tenant.auth_token)
    guessers = [f"203.0.113.{i}" for i in range(1, 30)]
    told = {address: [answer(store, tenant, wrong, address=address) for _ in range(2)] for address in guessers}
    assert told[guessers[0]] == told[guessers[1]] == ["wrong", "wrong"]
    assert told[guessers[2]] == ["wrong", 12]  # the account's fifth: it has no room for a sixth for 12 s
    assert told[guessers[-1]] == ["wrong", 12]  # a new address is checked once, then waits for the account

    assert answer(store, tenant, tenant.auth_token, address=TENANT_SERVER) == "ok"
    assert answer(store, tenant, tenant.auth_token, address=guessers[0]) == 12  # an address that failed here


def test_the_account_holds_an_address_that_failed_there_until_either_has_room(store, tenant):
    wrong = changed(tenant.auth_token)
    answer(store, tenant, wrong, NOW, TENANT_SERVER)  # the tenant's own typo: on record for 20 s
    attack = NOW + 15 * US
    for address in (f"203.0.113.{i}" for i in range(BUDGET.account_failures)):
        answer(store, tenant, wrong, attack, address)  # the account's failures are spent for 12 s

    assert answer(store, tenant, tenant.auth_token, attack, TENANT_SERVER) == 5  # its own record goes first
    assert answer(store, tenant, tenant.auth_token, NOW + 20 * US, TENANT_SERVER) == "ok"
    assert answer(store, tenant, tenant.auth_token, NOW + 20 * US, "203.0.113.0") == 7  # the account's room


# -- an address at every account ---------------------------------------------------------------------------------
def test_an_address_that_tries_many_accounts_is_held_over_all_of_them(store):
    accounts = [make_tenant(store, dids=[], name=f"t{i}") for i in range(BUDGET.failures + 1)]

    answers = [answer(store, account, changed(account.auth_token)) for account in accounts]

    assert answers == ["wrong"] * BUDGET.failures + [20]
    assert answer(store, accounts[-1], accounts[-1].auth_token) == 20
    assert answer(store, accounts[-1], accounts[-1].auth_token, address=TENANT_SERVER) == "ok"


def test_every_web_process_agrees_once_it_has_seen_the_address_fail(store):
    accounts = [make_tenant(store, dids=[], name=f"t{i}") for i in range(BUDGET.failures + 2)]
    for account in accounts[: BUDGET.failures]:
        answer(store, account, changed(account.auth_token))
    server = store.redis.connection_pool.connection_kwargs["server"]
    other_process = Store(fakeredis.FakeRedis(server=server, decode_responses=True), store.keys)

    # the other process has not seen the address fail: one more try is checked there, and then it knows
    assert answer(other_process, accounts[-2], changed(accounts[-2].auth_token)) == "wrong"
    assert answer(other_process, accounts[-1], accounts[-1].auth_token) == 20


def test_a_process_asks_about_an_address_only_while_it_has_failures_on_record(store, tenant, commands):
    answer(store, tenant, changed(tenant.auth_token), address=TENANT_SERVER)  # loads the scripts
    commands.clear()

    login(store, tenant, tenant.auth_token)
    assert commands == ["EVALSHA"]  # never failed: one round trip
    commands.clear()
    answer(store, tenant, changed(tenant.auth_token))
    assert commands == ["EVALSHA", "EVALSHA"]  # the check, then the failure counted for the address
    commands.clear()
    login(store, tenant, tenant.auth_token, NOW + 1)
    assert commands == ["EVALSHA", "EVALSHA"]  # the address is asked about first
    commands.clear()
    login(store, tenant, tenant.auth_token, NOW + 20 * US)
    assert commands == ["EVALSHA"]  # its record is gone by now


def test_a_create_is_one_round_trip_from_an_address_that_has_not_failed(store, tenant, commands):
    credential = tenants.basic_credential(tenant.auth_id, tenant.auth_token, 0, 0, TENANT_SERVER, BUDGET)
    lifecycle.open_session(store, credential, PARTIES, NOW)  # loads the script
    commands.clear()

    lifecycle.open_session(store, credential, PARTIES, NOW)

    assert commands == ["EVALSHA"]


def test_a_process_remembers_a_bounded_number_of_failing_addresses(store, tenant, monkeypatch):
    monkeypatch.setattr(logins, "KEPT", 5)
    for i in range(12):
        answer(store, tenant, changed(tenant.auth_token), address=f"192.0.2.{i}", budget=LoginBudget(3, 60, 0))

    assert 0 < len(store.failing_addresses) <= 5


@pytest.mark.parametrize("off", [LoginBudget(0, 60, 5), LoginBudget(5, 0, 5)], ids=["no failures", "no window"])
def test_no_bound_counts_nothing(store, tenant, off):
    assert {answer(store, tenant, changed(tenant.auth_token), budget=off) for _ in range(50)} == {"wrong"}
    assert failure_keys(store) == [] and store.failing_addresses == {}


# -- client addresses -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("remote_addr", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", "unknown"),
        (None, "unknown"),
        ("/run/masq.sock", "unknown"),
    ],
)
def test_a_client_is_counted_by_its_ip_address_and_an_ipv6_one_by_its_64(remote_addr, counted_as):
    assert logins.client_address(remote_addr) == counted_as


# -- credentials longer than masq issues, and what Redis is given ------------------------------------------------
def test_masq_issues_tokens_and_keys_no_longer_than_it_accepts(store):
    for i in range(20):
        made = tenants.create_tenant(store, f"t{i}", NOW)
        assert len(made.auth_token) == tenants.AUTH_TOKEN_LENGTH
        assert len(made.api_key) == tenants.API_KEY_LENGTH


def test_a_credential_longer_than_masq_issues_is_refused_without_redis(store, tenant, monkeypatch):
    def unreachable(*args, **kwargs):
        raise AssertionError("nothing should be sent")

    monkeypatch.setattr(store.redis, "execute_command", unreachable)
    with pytest.raises(Unauthenticated, match="auth_token"):
        login(store, tenant, "x" * 6000)
    with pytest.raises(Unauthenticated, match="auth_token"):
        login(store, tenant, tenant.auth_token + "x")
    with pytest.raises(Unauthenticated, match="X-API-Key"):
        tenants.admit(store, tenants.api_key_credential(tenant.api_key + "x"), NOW)
    with pytest.raises(Unauthenticated):
        lifecycle.open_session(store, tenants.basic_credential(tenant.auth_id, "x" * 6000), PARTIES, NOW)


def test_a_script_is_given_a_digest_of_the_secret_never_the_secret(tenant):
    token = tenants.basic_credential(tenant.auth_id, tenant.auth_token, 0, 0, ATTACKER, BUDGET)
    key = tenants.api_key_credential(tenant.api_key, 0, 0, ATTACKER, BUDGET)
    secret = tenant.api_key.rsplit("_", 1)[1]

    assert hashlib.sha256(tenant.auth_token.encode()).hexdigest() in token.arguments()
    assert hashlib.sha256(tenant.api_key.encode()).hexdigest() in key.arguments()
    assert not any(tenant.auth_token in str(arg) or secret in str(arg) for arg in token.arguments() + key.arguments())


def test_a_record_written_before_its_tokens_digest_was_kept_is_given_one_at_its_first_login(store, tenant):
    record = store.keys.tenant(tenant.auth_id)
    store.redis.hdel(record, tenants.TOKEN_DIGEST_FIELD)

    with pytest.raises(Unauthenticated):
        login(store, tenant, changed(tenant.auth_token))
    assert login(store, tenant, tenant.auth_token).auth_id == tenant.auth_id

    assert (
        store.redis.hget(record, tenants.TOKEN_DIGEST_FIELD) == hashlib.sha256(tenant.auth_token.encode()).hexdigest()
    )
    assert tenants.auth_token_of(store, tenant.auth_id) == tenant.auth_token


# -- over HTTP: the issue's inputs -------------------------------------------------------------------------------
ISSUE_TRIES = 6000  # the issue's: all 401, never a 429
HTTP_TRIES = 300


def test_wrong_tokens_from_one_address_are_held_after_the_tenth_with_an_honest_retry_after(client, tenant, monkeypatch):
    monkeypatch.setattr(Store, "now_us", lambda self: NOW)
    wrong = (tenant.auth_id, changed(tenant.auth_token))

    answers = [client.get(tenant.plivo_base, auth=wrong) for _ in range(logins.FAILURES + 5)]

    assert [r.status_code for r in answers] == [401] * logins.FAILURES + [429] * 5
    assert {r.headers["Retry-After"] for r in answers[logins.FAILURES :]} == {"60"}  # one failure back a minute
    assert set(answers[-1].get_json()) == {"api_id", "error"}
    assert answers[-1].get_json()["error"] == "too many failed logins from this address; retry after 60 s"
    monkeypatch.setattr(Store, "now_us", lambda self: NOW + 60 * US)
    assert client.get(tenant.plivo_base, auth=tenant.basic).status_code == 200
    assert client.get(tenant.plivo_base, auth=wrong).status_code == 401
    assert client.get(tenant.plivo_base, auth=wrong).status_code == 429


def test_six_thousand_wrong_tokens_are_held_after_the_tenth(store, tenant):
    budget = settings.login_budget(settings.from_environment({}))
    wrong = changed(tenant.auth_token)

    answers = Counter(answer(store, tenant, wrong, budget=budget) for _ in range(ISSUE_TRIES))

    assert answers == {"wrong": logins.FAILURES, 60: ISSUE_TRIES - logins.FAILURES}


def test_wrong_tokens_racing_over_http_are_held_after_the_tenth_exactly(real_store):
    tenant = make_tenant(real_store, dids=[])
    wrong = (tenant.auth_id, changed(tenant.auth_token))
    local = threading.local()

    def one(url: str) -> tuple[int, str]:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        with local.http.get(url, auth=wrong, timeout=10) as response:
            return response.status_code, response.headers.get("Retry-After", "")

    with (
        serving(real_store, MASQ_LOGIN_WINDOW=36_000) as base,  # one failure back an hour: none comes back here
        ThreadPoolExecutor(8) as pool,
    ):
        answers = list(pool.map(one, [f"{base}{tenant.plivo_base}"] * HTTP_TRIES))

    statuses = Counter(status for status, _ in answers)
    assert statuses == {401: logins.FAILURES, 429: HTTP_TRIES - logins.FAILURES}  # exact, however they race
    assert all(3500 <= int(retry_after) <= 3600 for status, retry_after in answers if status == 429)


def test_wrong_api_keys_are_held_too_and_a_held_client_is_not_named_in_the_logs(client, tenant, capsys):
    headers = {"X-API-Key": changed(tenant.api_key)}
    statuses = [client.get("/v1/did/assignments", headers=headers).status_code for _ in range(logins.FAILURES + 1)]
    assert statuses == [401] * logins.FAILURES + [429]

    response = client.post("/v1/sessions", headers={"X-API-Key": tenant.api_key}, json={"driver_phone": "+1"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "60"  # held before the body is read
    assert tenant.auth_id not in capsys.readouterr().err


def test_a_right_login_from_another_address_works_during_the_attack(client, tenant):
    wrong = (tenant.auth_id, changed(tenant.auth_token))
    for i in range(2 * logins.ACCOUNT_FAILURES):
        client.get(tenant.plivo_base, auth=wrong, environ_base={"REMOTE_ADDR": f"203.0.113.{i}"})
    held = client.get(tenant.plivo_base, auth=tenant.basic, environ_base={"REMOTE_ADDR": "203.0.113.0"})
    assert held.status_code == 429  # an address that failed here waits for the account

    response = client.post(
        tenant.plivo_base, auth=tenant.basic, json=PARTIES, environ_base={"REMOTE_ADDR": TENANT_SERVER}
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["message"] == "Session created"


def test_a_six_thousand_character_password_is_refused_before_redis(client, tenant, store, commands):
    response = client.get(tenant.plivo_base, auth=(tenant.auth_id, "p" * 6000))

    assert response.status_code == 401
    assert response.get_json()["error"] == "authentication failed: wrong auth_id or auth_token"
    assert commands == []


def test_the_defaults_are_ten_failures_in_ten_minutes_and_a_hundred_at_an_account():
    assert settings.login_budget(settings.from_environment({})) == LoginBudget(10, 600, 100)


def test_the_bounds_are_read_from_the_environment(monkeypatch, make_app, tenant):
    monkeypatch.setenv("MASQ_LOGIN_FAILURES", "2")
    monkeypatch.setenv("MASQ_LOGIN_WINDOW", "30")
    client = make_app().test_client()

    answers = [client.get(tenant.plivo_base, auth=(tenant.auth_id, "wrong")) for _ in range(3)]

    assert [r.status_code for r in answers] == [401, 401, 429]
    assert answers[-1].headers["Retry-After"] == "15"


def test_a_bound_of_zero_turns_the_login_bounds_off(make_app, tenant):
    client = make_app(MASQ_LOGIN_FAILURES=0).test_client()

    assert {client.get(tenant.plivo_base, auth=(tenant.auth_id, "wrong")).status_code for _ in range(30)} == {401}


# -- SLOWLOG on a Redis of the test's own ------------------------------------------------------------------------
@pytest.fixture
def own_redis(tmp_path) -> Iterator[redis.Redis]:
    """A redis-server of this test's own (SLOWLOG is server-wide), logging every command in its SLOWLOG."""
    port = _free_port()
    url = embedded.ensure_running(str(tmp_path), port)
    client = redis.Redis.from_url(url, decode_responses=True)
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 10_000)
    yield client
    client.close()
    embedded.stop(port)


@pytest.mark.integration
def test_no_login_shows_its_secret_in_redis_slowlog(own_redis, make_app):
    store = Store(own_redis, Keys("slowlog:"))
    tenant = make_tenant(store)
    client = make_app(STORE=store).test_client()
    own_redis.slowlog_reset()

    client.post(tenant.plivo_base, auth=tenant.basic, json=PARTIES)
    client.get(tenant.plivo_base, auth=(tenant.auth_id, changed(tenant.auth_token)))
    client.get("/v1/did/assignments", headers={"X-API-Key": tenant.api_key})

    logged = [bytes(entry["command"]).decode() for entry in own_redis.slowlog_get(10_000)]
    secret = tenant.api_key.removeprefix(f"mk_{tenant.auth_id}_")  # its random part, which may hold `_` itself
    assert sum("EVALSHA" in command for command in logged) >= 4
    assert not [command for command in logged if tenant.auth_token in command or secret in command]
