"""The shipped least-privilege IAM policy, proven against moto with IAM enforcement on.

1. Every scenario (create with every facet, no-op checks, facet removal, retain, delete with emptying)
   passes under exactly the policy `awsop iam-policy` prints, and nothing more.
2. The policy holds no action the scenarios do not need: the union of the IAM actions of the operations
   actually called equals the policy, and every called operation is in the kind's IAM table.
3. Removing any one action makes some scenario end with an Access outcome, not a crash.

moto 5.2 authorizes a few S3 operations under other action names than AWS does (see MOTO_ACTIONS); the
translation is explicit here, and actions moto cannot tell apart are proven necessary by check 2 alone.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, ObjectRef, Outcome, Progress, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.kinds import KINDS, iam_policy
from awsop.reconcilers.policies import DeletionPolicy
from awsop.reconcilers.refs import Resolution
from awsop.reconcilers.sqs_queue import QueueClient, QueueSpec
from awsop.reconcilers.table import TableClient, TableSpec

# the kinds proven here; LaunchTemplate and AutoScalingGroup prove theirs in test_iam_policy_autoscaling.py
PROVEN_HERE = [kind for kind in KINDS if kind not in ("LaunchTemplate", "AutoScalingGroup")]
IAM_ACTIONS = {op: actions for kind in PROVEN_HERE for op, actions in KINDS[kind].iam_actions.items()}

pytestmark = pytest.mark.aws
REPO = Path(__file__).resolve().parents[2]

# AWS's IAM action -> the action name(s) moto 5.2 checks for the same operation.
MOTO_ACTIONS: dict[str, tuple[str, ...]] = {
    "s3:ListBucket": ("s3:HeadBucket",),
    "s3:GetEncryptionConfiguration": ("s3:ListBucket",),
    "s3:GetBucketPublicAccessBlock": ("s3:ListBucket",),
    "s3:GetBucketOwnershipControls": ("s3:ListBucket",),
    "s3:PutEncryptionConfiguration": ("s3:CreateBucket",),
    "s3:PutBucketPublicAccessBlock": ("s3:CreateBucket",),
    "s3:PutBucketOwnershipControls": ("s3:CreateBucket",),
    "s3:DeleteObjectVersion": (),  # moto authorizes DeleteObjects with s3:DeleteObject alone
    "s3:TagResource": (),  # moto ignores the tags given to CreateBucket and authorizes it without them
    "s3:GetBucketObjectLockConfiguration": ("s3:ListBucket",),
    "s3:PutBucketObjectLockConfiguration": ("s3:CreateBucket",),
    "s3:GetReplicationConfiguration": ("s3:ListBucket",),
    "s3:PutReplicationConfiguration": ("s3:CreateBucket",),
    "iam:PassRole": (),  # moto's S3 does not check that the caller may pass the replication role
}
# Operation -> IAM actions, for every kind (operation names are unique across the kinds' services).
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    op: a for info in KINDS.values() for op, a in info.iam_actions.items()
}
# Actions of operations moto 5.2.5 does not implement (Contributor Insights, Kinesis streaming, Requester
# Pays, Intelligent-Tiering): no scenario can call them here, so they are in the policy on the strength of
# the kind's IAM table alone (tested with botocore's Stubber: test_table_kinesis.py,
# test_bucket_facets_stubbed.py).
UNPROVABLE = frozenset(
    {
        "dynamodb:DescribeContributorInsights",
        "dynamodb:UpdateContributorInsights",
        # nor the Kinesis streaming destination calls (tests/aws/test_table_kinesis.py pins them by Stubber)
        "dynamodb:DescribeKinesisStreamingDestination",
        "dynamodb:EnableKinesisStreamingDestination",
        "dynamodb:DisableKinesisStreamingDestination",
        # Application Auto Scaling acts with the caller's permissions on AWS (its service-linked role on the
        # first registration, the CloudWatch alarms of a target tracking policy); moto checks only the
        # application-autoscaling action itself
        "iam:CreateServiceLinkedRole",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
        # ImportTable reads its source from S3 and logs to CloudWatch Logs with the caller's permissions on
        # AWS; moto's import reads its own backend and checks only dynamodb:ImportTable
        "s3:GetObject",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
        "logs:PutRetentionPolicy",
        "s3:GetBucketRequestPayment",
        "s3:PutBucketRequestPayment",
        "s3:GetIntelligentTieringConfiguration",
        "s3:PutIntelligentTieringConfiguration",
    }
)


def policy_actions() -> list[str]:
    """The actions of the kinds proven here."""
    return [a for statement in iam_policy(PROVEN_HERE)["Statement"] for a in statement["Action"]]


def as_moto(actions: list[str]) -> list[str]:
    return sorted({m for a in actions for m in MOTO_ACTIONS.get(a, (a,))})


def _auth(aws: EmbeddedAws, count: str) -> None:
    request = urllib.request.Request(
        f"{aws.url}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10)


class Iam:
    """Users made while enforcement is still off; keys for the operator and for the test's own admin."""

    def __init__(self, aws: EmbeddedAws) -> None:
        self.aws = aws
        self.iam = boto3.client("iam", endpoint_url=aws.url, region_name="us-east-1")

    def user(self, name: str, actions: list[str]) -> dict[str, str]:
        self.iam.create_user(UserName=name)
        document = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        if not actions:
            document["Statement"][0]["Action"] = ["s3:GetObjectTorrent"]  # an empty Action list is invalid
        self.iam.put_user_policy(UserName=name, PolicyName="awsop", PolicyDocument=json.dumps(document))
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


