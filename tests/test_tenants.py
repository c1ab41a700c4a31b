import dataclasses
import hashlib
import re

import pytest

from routing import tenants
from routing.clock import US
from routing.errors import InvalidInput, NotFound, RateLimited, Unauthenticated
from routing.tenants import (
    Tenant,
    admit,
    api_key_credential,
    auth_token_of,
    basic_credential,
    create_tenant,
    get_tenant,
    subaccount_of,
)
from tests.conftest import TenantFixture, changed, make_tenant

NOW = 1_710_000_000_000_000
UNKNOWN_ID = "MA" + "Z" * 18
# Secrets with letters of both cases, so that the same secret in another case surely differs from it.
KNOWN_TOKEN = "KnownToken0123456789abcdefABCDEF01234567"
KNOWN_SECRET = "KnownSecret-0123456789_abcdefABC"  # as long as the secret of an issued key


def with_known_secrets(store, tenant: TenantFixture) -> TenantFixture:
    """Give `tenant` the auth token KNOWN_TOKEN and an API key ending in KNOWN_SECRET; return it so."""
    api_key = f"mk_{tenant.auth_id}_{KNOWN_SECRET}"
    store.redis.hset(
        store.keys.tenant(tenant.auth_id),
        mapping={
            "auth_token": KNOWN_TOKEN,
            "auth_token_sha256": hashlib.sha256(KNOWN_TOKEN.encode()).hexdigest(),
            "api_key_sha256": hashlib.sha256(api_key.encode()).hexdigest(),
        },
    )
    return dataclasses.replace(tenant, auth_token=KNOWN_TOKEN, api_key=api_key)


def test_known_secrets_authenticate_and_differ_in_another_case(store, tenant):
    known = with_known_secrets(store, tenant)

    assert basic(store, known.auth_id, known.auth_token).auth_id == tenant.auth_id
    assert by_key(store, known.api_key).auth_id == tenant.auth_id
    assert KNOWN_TOKEN.swapcase() != KNOWN_TOKEN and KNOWN_SECRET.swapcase() != KNOWN_SECRET


# -- auth_id shapes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("auth_id", "valid"),
    [
        ("MA0123456789ABCDEFGH", True),
        ("SA0123456789ABCDEFGH", True),
        ("MAZZZZZZZZZZZZZZZZZZ", True),
        ("XA0123456789ABCDEFGH", False),
        ("ma0123456789ABCDEFGH", False),
        ("MA0123456789abcdefgh", False),
        ("MA0123456789ABCDEFG", False),
        ("MA0123456789ABCDEFGHI", False),
        ("MA0123456789ABCDEF_H", False),
        ("", False),
    ],
)
def test_an_auth_id_is_ma_or_sa_and_eighteen_upper_case_letters_or_digits(auth_id, valid):
    assert bool(tenants.AUTH_ID.fullmatch(auth_id)) is valid


def test_a_new_tenant_gets_an_ma_auth_id_and_is_registered(store):
    creds = create_tenant(store, "acme", NOW)
    assert re.fullmatch(r"MA[A-Z0-9]{18}", creds.auth_id)
    assert store.redis.sismember(store.keys.tenants(), creds.auth_id)
    assert get_tenant(store, creds.auth_id) == Tenant(creds.auth_id, "acme", "")


def test_a_subaccount_gets_an_sa_auth_id_and_remembers_its_parent(store):
    parent = create_tenant(store, "acme", NOW)
    sub = create_tenant(store, "acme support", NOW, parent=parent.auth_id)
    assert re.fullmatch(r"SA[A-Z0-9]{18}", sub.auth_id)
    assert get_tenant(store, sub.auth_id) == Tenant(sub.auth_id, "acme support", parent.auth_id)


def test_every_tenant_gets_its_own_credentials(store):
    first, second = create_tenant(store, "acme", NOW), create_tenant(store, "acme", NOW)
    assert first.auth_id != second.auth_id
    assert first.auth_token != second.auth_token
    assert first.api_key != second.api_key


