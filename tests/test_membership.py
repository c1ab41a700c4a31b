"""Workers sharing tenants: the registry of live workers, and one owner per tenant by rendezvous hashing."""

from collections import Counter

from workers.membership import Membership, owner

TENANTS = [f"MA{n:018d}" for n in range(1000)]


def test_every_worker_computes_the_same_owner_whatever_the_order_it_knows_them_in():
    assert all(owner(frozenset({"a", "b", "c"}), t) == owner(frozenset({"c", "a", "b"}), t) for t in TENANTS)


def test_tenants_spread_over_the_workers():
    shares = Counter(owner(frozenset({"a", "b"}), t) for t in TENANTS)

    assert set(shares) == {"a", "b"} and min(shares.values()) > 400


def test_a_worker_that_joins_takes_tenants_only_from_the_others_and_gives_them_back_when_it_leaves():
    two, three = frozenset({"a", "b"}), frozenset({"a", "b", "c"})

    moved = [t for t in TENANTS if owner(two, t) != owner(three, t)]

    assert moved and all(owner(three, t) == "c" for t in moved)
    assert 250 < len(moved) < 420


def test_workers_see_each_other_through_the_registry_and_a_leaving_one_is_gone_at_once(store):
    first, second = Membership(store, "w1"), Membership(store, "w2")

    first.beat(0)
    second.beat(0)
    changed = first.beat(first.beat_every)
    seen = (first.workers, second.workers)
    owned = [t for t in TENANTS if first.owns(t)] + [t for t in TENANTS if second.owns(t)]
    second.leave(0)
    after_leaving = first.beat(2 * first.beat_every)

    assert changed and seen == ({"w1", "w2"}, {"w1", "w2"})
    assert sorted(owned) == sorted(TENANTS)  # each tenant has exactly one owner
    assert after_leaving and first.workers == {"w1"} and all(first.owns(t) for t in TENANTS)


def test_a_beat_is_made_only_when_due(store):
    member = Membership(store, "w1")

    assert member.beat(0) is False  # alone, as it started
    store.redis.zadd(store.keys.workers(), {"w2": 10**15})  # another worker, heard of since

    assert member.beat(member.beat_every - 1) is False and member.workers == {"w1"}
    assert member.beat(member.beat_every) is True and member.workers == {"w1", "w2"}