@pytest.fixture
def enforced(aws: EmbeddedAws) -> Iterator[Iam]:
    _auth(aws, "inf")
    yield Iam(aws)
    _auth(aws, "inf")


def _spec(path: str, **overrides: Any) -> tuple[ObjectRef, BucketSpec]:
    doc = yaml.safe_load((REPO / "examples" / path).read_text())
    ref = ObjectRef("Bucket", doc["metadata"]["namespace"], doc["metadata"]["name"], 1)
    return ref, BucketSpec.model_validate({**doc["spec"], **overrides})


def _queues(path: str) -> dict[str, tuple[ObjectRef, QueueSpec]]:
    out = {}
    for doc in yaml.safe_load_all((REPO / "examples" / path).read_text()):
        ref = ObjectRef("Queue", doc["metadata"]["namespace"], doc["metadata"]["name"], 1)
        out[ref.name] = (ref, QueueSpec.model_validate(doc["spec"]))
    return out


def run_queue_scenarios(engine: Engine, client: QueueClient) -> list[tuple[str, Outcome]]:
    """Every path the Queue kind has: create a pair by reference, check, update, delete, retain."""
    pair = _queues("queue-orders.yaml")
    dlq_ref, dlq = pair["orders-dlq"]
    src_ref, src = pair["orders"]
    out = [("create dlq", engine.reconcile(client, dlq_ref, dlq))]
    found = Resolution("Queue", "orders-dlq", ready=True, values=out[0][1].status)
    context = ReconcileContext(references={("Queue", "orders-dlq"): found})
    engine.prefetch(client, [(src_ref, src, context)])  # the CLI's read ahead: ListQueues
    changed = src.model_copy(update={"visibility_timeout_seconds": 90, "tags": {"tier": "1"}})
    out += [
        ("create source", engine.reconcile(client, src_ref, src, context=context)),
        ("check source", engine.reconcile(client, src_ref, src, spec_changed=False, context=context)),
        ("update source", engine.reconcile(client, src_ref, changed, context=context)),
        ("delete source", engine.delete(client, src_ref, changed, context=context)),
        (
            "retain dlq",
            engine.delete(client, dlq_ref, dlq.model_copy(update={"deletion_policy": DeletionPolicy.RETAIN})),
        ),
    ]
    return out


def _table(path: str, generation: int = 1, **overrides: Any) -> tuple[ObjectRef, TableSpec]:
    doc = yaml.safe_load((REPO / "examples" / path).read_text())
    ref = ObjectRef("Table", doc["metadata"]["namespace"], doc["metadata"]["name"], generation)
    return ref, TableSpec.model_validate({**doc["spec"], **overrides})


def _until_settled(engine: Engine, client: TableClient, ref: ObjectRef, spec: TableSpec) -> Outcome:
    outcome = engine.reconcile(client, ref, spec)
    for _ in range(6):
        if outcome.state is not State.PROGRESSING:
            break
        progress: Progress | None = outcome.progress
        outcome = engine.reconcile(client, ref, spec, progress=progress)
    return outcome