@pytest.mark.parametrize("name", ["", "x" * 201])
def test_a_tenant_name_is_one_to_two_hundred_characters(store, name):
    with pytest.raises(InvalidInput) as caught:
        create_tenant(store, name, NOW)
    assert caught.value.field == "name"


def test_a_subaccount_cannot_have_subaccounts(store):
    parent = create_tenant(store, "acme", NOW)
    sub = create_tenant(store, "support", NOW, parent=parent.auth_id)
    with pytest.raises(InvalidInput, match="cannot have subaccounts") as caught:
        create_tenant(store, "nested", NOW, parent=sub.auth_id)
    assert caught.value.field == "parent"


def test_a_subaccount_of_an_unknown_parent_is_not_created(store):
    with pytest.raises(NotFound):
        create_tenant(store, "orphan", NOW, parent=UNKNOWN_ID)
    assert store.redis.scard(store.keys.tenants()) == 0


@pytest.mark.parametrize("auth_id", [UNKNOWN_ID, "not-an-id", "", "MA123"])
def test_an_unknown_or_malformed_tenant_is_not_found(store, auth_id):
    with pytest.raises(NotFound):
        get_tenant(store, auth_id)


def test_the_auth_token_can_be_read_back_to_sign_callbacks(store, tenant):
    assert auth_token_of(store, tenant.auth_id) == tenant.auth_token
    with pytest.raises(NotFound):
        auth_token_of(store, UNKNOWN_ID)


# -- basic auth -------------------------------------------------------------------------------------------
def basic(store, auth_id, auth_token, now=NOW, limit=0, window=0):
    return admit(store, basic_credential(auth_id, auth_token, limit, window), now)


def by_key(store, api_key, now=NOW, limit=0, window=0):
    return admit(store, api_key_credential(api_key, limit, window), now)


def test_basic_auth_with_the_right_token_returns_the_tenant(store, tenant):
    assert basic(store, tenant.auth_id, tenant.auth_token) == Tenant(tenant.auth_id, "acme", "")


@pytest.mark.parametrize(
    "wrong",
    [
        {"auth_token": "x" * 40},
        {"auth_token": ""},
        {"auth_token": None},
        {"auth_id": UNKNOWN_ID},
        {"auth_id": "not-an-auth-id"},
        {"auth_id": ""},
        {"auth_id": None},
    ],
)
def test_basic_auth_fails_with_a_wrong_token_or_an_unknown_or_malformed_id(store, tenant, wrong):
    given = {"auth_id": tenant.auth_id, "auth_token": tenant.auth_token, **wrong}
    assert given["auth_token"] != tenant.auth_token or given["auth_id"] != tenant.auth_id
    with pytest.raises(Unauthenticated, match="wrong auth_id or auth_token"):
        basic(store, given["auth_id"], given["auth_token"])


def test_a_malformed_auth_id_is_refused_without_a_round_trip(store, monkeypatch):
    def unreachable(*args, **kwargs):
        raise AssertionError("nothing should be sent")

    monkeypatch.setattr(store.redis, "execute_command", unreachable)
    with pytest.raises(Unauthenticated):
        basic(store, "not-an-auth-id", "t" * 40)
    with pytest.raises(Unauthenticated, match="X-API-Key"):
        by_key(store, "mk_nope_secret")


def test_basic_auth_with_the_token_in_another_case_fails(store, tenant):
    known = with_known_secrets(store, tenant)
    with pytest.raises(Unauthenticated):
        basic(store, known.auth_id, KNOWN_TOKEN.swapcase())


def test_basic_auth_with_another_tenants_token_fails(store, tenant):
    other = make_tenant(store, dids=[], name="other")
    with pytest.raises(Unauthenticated):
        basic(store, tenant.auth_id, other.auth_token)


