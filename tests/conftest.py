"""Shared fixtures: one moto server per test session on 127.0.0.1, reset between tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from realserver import (  # noqa: F401 (the real API server tier: fixture and hooks)
    pytest_runtest_makereport,
    pytest_terminal_summary,
    real_apiserver,
)

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.bucket import BucketClient
from awsop.reconcilers.engine import Engine, EngineConfig
from awsop.reconcilers.sqs_queue import QueueClient


def _schedule_rank(item: pytest.Item) -> int:
    if item.get_closest_marker("slow"):
        return 0
    return 1 if "e2e" in item.path.parts else 2


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The few scenarios that take minutes run first, then the other end-to-end files, then the fast ones.

    `make test` spreads files over parallel workers (pytest-xdist, `--dist loadfile` without reordering):
    starting the long files first lets the short ones fill the gaps, so the workers finish together instead
    of one worker running a minutes-long scenario alone at the end. The sort is stable and each file's
    tests stay in their written order."""
    items.sort(key=_schedule_rank)


@pytest.fixture(scope="session", autouse=True)
def _local_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI's create journal (and anything else kept under XDG_STATE_HOME) goes to a temporary folder
    for the whole session, subprocesses included: tests never write into the user's home."""
    state = tmp_path_factory.mktemp("state")
    saved = {k: os.environ.get(k) for k in ("AWSOP_JOURNAL", "XDG_STATE_HOME")}
    os.environ["XDG_STATE_HOME"] = str(state)
    os.environ["AWSOP_JOURNAL"] = str(state / "awsop" / "creates.json")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def moto_server() -> Iterator[EmbeddedAws]:
    aws = EmbeddedAws(region="us-east-1").start(set_env=False)
    saved = {k: os.environ.get(k) for k in aws.env()}
    os.environ.update(aws.env())
    yield aws
    aws.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def aws(moto_server: EmbeddedAws) -> Iterator[EmbeddedAws]:
    """A clean emulator for this test."""
    moto_server.reset()
    yield moto_server


@pytest.fixture
def clients(aws: EmbeddedAws) -> AwsClients:
    return AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=3))


@pytest.fixture
def engine(clients: AwsClients) -> Engine:
    return Engine(clients, EngineConfig(cluster_id="test-cluster", default_tags={"managed-by": "awsop"}))


@pytest.fixture
def buckets(clients: AwsClients) -> BucketClient:
    return BucketClient(clients)


@pytest.fixture
def s3(aws: EmbeddedAws):  # type: ignore[no-untyped-def]
    """A plain boto3 client for out-of-band changes and assertions."""
    return boto3.client("s3", region_name="us-east-1", endpoint_url=aws.url)


@pytest.fixture
def queues(clients: AwsClients) -> QueueClient:
    return QueueClient(clients)


@pytest.fixture
def sqs(aws: EmbeddedAws):  # type: ignore[no-untyped-def]
    """A plain boto3 SQS client for out-of-band changes and assertions."""
    return boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.url)
