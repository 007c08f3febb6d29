"""Property: for any valid QueueSpec, one reconcile converges and the next plan is empty (moto server).

The dead-letter queue is given by reference, resolved as the runners do. RedriveAllowPolicy is left out:
moto 5.2.5 accepts it in SetQueueAttributes/CreateQueue but neither stores nor returns it (see the docs).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.refs import Resolution
from awsop.reconcilers.sqs_queue import QueueClient, QueueSpec

pytestmark = pytest.mark.aws

COUNTER = itertools.count()
TAG_KEY = st.sampled_from(["team", "env", "cost-center", "owner", "app"])
TAG_VALUE = st.sampled_from(["", "a", "payments", "dev", "x" * 40])


def policy_json(account: str = "123456789012") -> st.SearchStrategy[str]:
    actions = st.lists(
        st.sampled_from(["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"]),
        min_size=1,
        max_size=3,
        unique=True,
    )
    return actions.map(
        lambda acts: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                        "Action": acts if len(acts) > 1 else acts[0],
                        "Resource": "*",
                    }
                ],
            }
        )
    )


@st.composite
def queue_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    fifo = draw(st.booleans())
    if fifo:
        spec["fifo"] = True
        optional_fifo = {
            "contentBasedDeduplication": st.booleans(),
            "deduplicationScope": st.sampled_from(["messageGroup", "queue"]),
            "fifoThroughputLimit": st.sampled_from(["perQueue", "perMessageGroupId"]),
        }
        for key, strategy in optional_fifo.items():
            if draw(st.booleans()):
                spec[key] = draw(strategy)
    optional: dict[str, st.SearchStrategy[Any]] = {
        "visibilityTimeoutSeconds": st.integers(0, 43200),
        "messageRetentionSeconds": st.integers(60, 1209600),
        "delaySeconds": st.integers(0, 900),
        "maximumMessageSize": st.integers(1024, 1048576),
        "receiveMessageWaitTimeSeconds": st.integers(0, 20),
        "deadLetterQueue": st.integers(1, 1000).map(lambda n: {"ref": {"name": "dlq"}, "maxReceiveCount": n}),
        "encryption": st.one_of(
            st.just({"type": "SQS"}),
            st.fixed_dictionaries(
                {"type": st.just("KMS")},
                optional={
                    "kmsKeyId": st.sampled_from(["alias/aws/sqs", "alias/app"]),
                    "dataKeyReusePeriodSeconds": st.integers(60, 86400),
                },
            ),
        ),
        "policy": policy_json(),
        "tags": st.dictionaries(TAG_KEY, TAG_VALUE, max_size=5),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            spec[key] = draw(strategy)
    return spec


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=queue_specs())
def test_any_valid_queue_spec_converges_and_then_plans_nothing(
    aws: Any, engine: Engine, clients: AwsClients, raw: dict[str, Any]
) -> None:
    spec = QueueSpec.model_validate(raw)
    n = next(COUNTER)
    context = ReconcileContext()
    if spec.dead_letter_queue is not None:
        dlq_spec = QueueSpec.model_validate({"fifo": True} if spec.fifo else {})
        dlq = engine.reconcile(QueueClient(clients), ObjectRef("Queue", "prop", f"dlq-{n}", 1), dlq_spec)
        assert dlq.state is State.READY, dlq.message
        context = ReconcileContext(
            references={("Queue", "dlq"): Resolution("Queue", "dlq", True, dlq.status)}
        )
    ref = ObjectRef("Queue", "prop", f"q-{n}", 1)

    outcome = engine.reconcile(QueueClient(clients), ref, spec, context=context)
    assert outcome.state is State.READY, (outcome.reason, outcome.message)
    assert outcome.plan.verb == "create"

    # a plan from another process (no cached URL, no memory of writes) finds nothing to change
    again = engine.reconcile(
        QueueClient(clients), ref, spec, spec_changed=False, plan_only=True, context=context
    )
    assert again.state is State.PLANNED, (again.reason, again.message)
    assert again.plan.verb == "none", again.plan.render()
    assert len(again.calls) == 3  # GetQueueUrl, GetQueueAttributes, ListQueueTags
