"""Per-endpoint lanes: a bound on the sends in flight to one endpoint, the rest waiting in order."""

from workers.lanes import Lanes, endpoint_of

SLOW, FAST = ("https", "slow.example.com", 443), ("https", "fast.example.com", 443)


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
    lane = Lanes(4, started.append, capacity=2)
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