@pytest.mark.parametrize(
    "change",
    [
        lambda token: token[:-1],
        lambda token: token + "A",
        lambda token: "",
        lambda token: ("B" if token[0] != "B" else "C") + token[1:],
        lambda token: token[:20] + ("B" if token[20] != "B" else "C") + token[21:],
        changed,  # the last character
        lambda token: "\0" * len(token),
        lambda token: "é" * (len(token) // 2),  # as many bytes, other characters
        lambda token: token * 2,
    ],
    ids=[
        "one short",
        "one long",
        "empty",
        "first differs",
        "middle differs",
        "last differs",
        "nul bytes",
        "multi-byte",
        "twice",
    ],
)
def test_basic_auth_takes_the_token_exactly(store, tenant, change):
    with pytest.raises(Unauthenticated, match="wrong auth_id or auth_token"):
        basic(store, tenant.auth_id, change(tenant.auth_token))


def test_a_record_with_an_empty_token_never_authenticates(store, tenant):
    store.redis.hset(store.keys.tenant(tenant.auth_id), "auth_token", "")

    with pytest.raises(Unauthenticated):
        basic(store, tenant.auth_id, "")


def test_a_token_without_a_tenant_record_is_not_found_as_before(store):
    store.redis.hset(store.keys.tenant(UNKNOWN_ID), "auth_token", "t" * 40)

    with pytest.raises(NotFound):
        basic(store, UNKNOWN_ID, "t" * 40)
    with pytest.raises(Unauthenticated):
        basic(store, UNKNOWN_ID, "u" * 40)


# -- authentication and the rate limit in one step -------------------------------------------------------
LIMIT, WINDOW = 3, 60  # one request every 20 s once the burst of 3 is spent


def retry_after(admitting) -> int:
    """Return 0 when `admitting()` admits the request, else the seconds its RateLimited says to wait."""
    try:
        admitting()
    except RateLimited as refused:
        return refused.retry_after
    return 0


def test_admit_counts_a_request_against_the_limit_once_the_token_is_right(store, tenant):
    answers = [
        retry_after(lambda: basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW))
        for _ in range(LIMIT + 1)
    ]

    assert answers == [0] * LIMIT + [20]
    assert basic(store, tenant.auth_id, tenant.auth_token, NOW + 20 * US, LIMIT, WINDOW) == Tenant(
        tenant.auth_id, "acme", ""
    )


def test_over_the_limit_the_error_says_the_limit_and_when_to_retry(store, tenant):
    for _ in range(LIMIT):
        basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)

    with pytest.raises(RateLimited) as refused:
        basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)

    assert refused.value.retry_after == 20
    assert refused.value.message == "too many requests: at most 3 every 60 s; retry after 20 s"


def test_a_wrong_token_never_spends_the_tenants_allowance(store, tenant):
    for _ in range(3 * LIMIT):
        with pytest.raises(Unauthenticated):
            basic(store, tenant.auth_id, changed(tenant.auth_token), NOW, LIMIT, WINDOW)
        with pytest.raises(Unauthenticated):
            by_key(store, tenant.api_key + "x", NOW, LIMIT, WINDOW)

    assert not store.redis.exists(store.keys.rate_limit(tenant.auth_id))
    for _ in range(LIMIT):
        basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)


def test_a_credential_without_a_tenant_record_spends_nothing(store):
    store.redis.hset(store.keys.tenant(UNKNOWN_ID), "auth_token", "t" * 40)

    with pytest.raises(NotFound):
        basic(store, UNKNOWN_ID, "t" * 40, NOW, LIMIT, WINDOW)
    assert not store.redis.exists(store.keys.rate_limit(UNKNOWN_ID))


def test_an_api_key_draws_on_the_same_limit_as_basic_auth(store, tenant):
    basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)
    by_key(store, tenant.api_key, NOW, LIMIT, WINDOW)

    assert by_key(store, tenant.api_key, NOW, LIMIT, WINDOW) == Tenant(tenant.auth_id, "acme", "")
    assert retry_after(lambda: basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)) == 20


def test_an_uncounted_credential_is_checked_but_spends_nothing(store, tenant):
    credential = basic_credential(tenant.auth_id, tenant.auth_token, LIMIT, WINDOW)

    for _ in range(2 * LIMIT):
        assert admit(store, credential.uncounted(), NOW) == Tenant(tenant.auth_id, "acme", "")
    with pytest.raises(Unauthenticated):
        admit(store, basic_credential(tenant.auth_id, changed(tenant.auth_token), LIMIT, WINDOW).uncounted(), NOW)

    assert not store.redis.exists(store.keys.rate_limit(tenant.auth_id))


