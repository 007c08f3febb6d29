"""The shared AWS rate limiter, on a simulated clock: never faster than its cap, adapting below it by
AIMD (additive increase while AWS answers and callers wait, multiplicative decrease on a throttle)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awsop.reconcilers.aws import STARTING_RATES, RateLimiter
from awsop.reconcilers.errors import RATE_THROTTLE_CODES, THROTTLING_CODES, is_rate_throttle

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


def limiter(rates: dict[str, float] | None = None, default: float = 10.0, **options: Any):  # type: ignore[no-untyped-def]
    fake = FakeTime()
    lim = RateLimiter(rates or {}, default, **options)
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


def saturate(lim: RateLimiter, fake: FakeTime, seconds: float, key: tuple[str, str, str] = KEY) -> int:
    """Callers always waiting for tokens, every call answered without throttling, for `seconds`."""
    end, calls = fake.now + seconds, 0
    while fake.now < end:
        lim.acquire(key)
        lim.record_success(key)
        calls += 1
    return calls


def test_a_key_starts_at_the_published_rate_of_its_service_below_the_cap() -> None:
    lim, _ = limiter(default=100.0)
    assert lim.current_rate(("default", "us-east-1", "ec2")) == STARTING_RATES["ec2"] == 20.0
    assert lim.current_rate(("default", "us-east-1", "autoscaling")) == 10.0
    assert lim.current_rate(("default", "us-east-1", "application-autoscaling")) == 5.0
    assert lim.current_rate(("default", "us-east-1", "kinesis")) == 10.0  # no start known: the default
    capped, _ = limiter({"ec2": 3.0}, default=100.0)
    assert capped.current_rate(("default", "us-east-1", "ec2")) == 3.0  # the cap wins over the start


def test_a_throttle_multiplies_the_rate_by_the_decrease_factor() -> None:
    lim, _ = limiter(default=100.0)  # s3 starts at 50
    lim.penalize(KEY)
    assert lim.current_rate(KEY) == pytest.approx(35.0)
    lim.penalize(KEY)
    assert lim.current_rate(KEY) == pytest.approx(24.5)


def test_throttles_of_calls_sent_before_the_last_decrease_count_once() -> None:
    """Eight calls sent together at the old rate all come back throttled: one decrease, not eight."""
    lim, fake = limiter(default=100.0)
    sent = [lim.now() for _ in range(8)]
    fake.now += 0.05
    for at in sent:
        lim.penalize(KEY, at)
    assert lim.current_rate(KEY) == pytest.approx(35.0)
    lim.acquire(KEY)
    lim.penalize(KEY, lim.now())  # a call sent after the decrease that is throttled too: decrease again
    assert lim.current_rate(KEY) == pytest.approx(24.5)


def test_repeated_throttles_stop_at_the_floor() -> None:
    lim, _ = limiter(default=100.0, floor=2.0)
    for _ in range(50):
        lim.penalize(KEY)
    assert lim.current_rate(KEY) == 2.0
    low, _ = limiter(default=0.5)  # a cap below the floor: the cap is the floor
    low.penalize(KEY)
    assert low.current_rate(KEY) == 0.5


def test_successes_while_callers_wait_raise_the_rate_additively() -> None:
    """At full use the rate grows by a twentieth of the rate last throttled at per second: s3 was
    throttled at 50, so from 35 by 2.5/s."""
    lim, fake = limiter(default=100.0)
    lim.penalize(KEY)
    saturate(lim, fake, 4.0)
    assert lim.current_rate(KEY) == pytest.approx(35.0 + 4 * 2.5, rel=0.03)


def test_until_the_first_throttle_the_rate_doubles_every_second_of_full_use_up_to_the_cap() -> None:
    """Slow start: s3 starts at 50; a second of full use takes it to about 100 (the cap here), where it
    stays; a published start below what AWS takes costs a second, not the twenty additive steps need."""
    lim, fake = limiter(default=100.0)
    saturate(lim, fake, 0.5)
    assert 65.0 <= lim.current_rate(KEY) <= 80.0
    saturate(lim, fake, 0.7)
    assert lim.current_rate(KEY) == 100.0
    lim.penalize(KEY)  # the first throttle ends it: additive from here
    saturate(lim, fake, 2.0)
    assert lim.current_rate(KEY) == pytest.approx(70.0 + 2 * 5.0, rel=0.03)


def test_successes_without_waiting_callers_leave_the_rate_alone() -> None:
    """Demand below the allowed rate says nothing about AWS's limit: an idle key must not creep up to
    the cap and then hit AWS with a full-cap burst."""
    lim, fake = limiter(default=100.0)
    lim.penalize(KEY)
    for _ in range(1000):
        fake.now += 1.0  # one call a second, far below 35/s
        lim.acquire(KEY)
        lim.record_success(KEY)
    assert lim.current_rate(KEY) == pytest.approx(35.0)


def test_the_rate_never_exceeds_the_cap_however_long_calls_succeed() -> None:
    lim, fake = limiter({"s3": 60.0}, default=100.0)
    calls = saturate(lim, fake, 60.0)
    assert lim.current_rate(KEY) == 60.0
    assert calls <= 60.0 + 60.0 * 60.0 + 1


def test_rate_changes_are_reported_to_listeners() -> None:
    seen: list[tuple[tuple[str, str, str], float]] = []
    lim, fake = limiter(default=100.0, listeners=[lambda key, rate: seen.append((key, rate))])
    lim.acquire(KEY)
    assert seen == [(KEY, 50.0)]  # the start, when the key is first used
    lim.penalize(KEY)
    assert seen[-1] == (KEY, pytest.approx(35.0))
    saturate(lim, fake, 1.0)
    assert seen[-1][1] == pytest.approx(lim.current_rate(KEY)) and seen[-1][1] > 35.0
    unlimited, _ = limiter(default=0, listeners=[lambda key, rate: seen.append((key, rate))])
    before = len(seen)
    unlimited.acquire(KEY)
    unlimited.penalize(KEY)
    assert len(seen) == before  # no limiter, nothing to report


def test_after_a_throttle_calls_are_paced_at_the_reduced_rate() -> None:
    lim, fake = limiter(default=10)
    lim.penalize(KEY)
    start = fake.now
    acquire_times(lim, fake, 21)
    # 7 per second (no successes reported, so no increase): 21 calls with an empty bucket take 3 s, not 2.
    assert fake.now - start == pytest.approx(21 / 7, rel=0.02)


@settings(max_examples=60, deadline=None)
@given(
    cap=st.floats(min_value=0.5, max_value=80),
    steps=st.lists(
        st.tuples(st.sampled_from(["call", "ok", "throttle"]), st.floats(min_value=0, max_value=0.5)),
        min_size=1,
        max_size=200,
    ),
)
def test_aimd_never_lets_more_than_the_cap_through(cap: float, steps: list[tuple[str, float]]) -> None:
    """Whatever AWS answers, in any window no more calls pass than the cap's burst plus cap x time, and
    the allowed rate stays between the floor and the cap."""
    lim, fake = limiter({"s3": cap}, default=100.0)
    times: list[float] = []
    for action, gap in steps:
        fake.now += gap
        if action == "call":
            lim.acquire(KEY)
            times.append(fake.now)
        elif action == "ok":
            for _ in range(20):
                lim.acquire(KEY)
                times.append(fake.now)
                lim.record_success(KEY)
        else:
            lim.penalize(KEY, fake.now)
        assert min(cap, 1.0) - 1e-9 <= lim.current_rate(KEY) <= cap + 1e-9
    burst = max(1.0, cap)
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + cap * (times[j] - times[i]) + 1e-6


class ThrottlingService:
    """AWS's side, simulated: a token bucket of `rate` tokens/s holding one second's worth; a call that
    finds it empty is throttled."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.stamp = rate, rate, 0.0

    def answer(self, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@pytest.mark.parametrize(
    ("limit", "start", "callers"),
    [(20.0, 50.0, 8), (10.0, 50.0, 8), (30.0, 50.0, 8), (80.0, 50.0, 16), (150.0, 50.0, 16)],
)
def test_aimd_settles_near_a_service_limit(limit: float, start: float, callers: int) -> None:
    """`callers` callers, 20 ms per call, against a service that throttles above `limit` calls/s, below or
    above the start: after slow start or a few decreases the limiter holds within 15 % of the limit, with
    throttles a small share of the calls (the first 15 s find the limit, the next 15 s are measured)."""
    lim, fake = limiter(default=200.0, starting_rates={"s3": start})
    service = ThrottlingService(limit)
    service.stamp = fake.now
    ready = [fake.now] * callers  # when each caller is ready to send again
    ok: list[float] = []
    throttled: list[float] = []
    rng = random.Random(7)
    while min(ready) < 1000.0 + 30:
        index = ready.index(min(ready))
        fake.now = max(fake.now, ready[index])
        lim.acquire(KEY)
        sent = lim.now()
        if service.answer(sent):
            lim.record_success(KEY)
            ok.append(sent)
        else:
            lim.penalize(KEY, sent)
            throttled.append(sent)
        ready[index] = sent + 0.02 * (0.5 + rng.random())
    late = [t for t in ok if t >= 1015.0]
    late_throttled = [t for t in throttled if t >= 1015.0]
    achieved = len(late) / 15.0
    assert 0.85 * limit <= achieved <= limit * 16 / 15, achieved  # the service's burst: one second
    assert len(late_throttled) <= 0.05 * len(late), (len(late_throttled), len(late))  # settled
    assert len(throttled) <= 0.1 * len(ok), (len(throttled), len(ok))  # finding the limit included


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
    assert lim.current_rate(KEY) == pytest.approx(1.4)


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


@pytest.mark.parametrize(
    ("code", "status", "slows_down"),
    [
        ("Throttling", 400, True),  # Auto Scaling, STS (query protocol)
        ("ThrottlingException", 400, True),  # DynamoDB control plane (JSON protocol)
        ("RequestLimitExceeded", 503, True),  # EC2
        ("SlowDown", 503, True),  # S3
        ("TooManyRequestsException", 429, True),
        ("", 429, True),  # any 429
        ("RequestThrottled", 400, True),  # SQS
        ("ProvisionedThroughputExceededException", 400, False),  # a table's data-plane capacity
        ("LimitExceededException", 400, False),  # concurrent control-plane operations / a quota
        ("TransactionInProgressException", 400, False),
        ("InternalError", 500, False),
        ("NoSuchBucket", 404, False),
    ],
    ids=lambda value: str(value),
)
def test_which_answers_slow_the_limiter_down(code: str, status: int, slows_down: bool) -> None:
    assert is_rate_throttle(code, status) is slows_down


def test_every_rate_throttle_is_also_retried() -> None:
    assert RATE_THROTTLE_CODES <= THROTTLING_CODES


def test_the_operator_gauge_follows_the_limiter() -> None:
    """build_engine hands the limiter's rate changes to the metrics module: awsop_aws_rate_limit shows the
    start when a key is first used and every change after it."""
    from awsop.operator import metrics
    from awsop.operator.runtime import build_engine
    from awsop.operator.settings import Settings

    _, clients = build_engine(
        Settings(default_region="us-east-1", rate_limits={"dynamodb": 30.0}),
        rate_listeners=[metrics.record_rate_limit],
    )
    key = ("gauge-test", "eu-west-1", "dynamodb")

    def gauge() -> float | None:
        return metrics.REGISTRY.get_sample_value(
            "awsop_aws_rate_limit", {"account": key[0], "region": key[1], "service": key[2]}
        )

    assert gauge() is None
    clients.limiter.acquire(key)
    assert gauge() == 30.0  # DynamoDB starts at 50/s, capped at the configured 30
    clients.limiter.penalize(key)
    assert gauge() == pytest.approx(21.0)
