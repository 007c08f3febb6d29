"""Metric series that queries can rely on: every throttling answer the retries treat as throttling is
counted as one (SQS answers `RequestThrottled`); a service's throttle and retry counters exist at 0 from
its first call, and a served kind's reconcile series from startup, so rate() and increase() see the first
event (a counter born at 1 hides that increase).

moto never throttles: botocore's Stubber gives the AWS-shaped error answer."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber
from prometheus_client import generate_latest

from awsop.operator import metrics
from awsop.reconcilers.aws import AwsClients, AwsConfig

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/q"


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(key, value)
    return []


@pytest.mark.parametrize(
    ("service", "method", "operation", "code", "status", "ok"),
    [
        ("sqs", "get_queue_url", "GetQueueUrl", "RequestThrottled", 400, {"QueueUrl": QUEUE_URL}),
        ("sqs", "get_queue_url", "GetQueueUrl", "ThrottlingException", 400, {"QueueUrl": QUEUE_URL}),
        ("ec2", "describe_launch_templates", "DescribeLaunchTemplates", "RequestLimitExceeded", 503, {}),
        ("dynamodb", "list_tables", "ListTables", "ThrottlingException", 400, {}),
    ],
    ids=["sqs-RequestThrottled", "sqs-ThrottlingException", "ec2-RequestLimitExceeded", "dynamodb"],
)
def test_throttling_answer_counted_as_throttled(
    seen: list[tuple[str, str, str]],
    service: str,
    method: str,
    operation: str,
    code: str,
    status: int,
    ok: dict[str, Any],
) -> None:
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0),
        listeners=[lambda *call: seen.append(call)],
    )
    client = clients.client(service)
    with Stubber(client.raw) as stub:
        stub.add_client_error(method, service_error_code=code, http_status_code=status)
        stub.add_response(method, ok)
        getattr(client, method)(**({"QueueName": "q"} if method == "get_queue_url" else {}))
    assert seen[:2] == [(service, operation, "throttled"), (service, "__retry__", "throttled")]
    assert seen[2] == (service, operation, "ok")


def test_a_services_throttle_and_retry_counters_start_at_zero() -> None:
    metrics.record_aws_call("kinesis", "ListStreams", "ok")
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'awsop_aws_throttles_total{service="kinesis"} 0.0' in text
    assert 'awsop_aws_retries_total{service="kinesis"} 0.0' in text
    metrics.record_aws_call("kinesis", "ListStreams", "throttled")
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'awsop_aws_throttles_total{service="kinesis"} 1.0' in text


def test_served_kinds_reconcile_series_exist_at_zero() -> None:
    metrics.initialise(["Widget"])
    text = generate_latest(metrics.REGISTRY).decode()
    for result in ("success", "error", "terminal", "access"):
        assert f'awsop_reconcile_total{{kind="Widget",result="{result}"}} 0.0' in text
    assert 'awsop_reconcile_duration_seconds_count{kind="Widget"} 0.0' in text
    assert 'awsop_time_to_ready_seconds_count{kind="Widget"} 0.0' in text
