"""The shared AWS rate limiter, on a simulated clock: never faster than the configured rate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awsop.reconcilers.aws import RateLimiter

KEY = ("default", "us-east-1", "s3")
OTHER_REGION = ("default", "eu-west-1", "s3")
OTHER_SERVICE = ("default", "us-east-1", "sqs")


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        # Like time.sleep: never returns early, and takes at least a microsecond (timer granularity).
        # Without the minimum, float rounding can leave 0.9999999 tokens and a wait below one ulp of the
        # clock, and acquire() would spin on a clock that never moves.
        assert seconds >= 0
        seconds = max(seconds, 1e-6)
        self.now += seconds
        self.slept += seconds


def limiter(rates: dict[str, float] | None = None, default: float = 10.0, recovery: float = 60.0):  # type: ignore[no-untyped-def]
    fake = FakeTime()
    lim = RateLimiter(rates or {}, default, recovery)
    lim._clock = fake.clock
    lim._sleep = fake.sleep
    return lim, fake


def acquire_times(lim: RateLimiter, fake: FakeTime, n: int, key: tuple[str, str, str] = KEY) -> list[float]:
    times = []
    for _ in range(n):
        lim.acquire(key)
        times.append(fake.now)
    return times


@pytest.mark.parametrize(("rate", "n"), [(10.0, 100), (2.0, 30), (0.5, 6), (25.0, 200)])
def test_n_acquires_take_at_least_n_minus_burst_over_rate(rate: float, n: int) -> None:
    lim, fake = limiter(default=rate)
    start = fake.now
    acquire_times(lim, fake, n)
    burst = max(1.0, rate)
    assert fake.now - start >= (n - burst) / rate - 1e-9
    assert fake.now - start <= (n - burst) / rate + 1.0  # and it does not over-wait


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.2, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=80),
)
def test_no_window_ever_exceeds_burst_plus_rate(rate: float, gaps: list[float]) -> None:
    lim, fake = limiter(default=rate)
    times = []
    for gap in gaps:
        fake.now += gap  # callers arrive irregularly
        lim.acquire(KEY)
        times.append(fake.now)
    burst = max(1.0, rate)
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 1e-6


def test_first_burst_is_free() -> None:
    lim, _ = limiter(default=5)
    assert [lim.acquire(KEY) for _ in range(5)] == [0.0] * 5
    assert lim.acquire(KEY) == pytest.approx(0.2)


def test_per_service_rate_overrides_the_default() -> None:
    lim, fake = limiter({"sqs": 1.0}, default=100.0)
    assert lim.rate_for("sqs") == 1.0
    assert lim.rate_for("s3") == 100.0
    start = fake.now
    acquire_times(lim, fake, 4, OTHER_SERVICE)
    assert fake.now - start == pytest.approx(3.0)


def test_penalize_halves_the_rate_and_recovers_linearly() -> None:
    lim, fake = limiter(default=10, recovery=60)
    lim.acquire(KEY)
    lim.penalize(KEY)
    assert lim.current_rate(KEY) == pytest.approx(5.0)
    fake.now += 30
    assert lim.current_rate(KEY) == pytest.approx(7.5)
    fake.now += 30
    assert lim.current_rate(KEY) == pytest.approx(10.0)
    fake.now += 100
    assert lim.current_rate(KEY) == pytest.approx(10.0)


def test_repeated_throttles_halve_again_down_to_a_floor() -> None:
    lim, _ = limiter(default=10)
    lim.penalize(KEY)
    lim.penalize(KEY)
    assert lim.current_rate(KEY) == pytest.approx(2.5)
    for _ in range(10):
        lim.penalize(KEY)
    assert lim.current_rate(KEY) == pytest.approx(0.5)  # 1/20 of the configured rate


def test_after_a_throttle_calls_are_paced_at_the_reduced_rate() -> None:
    lim, fake = limiter(default=10, recovery=1000)
    lim.penalize(KEY)
    start = fake.now
    acquire_times(lim, fake, 21)
    # ~5 per second (recovery is slow): 21 calls with an empty bucket take about 4 seconds, not 2.
    assert fake.now - start >= 21 / 5.2
    assert fake.now - start <= 21 / 4.8


def test_keys_are_independent() -> None:
    lim, fake = limiter(default=2)
    acquire_times(lim, fake, 10, KEY)
    lim.penalize(KEY)
    before = fake.slept
    lim.acquire(OTHER_REGION)
    lim.acquire(OTHER_REGION)
    lim.acquire(OTHER_SERVICE)
    assert fake.slept == before  # no sleeping for other keys
    assert lim.current_rate(OTHER_REGION) == 2.0
    assert lim.current_rate(KEY) == pytest.approx(1.0)


def test_rate_zero_is_unlimited() -> None:
    lim, fake = limiter(default=0)
    assert all(lim.acquire(KEY) == 0.0 for _ in range(10_000))
    lim.penalize(KEY)
    assert lim.acquire(KEY) == 0.0
    assert fake.slept == 0.0


def test_nested_call_captures_each_keep_their_own_calls() -> None:
    """Nested captures whose lists are equal when the inner one ends must not remove each other's sink."""
    from awsop.reconcilers.aws import CallLog

    log = CallLog()
    with log.capture() as outer:
        with log.capture() as inner:
            log.record("s3", "HeadBucket", "ok")
        log.record("s3", "GetBucketTagging", "ok")
    assert inner == ["s3:HeadBucket"]
    assert outer == ["s3:HeadBucket", "s3:GetBucketTagging"]
