"""masq's clock: integer µs since the epoch, and the two ways timestamps are printed."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from routing.clock import US, from_us, iso_time, now_us, plivo_time, to_us

# From the epoch to the year 2200, in µs.
MOMENTS = st.integers(min_value=0, max_value=7_258_118_400 * US)


@given(MOMENTS)
def test_plivo_time_prints_what_strftime_prints(us):
    assert plivo_time(us) == from_us(us).strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")


@given(MOMENTS)
def test_iso_time_prints_what_strftime_prints(us):
    assert iso_time(us) == from_us(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_plivo_time_has_plivos_shape():
    assert plivo_time(1_689_177_134_772_699) == "2023-07-12 15:52:14.772699 +0000 UTC"
    assert plivo_time(1_689_177_134_000_001) == "2023-07-12 15:52:14.000001 +0000 UTC"
    assert plivo_time(None) == "" and iso_time(None) is None


def test_now_is_the_wall_clock_in_microseconds():
    before = to_us(datetime.now(UTC))
    now = now_us()
    after = to_us(datetime.now(UTC))
    assert isinstance(now, int) and before <= now <= after
