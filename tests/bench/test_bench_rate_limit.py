"""Benchmark (`make bench`): the adaptive rate limiter against services that throttle above 10, 20 and 40
calls/s (tests/throttling.py in front of the emulator; eight threads calling as fast as the limiter lets
them, from S3's starting rate). Prints the rate accepted once settled, the throttles and where the limiter
ended; asserts nothing about timings."""

from __future__ import annotations

import time

import pytest
from throttling import ThrottleAbove, hammer

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.aws import STARTING_RATES, AwsClients, AwsConfig

pytestmark = pytest.mark.bench

WARMUP = 6.0
MEASURE = 10.0


@pytest.mark.parametrize("limit", [10.0, 20.0, 40.0])
def test_bench_limiter_settles_under_a_throttling_service(aws: EmbeddedAws, limit: float) -> None:
    clients = AwsClients(AwsConfig(default_region="us-east-1", max_attempts=1))
    s3 = clients.client("s3")
    s3.meta.events.register_first("before-send.s3", ThrottleAbove(limit))
    start = time.monotonic()
    ok, throttled = hammer(s3.list_buckets, WARMUP + MEASURE)
    settled = start + WARMUP
    achieved = sum(t >= settled for t in ok) / MEASURE
    late = sum(t >= settled for t in throttled)
    final = clients.limiter.current_rate(("default", "us-east-1", "s3"))
    print(
        f"\nBENCH rate limiter | service limit {limit:4.0f}/s | start {STARTING_RATES['s3']:.0f}/s | "
        f"accepted {achieved:5.1f}/s ({achieved / limit:4.0%}) over the last {MEASURE:.0f} s | "
        f"throttles {len(throttled)} of {len(ok) + len(throttled)} calls, {late} once settled | "
        f"limiter at {final:.1f}/s"
    )
