"""Faults between boto3 and the emulator: throttling, 5xx, connection resets, and a crash at every step
of a create. The operator must converge, never duplicate, never leak, never lose data."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass

pytestmark = pytest.mark.aws

REF = ObjectRef("Bucket", "faults", "data", 1)
NAME = "faults-data"
SPEC = BucketSpec.model_validate(
    {"versioning": "Enabled", "encryption": {"algorithm": "AES256"}, "tags": {"t": "1"}}
)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _error_response(status: int, code: str) -> AWSResponse:
    body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
    return AWSResponse("http://127.0.0.1/", status, {"Content-Type": "application/xml"}, _Raw(body))


class Faults:
    """Fails the next `count` HTTP sends of `operation` (or of any operation) in the given way."""

    def __init__(self, clients: AwsClients, kind: str, count: int, operation: str | None = None) -> None:
        self.kind, self.count, self.operation, self.injected = kind, count, operation, 0
        event = f"before-send.s3.{operation}" if operation else "before-send.s3"
        clients.client("s3").meta.events.register_first(event, self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.count <= 0:
            return None
        self.count -= 1
        self.injected += 1
        if self.kind == "throttle":
            return _error_response(503, "SlowDown")
        if self.kind == "5xx":
            return _error_response(500, "InternalError")
        raise ConnectionClosedError(endpoint_url=request.url)


@pytest.mark.parametrize("kind", ["throttle", "5xx", "reset"])
def test_transient_faults_are_retried_within_one_call(
    engine: Engine, buckets: BucketClient, kind: str
) -> None:
    faults = Faults(engine.clients, kind, count=2, operation="CreateBucket")
    outcome = engine.reconcile(buckets, REF, SPEC)
    assert outcome.state is State.READY, outcome.message
    assert faults.injected == 2
    assert outcome.calls.count("s3:CreateBucket") == 3  # two failed attempts, one success


def test_throttle_halves_the_shared_rate(engine: Engine, buckets: BucketClient) -> None:
    engine.clients.limiter._rates["s3"] = 50.0
    key = ("default", "us-east-1", "s3")
    Faults(engine.clients, "throttle", count=1, operation="HeadBucket")
    engine.reconcile(buckets, REF, SPEC)
    assert engine.clients.limiter.current_rate(key) < 50.0


def test_persistent_faults_become_recoverable_not_terminal(engine: Engine, buckets: BucketClient) -> None:
    Faults(engine.clients, "5xx", count=100)
    outcome = engine.reconcile(buckets, REF, SPEC)
    assert outcome.state is State.ERROR and outcome.error_class is ErrorClass.RECOVERABLE
    assert len(outcome.calls) == 3  # bounded: aws_max_attempts


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the engine may swallow it."""


def _crash_after(clients: AwsClients, calls: int) -> None:
    seen = {"n": 0}

    def hook(**_: Any) -> None:
        seen["n"] += 1
        if seen["n"] > calls:
            raise Crash()

    clients.client("s3").meta.events.register_first("before-call.s3", hook)


@pytest.mark.parametrize("crash_after", range(0, 7))  # every step of a create against moto
def test_operator_killed_at_every_step_of_a_create_converges_without_duplicates(
    aws: Any, s3: Any, crash_after: int
) -> None:
    """Kill the process after N AWS calls of a create, start a new one, and reconcile with the
    create-pending marker the operator records before creating: one bucket, ours, converged."""
    dying = AwsClients()
    _crash_after(dying, crash_after)
    marker: dict[str, float | None] = {"pending": None}

    def before_create() -> None:
        marker["pending"] = time.time()

    with pytest.raises(Crash):
        Engine(dying).reconcile(BucketClient(dying), REF, SPEC, before_create=before_create)

    fresh = AwsClients()
    engine = Engine(fresh)
    outcome = engine.reconcile(BucketClient(fresh), REF, SPEC, create_pending=marker["pending"])
    assert outcome.state is State.READY, outcome.message
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [NAME]
    again = engine.reconcile(BucketClient(fresh), REF, SPEC, spec_changed=False)
    assert again.reason == "UpToDate"