def run_table_scenarios(engine: Engine, client: TableClient) -> list[tuple[str, Outcome]]:
    """Every path the Table kind has under moto, in order; each step runs even if an earlier one failed."""
    orders_ref, orders = _table("table-orders.yaml")
    sessions_ref, sessions = _table("table-sessions-autoscaled.yaml")
    catalog_ref, catalog = _table("table-catalog.yaml")
    catalog_stripped = catalog.model_copy(update={"resource_policy": ""})
    sessions_unscaled = sessions.model_copy(
        update={
            "auto_scaling": None,
            "global_secondary_indexes": [
                g.model_copy(update={"auto_scaling": None}) for g in sessions.global_secondary_indexes or []
            ],
        }
    )
    edited_ref, edited = _table(
        "table-orders.yaml",
        2,
        tags={"team": "checkout"},  # changed: TagResource; environment removed: UntagResource
        globalSecondaryIndexes=[
            {
                "name": "gsi-by-email",
                "partitionKey": {"name": "email", "type": "S"},
                "projection": {"type": "KEYS_ONLY"},
            },
            {"name": "gsi-by-sku", "partitionKey": {"name": "sku", "type": "S"}},
        ],
        timeToLive={"attributeName": "expiresAt", "enabled": False},
    )
    return [
        ("create orders", engine.reconcile(client, orders_ref, orders)),
        ("create sessions", engine.reconcile(client, sessions_ref, sessions)),
        ("check orders", engine.reconcile(client, orders_ref, orders, spec_changed=False)),
        ("create catalog", engine.reconcile(client, catalog_ref, catalog)),
        ("check catalog", engine.reconcile(client, catalog_ref, catalog, spec_changed=False)),
        ("remove catalog facets", _until_settled(engine, client, catalog_ref, catalog_stripped)),
        ("edit orders", _until_settled(engine, client, edited_ref, edited)),
        ("check sessions", engine.reconcile(client, sessions_ref, sessions, spec_changed=False)),
        ("remove sessions scaling", engine.reconcile(client, sessions_ref, sessions_unscaled)),
        ("retain sessions", engine.delete(client, sessions_ref, sessions_unscaled)),
        (
            "delete orders",
            engine.delete(client, edited_ref, edited.model_copy(update={"deletion_policy": "Delete"})),
        ),
        *_imported(engine, client),
    ]


def _imported(engine: Engine, client: TableClient) -> list[tuple[str, Outcome]]:
    """examples/table-imported.yaml: the source Bucket, then the Table imported from it (ImportTable,
    DescribeImport until moto's import thread is done, the ownership tags), then retained."""
    docs = {d["kind"]: d for d in yaml.safe_load_all((REPO / "examples" / "table-imported.yaml").read_text())}
    bucket_ref = ObjectRef("Bucket", "default", docs["Bucket"]["metadata"]["name"], 1)
    made = engine.reconcile(
        BucketClient(engine.clients), bucket_ref, BucketSpec.model_validate(docs["Bucket"]["spec"])
    )
    found = Resolution("Bucket", bucket_ref.name, ready=made.ok, values=made.status)
    context = ReconcileContext(references={("Bucket", bucket_ref.name): found})
    ref = ObjectRef("Table", "default", docs["Table"]["metadata"]["name"], 1)
    spec = TableSpec.model_validate(docs["Table"]["spec"])
    started = outcome = engine.reconcile(client, ref, spec, context=context)
    for _ in range(40):
        if outcome.state is not State.PROGRESSING:
            break
        time.sleep(0.05)
        outcome = engine.reconcile(
            client,
            ref,
            spec,
            context=context,
            started_create=outcome.started_create,
            progress=outcome.progress,
        )
    return [
        ("create import source", made),
        ("start import", started),
        ("finish import", outcome),
        ("retain imported", engine.delete(client, ref, spec, context=context)),
    ]


LOCKED_REF = ObjectRef("Bucket", "iam", "locked", 1)
LOCKED = BucketSpec.model_validate(
    {"name": "awsop-iam-locked", "objectLock": {"defaultRetention": {"mode": "GOVERNANCE", "days": 1}}}
)


