"""A fake of AWS's request throttling for tests and benchmarks of the adaptive rate limiter.

`ThrottleAbove(rate)` is a botocore before-send hook: a token bucket of `rate` tokens per second holding
one second's worth, as AWS throttles per account and region; a call that finds it empty is answered
`503 SlowDown` the way S3 answers, every other call goes on to the emulator. `hammer` runs threads that
call as fast as the limiter lets them and returns when each call was accepted or throttled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def error_response(url: str, status: int, code: str) -> AWSResponse:
    body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
    return AWSResponse(url, status, {"Content-Type": "application/xml"}, _Raw(body))


class ThrottleAbove:
    """before-send hook: AWS's token bucket at `rate` calls/s; an empty bucket answers SlowDown."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.stamp = rate, rate, time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None  # on to the emulator
        return error_response(request.url, 503, "SlowDown")


def hammer(call: Callable[[], Any], seconds: float, threads: int = 8) -> tuple[list[float], list[float]]:
    """Call `call` from `threads` threads for `seconds`; the monotonic times of accepted and of
    throttled calls."""
    stop = time.monotonic() + seconds
    ok: list[float] = []
    throttled: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        while time.monotonic() < stop:
            try:
                call()
                outcome = ok
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "SlowDown", exc
                outcome = throttled
            with lock:
                outcome.append(time.monotonic())

    workers = [threading.Thread(target=caller) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return ok, throttled
