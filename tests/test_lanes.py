"""Lanes per tenant and endpoint: a bound on the sends in flight in one lane and for one tenant, the rest waiting in
order, the tenants taking turns."""

from workers.lanes import Lanes, endpoint_of, tenant_share

SLOW_HOST, FAST_HOST = ("https", "slow.example.com", 443), ("https", "fast.example.com", 443)
SLOW, FAST = ("a", SLOW_HOST), ("b", FAST_HOST)


def lanes(bound=2):
    started = []
    return Lanes(bound, started.append), started


def test_an_endpoint_gets_at_most_its_bound_in_flight_and_the_rest_wait_in_order():
    lane, started = lanes()

    for job in ("s1", "s2", "s3", "s4"):
        lane.offer(SLOW, job)

    assert started == ["s1", "s2"]
    assert (lane.in_flight(SLOW), lane.waiting()) == (2, 2)


def test_another_endpoint_goes_on_while_one_is_full():
    lane, started = lanes()
    for job in ("s1", "s2", "s3"):
        lane.offer(SLOW, job)

    lane.offer(FAST, "f1")

    assert started == ["s1", "s2", "f1"]


def test_a_finished_send_starts_the_next_one_waiting_for_its_endpoint():
    lane, started = lanes()
    for job in ("s1", "s2", "s3"):
        lane.offer(SLOW, job)
    lane.offer(FAST, "f1")

    lane.done(FAST)
    lane.done(SLOW)
    lane.done(SLOW)

    assert started == ["s1", "s2", "f1", "s3"]
    assert (lane.in_flight(SLOW), lane.in_flight(FAST), lane.waiting()) == (1, 0, 0)


def test_dropping_takes_only_waiting_jobs():
    lane, started = lanes(bound=1)
    for job in ("a1", "b1", "a2", "b2"):
        lane.offer(SLOW, job)

    dropped = lane.drop(lambda job: job.startswith("a"))

    assert dropped == ["a2"] and started == ["a1"]
    lane.done(SLOW)
    assert started == ["a1", "b1"]


def test_an_endpoint_is_the_scheme_host_and_port():
    assert endpoint_of("https://Tenant.Example.com/cb?x=1") == ("https", "tenant.example.com", 443)
    assert endpoint_of("http://10.0.0.1:8080/a") == endpoint_of("http://10.0.0.1:8080/b")
    assert endpoint_of("http://10.0.0.1:8080/a") != endpoint_of("http://10.0.0.1:8081/a")
    assert endpoint_of("ftp://x.example.com/") == ("", "ftp://x.example.com/", 0)


def test_when_every_thread_is_busy_the_lane_with_the_fewest_in_flight_goes_next():
    started = []
    lane = Lanes(4, started.append, capacity=2, per_tenant=4)
    for job in ("s1", "s2", "s3"):
        lane.offer(SLOW, job)
    lane.offer(FAST, "f1")

    lane.done(SLOW)

    assert started == ["s1", "s2", "f1"]  # before the slow lane's third, though it waited longer
    lane.done(SLOW)
    assert started == ["s1", "s2", "f1", "s3"]


def test_an_endpoint_that_answered_slowly_gets_fewer_at_a_time_until_it_is_quick_again():
    started = []
    lane = Lanes(4, started.append, slow_bound=1, slow_after=3.0)
    for n in range(10):
        lane.offer(SLOW, f"s{n}")

    lane.done(SLOW, seconds=10.0)  # timed out
    slow = (lane.is_slow(SLOW), lane.in_flight(SLOW))
    for _ in range(3):
        lane.done(SLOW, seconds=10.0)
    still_one = lane.in_flight(SLOW)
    lane.done(SLOW, seconds=0.01)

    assert slow == (True, 3) and still_one == 1
    assert not lane.is_slow(SLOW) and lane.in_flight(SLOW) == 4


def test_one_tenant_holds_at_most_its_share_of_the_threads_however_many_endpoints_it_has():
    started = []
    lane = Lanes(8, started.append, capacity=32)
    for n in range(16):  # sixteen endpoints, each with a backlog
        for m in range(4):
            lane.offer(("greedy", ("https", f"e{n}.example.com", 443)), f"g{n}-{m}")

    held_by_greedy = lane.tenant_in_flight("greedy")
    lane.offer(("other", FAST_HOST), "o1")

    assert held_by_greedy == tenant_share(32) == 8
    assert started[-1] == "o1" and lane.in_flight() == 9


def test_a_tenants_slow_path_does_not_hold_another_tenant_on_the_same_host():
    started = []
    lane = Lanes(4, started.append, capacity=32, slow_bound=1)
    for n in range(6):
        lane.offer(("a", SLOW_HOST), f"a{n}")
    lane.done(("a", SLOW_HOST), seconds=10.0)  # its path answers slowly: its lane gets one at a time

    lane.offer(("b", SLOW_HOST), "b1")

    assert lane.is_slow(("a", SLOW_HOST)) and not lane.is_slow(("b", SLOW_HOST))
    assert started[-1] == "b1" and lane.in_flight(("b", SLOW_HOST)) == 1


def test_a_free_thread_goes_to_the_tenant_with_the_fewest_in_flight():
    started = []
    lane = Lanes(8, started.append, capacity=2, per_tenant=3)
    for n in range(4):
        lane.offer(("a", SLOW_HOST), f"a{n}")
    for n in range(4):
        lane.offer(("b", FAST_HOST), f"b{n}")

    for finished in ("a", "b", "a", "b"):
        lane.done((finished, SLOW_HOST if finished == "a" else FAST_HOST))

    assert started == ["a0", "a1", "b0", "b1", "a2", "b2"]  # each free thread to the tenant with fewer in flight


def test_a_tenants_fresh_events_pass_its_retries_queued_for_a_dead_endpoint():
    started = []
    lane = Lanes(8, started.append, capacity=32, slow_bound=2)
    dead, healthy = ("t", SLOW_HOST), ("t", FAST_HOST)
    for n in range(10):
        lane.offer(dead, f"retry{n}")
    lane.done(dead, seconds=15.0)  # the dead endpoint ran out its deadline: two at a time now
    lane.done(dead, seconds=15.0)

    lane.offer(healthy, "fresh")

    assert started[-1] == "fresh" and lane.in_flight(dead) == 5  # seven sent, two back


def test_the_bound_of_a_lane_is_below_the_threads():
    assert Lanes(8, lambda job: None, capacity=32).bound == 7  # below the tenant's quarter of the threads
    assert Lanes(8, lambda job: None, capacity=8).bound == 1  # not all eight threads
    assert Lanes(8, lambda job: None, capacity=1).bound == 1