def _notifying(engine: Engine, client: BucketClient) -> list[tuple[str, Outcome]]:
    """examples/bucket-notifications.yaml: the queue, then the bucket that notifies it (policy check)."""
    docs = {
        d["kind"]: d
        for d in yaml.safe_load_all((REPO / "examples" / "bucket-notifications.yaml").read_text())
    }
    queue = docs["Queue"]
    queue_ref = ObjectRef("Queue", queue["metadata"]["namespace"], queue["metadata"]["name"], 1)
    made = engine.reconcile(QueueClient(engine.clients), queue_ref, QueueSpec.model_validate(queue["spec"]))
    found = Resolution("Queue", queue_ref.name, ready=made.ok, values=made.status)
    context = ReconcileContext(references={("Queue", queue_ref.name): found})
    bucket = docs["Bucket"]
    ref = ObjectRef("Bucket", bucket["metadata"]["namespace"], bucket["metadata"]["name"], 1)
    spec = BucketSpec.model_validate(bucket["spec"])
    site_ref, site = _spec("bucket-static-site.yaml")
    return [
        ("create uploads queue", made),
        ("create uploads", engine.reconcile(client, ref, spec, context=context)),
        ("check uploads", engine.reconcile(client, ref, spec, spec_changed=False, context=context)),
        ("create static site", engine.reconcile(client, site_ref, site)),
        ("check static site", engine.reconcile(client, site_ref, site, spec_changed=False)),
        ("create locked", engine.reconcile(client, LOCKED_REF, LOCKED)),
        ("check locked", engine.reconcile(client, LOCKED_REF, LOCKED, spec_changed=False)),
        *_replicated(engine, client),
    ]


def _replicated(engine: Engine, client: BucketClient) -> list[tuple[str, Outcome]]:
    """examples/bucket-replicated.yaml: the replica, then the source that replicates into it."""
    docs = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all((REPO / "examples" / "bucket-replicated.yaml").read_text())
    }
    replica = docs["reports-replica"]
    replica_ref = ObjectRef("Bucket", "default", "reports-replica", 1)
    made = engine.reconcile(client, replica_ref, BucketSpec.model_validate(replica["spec"]))
    found = Resolution("Bucket", "reports-replica", ready=made.ok, values=made.status)
    context = ReconcileContext(references={("Bucket", "reports-replica"): found})
    source_ref = ObjectRef("Bucket", "default", "reports", 1)
    source = BucketSpec.model_validate(docs["reports"]["spec"])
    return [
        ("create replica", made),
        ("create replicated", engine.reconcile(client, source_ref, source, context=context)),
        (
            "check replicated",
            engine.reconcile(client, source_ref, source, spec_changed=False, context=context),
        ),
    ]


def run_scenarios(engine: Engine, client: BucketClient, admin: Any) -> list[tuple[str, Outcome]]:
    """Every path of every kind, in order; each step runs even if an earlier one failed."""
    logs_ref, logs = _spec("bucket-logs.yaml")
    web_ref, web = _spec("bucket-website-assets.yaml", deletionPolicy="Delete", emptyOnDelete=True)
    app_ref, app = _spec("bucket-basic.yaml")
    stripped = web.model_copy(update={"policy": "", "cors": [], "lifecycle_rules": [], "tags": {}})
    pending_ref = ObjectRef("Bucket", "iam", "pending", 1)
    pending = BucketSpec.model_validate({"name": "awsop-iam-pending", "deletionPolicy": "Delete"})
    pending_since = time.time()
    # a create that crashed before its tags: the bucket exists untagged, created after the mark
    with contextlib.suppress(Exception):
        admin.create_bucket(Bucket="awsop-iam-pending")
    out = [
        (
            "recover pending create",
            engine.reconcile(client, pending_ref, pending, create_pending=pending_since),
        ),
        ("delete recovered", engine.delete(client, pending_ref, pending)),
        ("create logs", engine.reconcile(client, logs_ref, logs)),
        ("create web", engine.reconcile(client, web_ref, web)),
        ("create app", engine.reconcile(client, app_ref, app)),
        ("check web", engine.reconcile(client, web_ref, web, spec_changed=False)),
        ("remove web facets", engine.reconcile(client, web_ref, stripped)),
        *_notifying(engine, client),
    ]
    try:
        for body in (b"1", b"2"):
            admin.put_object(Bucket="awsop-example-web-assets", Key="k", Body=body)
    except Exception:  # the bucket may not exist when its create was denied
        pass
    out += [
        ("retain app", engine.delete(client, app_ref, app)),
        ("delete web", engine.delete(client, web_ref, stripped)),
        ("delete logs", engine.delete(client, logs_ref, logs)),
    ]
    return out


