"""The adaptive rate limiter against a service that throttles above a fixed rate.

A botocore hook in front of the emulator plays AWS's throttling: a token bucket of LIMIT tokens per second
(holding one second's worth) per client; a call that finds it empty is answered `503 SlowDown` the way S3
answers, every other call goes on to the emulator. Eight threads call as fast as the limiter lets them,
starting from S3's starting rate (well above LIMIT). The limiter must find the limit by itself and hold
near it with few throttles, and report its rate to its listeners (the operator's gauge).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from throttling import ThrottleAbove, error_response, hammer

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.aws import STARTING_RATES, AwsClients, AwsConfig

pytestmark = pytest.mark.aws

LIMIT = 20.0  # calls/s the fake service accepts
WARMUP = 5.0  # seconds for the limiter to find the limit
MEASURE = 10.0  # seconds measured after that
KEY = ("default", "us-east-1", "s3")


def test_limiter_settles_near_the_rate_a_service_throttles_above(aws: EmbeddedAws) -> None:
    reported: list[float] = []
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", max_attempts=1),  # the default caps; no retries
        rate_listeners=[lambda key, rate: reported.append(rate) if key == KEY else None],
    )
    s3 = clients.client("s3")
    s3.meta.events.register_first("before-send.s3", ThrottleAbove(LIMIT))
    start = time.monotonic()
    ok, throttled = hammer(s3.list_buckets, WARMUP + MEASURE)

    measured_from = start + WARMUP
    achieved = sum(t >= measured_from for t in ok) / MEASURE
    late_throttles = sum(t >= measured_from for t in throttled)
    final = clients.limiter.current_rate(KEY)
    print(
        f"\nadaptive limiter vs a service throttling above {LIMIT:.0f}/s "
        f"(start {STARTING_RATES['s3']:.0f}/s): "
        f"{achieved:.1f} calls/s accepted over the last {MEASURE:.0f} s, throttles {len(throttled)} of "
        f"{len(ok) + len(throttled)} calls ({late_throttles} in the last {MEASURE:.0f} s), "
        f"limiter at {final:.1f}/s"
    )
    assert 0.75 * LIMIT <= achieved <= LIMIT * (MEASURE + 1) / MEASURE, achieved
    assert late_throttles <= 0.05 * achieved * MEASURE, late_throttles
    assert len(throttled) <= 0.1 * len(ok), (len(throttled), len(ok))
    assert reported[0] == STARTING_RATES["s3"] and reported[-1] == pytest.approx(final)
    assert min(reported) < LIMIT  # it went below the limit after the first throttles


class AnswerWith:
    """before-send hook: the next call is answered `status` with error `code` instead of the emulator."""

    def __init__(self, status: int, code: str) -> None:
        self.status, self.code = status, code

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        return error_response(request.url, self.status, self.code)


@pytest.mark.parametrize(
    ("status", "code", "change"),
    [
        (None, None, "up"),  # the emulator's answer: AWS took the call
        (404, "NoSuchBucket", "up"),  # an expected "not found" is an answer too
        (500, "InternalError", "same"),  # a server error says nothing about the rate
        (503, "SlowDown", "down"),
        (400, "ProvisionedThroughputExceededException", "up"),  # a table's capacity, not our call rate
    ],
    ids=["ok", "not-found", "5xx", "throttle", "table-capacity"],
)
def test_which_answers_move_the_rate(
    aws: EmbeddedAws, status: int | None, code: str | None, change: str
) -> None:
    clients = AwsClients(AwsConfig(default_region="us-east-1", max_attempts=1))
    s3 = clients.client("s3")
    if status is not None:
        s3.meta.events.register_first("before-send.s3", AnswerWith(status, code or ""))
    before = clients.limiter.current_rate(KEY)
    clients.limiter._buckets[KEY].waited_at = clients.limiter.now()  # callers are waiting for tokens
    with contextlib.suppress(ClientError):
        s3.head_bucket(Bucket="rate-probe") if status == 404 else s3.list_buckets()
    after = clients.limiter.current_rate(KEY)
    assert {"up": after > before, "same": after == before, "down": after < before}[change], (before, after)