def test_with_no_limit_authentication_writes_nothing(store, tenant):
    for limit, window in ((0, 1), (5, 0)):
        assert basic(store, tenant.auth_id, tenant.auth_token, NOW, limit, window).auth_id == tenant.auth_id
        assert by_key(store, tenant.api_key, NOW, limit, window).auth_id == tenant.auth_id

    assert not store.redis.exists(store.keys.rate_limit(tenant.auth_id))


def test_authentication_and_the_limit_work_alike_on_a_real_redis(real_store):
    tenant = with_known_secrets(real_store, make_tenant(real_store, dids=[]))
    with pytest.raises(Unauthenticated):
        basic(real_store, tenant.auth_id, KNOWN_TOKEN.swapcase(), NOW, LIMIT, WINDOW)
    with pytest.raises(Unauthenticated):
        by_key(real_store, tenant.api_key[:-1], NOW, LIMIT, WINDOW)

    answers = [
        retry_after(lambda: basic(real_store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)) for _ in range(2)
    ]
    answers += [retry_after(lambda: by_key(real_store, tenant.api_key, NOW, LIMIT, WINDOW)) for _ in range(2)]

    assert answers == [0] * LIMIT + [20]


# -- API keys ---------------------------------------------------------------------------------------------
def test_an_api_key_returns_its_tenant(store, tenant):
    assert by_key(store, tenant.api_key) == Tenant(tenant.auth_id, "acme", "")


def test_an_api_key_names_its_tenant(tenant):
    assert tenant.api_key.startswith(f"mk_{tenant.auth_id}_")


def test_a_wrong_api_key_fails(store, tenant):
    other = make_tenant(store, dids=[], name="other")
    tenant = with_known_secrets(store, tenant)
    secret = KNOWN_SECRET
    wrong = [
        tenant.api_key + "x",
        tenant.api_key[:-1],
        f"mk_{tenant.auth_id}_{secret.swapcase()}",
        f"mk_{other.auth_id}_{secret}",
        f"mk_{UNKNOWN_ID}_{secret}",
        f"xx_{tenant.auth_id}_{secret}",
        f"mk_{tenant.auth_id}",
        secret,
        tenant.auth_token,
        "",
        None,
    ]
    for key in wrong:
        with pytest.raises(Unauthenticated, match="X-API-Key"):
            by_key(store, key)


def test_the_api_key_is_kept_only_as_its_sha256_digest(store, tenant):
    record = store.redis.hgetall(store.keys.tenant(tenant.auth_id))
    secret = tenant.api_key.removeprefix(f"mk_{tenant.auth_id}_")
    assert record["api_key_sha256"] == hashlib.sha256(tenant.api_key.encode()).hexdigest()
    assert not any(tenant.api_key in value or secret in value for value in record.values())


# -- subaccounts ------------------------------------------------------------------------------------------
@pytest.fixture
def family(store):
    parent = create_tenant(store, "acme", NOW)
    child = create_tenant(store, "acme support", NOW, parent=parent.auth_id)
    stranger = create_tenant(store, "globex", NOW)
    strangers_child = create_tenant(store, "globex support", NOW, parent=stranger.auth_id)
    return parent, child, stranger, strangers_child


def test_a_subaccount_of_the_parent_is_returned(store, family):
    parent, child, _, _ = family
    assert subaccount_of(store, get_tenant(store, parent.auth_id), child.auth_id) == Tenant(
        child.auth_id, "acme support", parent.auth_id
    )


def test_anything_but_ones_own_subaccount_is_refused(store, family):
    parent, _, stranger, strangers_child = family
    me = get_tenant(store, parent.auth_id)
    for auth_id in (strangers_child.auth_id, stranger.auth_id, parent.auth_id, "SA" + "Z" * 18, "SA123", ""):
        with pytest.raises(InvalidInput, match="is not a subaccount of this account") as caught:
            subaccount_of(store, me, auth_id)
        assert caught.value.field == "subaccount"