def _operator(aws: EmbeddedAws, keys: dict[str, str]) -> tuple[Engine, BucketClient]:
    session = boto3.Session(region_name="us-east-1", **keys)
    clients = AwsClients(
        AwsConfig(default_region="us-east-1", default_rate_limit=0, max_attempts=1), session=session
    )
    return Engine(clients), BucketClient(clients)


def _all_scenarios(
    engine: Engine, client: BucketClient, admin: Any, kinds: set[str]
) -> list[tuple[str, Outcome]]:
    results = run_scenarios(engine, client, admin) if "s3" in kinds else []
    if "sqs" in kinds:
        results += run_queue_scenarios(engine, QueueClient(engine.clients))
    if "dynamodb" in kinds or "application-autoscaling" in kinds:
        results += run_table_scenarios(engine, TableClient(engine.clients))
    return results


def test_shipped_policy_file_is_current() -> None:
    shipped = json.loads((REPO / "docs" / "iam-policy.json").read_text())
    assert shipped == iam_policy(), (
        "docs/iam-policy.json is stale: run `.venv/bin/awsop iam-policy > docs/iam-policy.json`"
    )


def test_every_scenario_passes_under_exactly_the_shipped_policy(enforced: Iam, aws: EmbeddedAws) -> None:
    admin_keys = enforced.user("admin", ["s3:*", "sqs:*", "dynamodb:*", "application-autoscaling:*"])
    operator_keys = enforced.user("awsop", as_moto(policy_actions()))
    _auth(aws, "0")  # from here on every call is authorized against IAM
    admin = boto3.client("s3", endpoint_url=aws.url, region_name="us-east-1", **admin_keys)
    engine, client = _operator(aws, operator_keys)
    results = _all_scenarios(engine, client, admin, {"s3", "sqs", "dynamodb"})
    failures = [(step, o.reason, o.message) for step, o in results if not o.ok]
    assert failures == []
    reasons = {step: o.reason for step, o in results}
    assert [reasons[s] for s in ("retain app", "delete web", "delete logs")] == [
        "Retained",
        "Deleted",
        "Deleted",
    ]
    assert [reasons[s] for s in ("update source", "delete source", "retain dlq")] == [
        "Updated",
        "Deleted",
        "Retained",
    ]
    assert [reasons[s] for s in ("retain sessions", "delete orders")] == ["Retained", "Deleted"]
    assert [reasons[s] for s in ("start import", "finish import")] == ["CreateStarted", "Updated"]

    called = {call.split(":", 1)[1] for call in engine.clients.log.calls}
    assert called <= set(IAM_ACTIONS), f"operations missing from IAM_ACTIONS: {called - set(IAM_ACTIONS)}"
    needed = {action for op in called for action in IAM_ACTIONS[op]}
    assert needed - UNPROVABLE == set(policy_actions()) - UNPROVABLE, (
        "the policy must hold exactly the actions the scenarios call"
    )


# Actions of reads ahead that only save calls (the CLI's ListQueues, Engine.prefetch): without them every
# scenario still passes, one GetQueueUrl per queue dearer, so their removal ends in no access condition.
BEST_EFFORT = frozenset({"sqs:ListQueues"})


def _distinguishable() -> list[str]:
    full = as_moto(policy_actions())
    return [
        a
        for a in policy_actions()
        if a not in UNPROVABLE | BEST_EFFORT and as_moto([b for b in policy_actions() if b != a]) != full
    ]


@pytest.mark.parametrize("removed", _distinguishable())
def test_removing_any_action_ends_in_an_access_condition(
    enforced: Iam, aws: EmbeddedAws, removed: str
) -> None:
    admin_keys = enforced.user("admin", ["s3:*", "sqs:*", "dynamodb:*", "application-autoscaling:*"])
    operator_keys = enforced.user("awsop", as_moto([a for a in policy_actions() if a != removed]))
    _auth(aws, "0")
    admin = boto3.client("s3", endpoint_url=aws.url, region_name="us-east-1", **admin_keys)
    engine, client = _operator(aws, operator_keys)
    # only the scenarios of the service the action belongs to: one kind's actions never affect another's
    results = _all_scenarios(engine, client, admin, {removed.split(":", 1)[0]})  # every failure is an outcome
    denied = [(step, o.reason) for step, o in results if o.error_class is ErrorClass.ACCESS]
    assert denied, f"without {removed} every scenario still passed: the action is not needed"
    # later steps may fail as a consequence (a bucket never tagged is not ours); all are classified outcomes
    assert all(o.reason for _, o in results)
