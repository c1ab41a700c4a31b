import dataclasses
import hashlib
import re

import pytest

from routing import tenants
from routing.clock import US
from routing.errors import InvalidInput, NotFound, Unauthenticated
from routing.rate_limit import ADMITTED, Admission
from routing.tenants import (
    Tenant,
    admit_api_key,
    admit_basic,
    auth_token_of,
    authenticate_api_key,
    authenticate_basic,
    create_tenant,
    get_tenant,
    subaccount_of,
)
from tests.conftest import TenantFixture, changed, make_tenant

NOW = 1_710_000_000_000_000
UNKNOWN_ID = "MA" + "Z" * 18
# Secrets with letters of both cases, so that the same secret in another case surely differs from it.
KNOWN_TOKEN = "KnownToken0123456789abcdefABCDEF01234567"
KNOWN_SECRET = "KnownSecret-0123456789_abcdefABCD"


def with_known_secrets(store, tenant: TenantFixture) -> TenantFixture:
    """Give `tenant` the auth token KNOWN_TOKEN and an API key ending in KNOWN_SECRET; return it so."""
    api_key = f"mk_{tenant.auth_id}_{KNOWN_SECRET}"
    store.redis.hset(
        store.keys.tenant(tenant.auth_id),
        mapping={"auth_token": KNOWN_TOKEN, "api_key_sha256": hashlib.sha256(api_key.encode()).hexdigest()},
    )
    return dataclasses.replace(tenant, auth_token=KNOWN_TOKEN, api_key=api_key)


def test_known_secrets_authenticate_and_differ_in_another_case(store, tenant):
    known = with_known_secrets(store, tenant)

    assert authenticate_basic(store, known.auth_id, known.auth_token).auth_id == tenant.auth_id
    assert authenticate_api_key(store, known.api_key).auth_id == tenant.auth_id
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
def test_basic_auth_with_the_right_token_returns_the_tenant(store, tenant):
    assert authenticate_basic(store, tenant.auth_id, tenant.auth_token) == Tenant(tenant.auth_id, "acme", "")


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
    with pytest.raises(Unauthenticated, match="wrong auth_id or auth_token"):
        authenticate_basic(store, given["auth_id"], given["auth_token"])


def test_basic_auth_with_the_token_in_another_case_fails(store, tenant):
    known = with_known_secrets(store, tenant)
    with pytest.raises(Unauthenticated):
        authenticate_basic(store, known.auth_id, KNOWN_TOKEN.swapcase())


def test_basic_auth_with_another_tenants_token_fails(store, tenant):
    other = make_tenant(store, dids=[], name="other")
    with pytest.raises(Unauthenticated):
        authenticate_basic(store, tenant.auth_id, other.auth_token)


@pytest.mark.parametrize(
    "change",
    [
        lambda token: token[:-1],
        lambda token: token + "A",
        lambda token: "",
        lambda token: ("B" if token[0] != "B" else "C") + token[1:],
        lambda token: token[:20] + ("B" if token[20] != "B" else "C") + token[21:],
        lambda token: token[:-1] + ("B" if token[-1] != "B" else "C"),
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
        authenticate_basic(store, tenant.auth_id, change(tenant.auth_token))


def test_a_record_with_an_empty_token_never_authenticates(store, tenant):
    store.redis.hset(store.keys.tenant(tenant.auth_id), "auth_token", "")

    with pytest.raises(Unauthenticated):
        authenticate_basic(store, tenant.auth_id, "")


def test_a_token_without_a_tenant_record_is_not_found_as_before(store):
    store.redis.hset(store.keys.tenant(UNKNOWN_ID), "auth_token", "t" * 40)

    with pytest.raises(NotFound):
        authenticate_basic(store, UNKNOWN_ID, "t" * 40)
    with pytest.raises(Unauthenticated):
        authenticate_basic(store, UNKNOWN_ID, "u" * 40)


# -- authentication and the rate limit in one step -------------------------------------------------------
LIMIT, WINDOW = 3, 60  # one request every 20 s once the burst of 3 is spent


def test_admit_basic_counts_a_request_against_the_limit_once_the_token_is_right(store, tenant):
    answers = [admit_basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW) for _ in range(LIMIT + 1)]

    assert [tenant_ for tenant_, _ in answers] == [Tenant(tenant.auth_id, "acme", "")] * (LIMIT + 1)
    assert [admission for _, admission in answers] == [ADMITTED] * LIMIT + [Admission(False, 20)]
    assert admit_basic(store, tenant.auth_id, tenant.auth_token, NOW + 20 * US, LIMIT, WINDOW)[1] == ADMITTED


def test_a_wrong_token_never_spends_the_tenants_allowance(store, tenant):
    for _ in range(3 * LIMIT):
        with pytest.raises(Unauthenticated):
            admit_basic(store, tenant.auth_id, changed(tenant.auth_token), NOW, LIMIT, WINDOW)
        with pytest.raises(Unauthenticated):
            admit_api_key(store, tenant.api_key + "x", NOW, LIMIT, WINDOW)

    assert not store.redis.exists(store.keys.rate_limit(tenant.auth_id))
    assert [admit_basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)[1] for _ in range(LIMIT)] == [
        ADMITTED
    ] * LIMIT


def test_a_credential_without_a_tenant_record_spends_nothing(store):
    store.redis.hset(store.keys.tenant(UNKNOWN_ID), "auth_token", "t" * 40)

    with pytest.raises(NotFound):
        admit_basic(store, UNKNOWN_ID, "t" * 40, NOW, LIMIT, WINDOW)
    assert not store.redis.exists(store.keys.rate_limit(UNKNOWN_ID))


def test_admit_api_key_draws_on_the_same_limit_as_basic_auth(store, tenant):
    admit_basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)
    admit_api_key(store, tenant.api_key, NOW, LIMIT, WINDOW)

    assert admit_api_key(store, tenant.api_key, NOW, LIMIT, WINDOW) == (Tenant(tenant.auth_id, "acme", ""), ADMITTED)
    assert admit_basic(store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)[1] == Admission(False, 20)


def test_with_no_limit_authentication_writes_nothing(store, tenant):
    for limit, window in ((0, 1), (5, 0)):
        assert admit_basic(store, tenant.auth_id, tenant.auth_token, NOW, limit, window)[1] == ADMITTED
        assert admit_api_key(store, tenant.api_key, NOW, limit, window)[1] == ADMITTED

    assert not store.redis.exists(store.keys.rate_limit(tenant.auth_id))


def test_authentication_and_the_limit_work_alike_on_a_real_redis(real_store):
    tenant = with_known_secrets(real_store, make_tenant(real_store, dids=[]))
    with pytest.raises(Unauthenticated):
        admit_basic(real_store, tenant.auth_id, KNOWN_TOKEN.swapcase(), NOW, LIMIT, WINDOW)
    with pytest.raises(Unauthenticated):
        admit_api_key(real_store, tenant.api_key[:-1], NOW, LIMIT, WINDOW)

    answers = [admit_basic(real_store, tenant.auth_id, tenant.auth_token, NOW, LIMIT, WINDOW)[1] for _ in range(2)]
    answers.append(admit_api_key(real_store, tenant.api_key, NOW, LIMIT, WINDOW)[1])
    answers.append(admit_api_key(real_store, tenant.api_key, NOW, LIMIT, WINDOW)[1])

    assert answers == [ADMITTED] * LIMIT + [Admission(False, 20)]


# -- API keys ---------------------------------------------------------------------------------------------
def test_an_api_key_returns_its_tenant(store, tenant):
    assert authenticate_api_key(store, tenant.api_key) == Tenant(tenant.auth_id, "acme", "")


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
            authenticate_api_key(store, key)


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
