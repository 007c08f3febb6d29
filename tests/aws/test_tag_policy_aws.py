"""TagPolicy at reconcile, against the emulator: defaults reach AWS for every kind, and a Deny violation
makes no AWS call at all (golden call logs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import TAG_POLICY_VIOLATION, Engine, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.tag_policy import NamedPolicy, Subject, TagPolicySpec, evaluate
from awsop.reconcilers.tags import KIND_TAG, OWNER_TAG

pytestmark = pytest.mark.aws

POLICY = NamedPolicy(
    "org-tags",
    TagPolicySpec.model_validate(
        {
            "required": [
                {"key": "team", "values": ["payments", "web", "platform-*"]},
                {"key": "cost-center", "values": ["cc-*"]},
            ],
            "defaults": {"environment": "{namespaceLabel:environment}", "origin": "{namespace}/{name}"},
        }
    ),
)


@dataclass(frozen=True)
class KindCase:
    """How to build a minimal spec of a kind and read its tags back from AWS."""

    spec: dict[str, Any]
    read_tags: Callable[[str, Any], dict[str, str]]  # (aws name, emulator) -> tags
    setup: Callable[[Any], None] | None = None  # creates what the spec needs in the emulator


def _bucket_tags(name: str, aws: Any) -> dict[str, str]:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.url)
    return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}


def _queue_tags(name: str, aws: Any) -> dict[str, str]:
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.url)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return dict(sqs.list_queue_tags(QueueUrl=url).get("Tags", {}))


def _table_tags(name: str, aws: Any) -> dict[str, str]:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.url)
    arn = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
    return {t["Key"]: t["Value"] for t in dynamodb.list_tags_of_resource(ResourceArn=arn)["Tags"]}


def _launch_template_tags(name: str, aws: Any) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=aws.url)
    template = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"][0]
    return {t["Key"]: t["Value"] for t in template.get("Tags", [])}


def _group_tags(name: str, aws: Any) -> dict[str, str]:
    autoscaling = boto3.client("autoscaling", region_name="us-east-1", endpoint_url=aws.url)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {t["Key"]: t["Value"] for t in group.get("Tags", [])}


GROUP_TEMPLATE = "tp-shop-group-template"


def _group_template(aws: Any) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=aws.url)
    if not ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [GROUP_TEMPLATE]}]
    )["LaunchTemplates"]:
        ec2.create_launch_template(
            LaunchTemplateName=GROUP_TEMPLATE,
            LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": "t3.micro"},
        )


CASES: dict[str, KindCase] = {
    "Bucket": KindCase({}, _bucket_tags),
    "Queue": KindCase({}, _queue_tags),
    "Table": KindCase({"partitionKey": {"name": "pk", "type": "S"}}, _table_tags),
    "LaunchTemplate": KindCase(
        {"imageId": "ami-12345678", "instanceType": "t3.micro"}, _launch_template_tags
    ),
    "AutoScalingGroup": KindCase(
        {
            "launchTemplate": {"name": GROUP_TEMPLATE},
            "minSize": 0,
            "maxSize": 1,
            "availabilityZones": ["us-east-1a"],
        },
        _group_tags,
        _group_template,
    ),
}


def test_every_kind_has_a_tag_policy_case() -> None:
    """A new kind must show that TagPolicy defaults reach AWS for it: add a row to CASES."""
    assert sorted(CASES) == sorted(KINDS)


def _context(kind: str, ref: ObjectRef, tags: dict[str, str]) -> ReconcileContext:
    subject = Subject(kind, ref.namespace, ref.name, tags, {"environment": "prod"})
    return ReconcileContext(tag_policy=evaluate([POLICY], subject, {"managed-by": "awsop"}))


@pytest.mark.parametrize("kind", sorted(CASES))
def test_policy_defaults_reach_aws_below_operator_defaults_and_spec(
    kind: str, engine: Engine, clients: AwsClients, aws: Any
) -> None:
    info, case = KINDS[kind], CASES[kind]
    if case.setup is not None:
        case.setup(aws)
    ref = ObjectRef(kind, "tp-shop", f"{kind.lower()}-dflt", 1)
    user = {"team": "payments", "cost-center": "cc-7", "origin": "spec-wins"}
    spec = info.spec_model.model_validate({**case.spec, "tags": user})
    client = info.make_client(clients)
    context = _context(kind, ref, user)

    planned = engine.reconcile(client, ref, spec, plan_only=True, context=context)
    assert planned.plan.policy_tags == {"environment": ("prod", "org-tags")}
    assert "  TagPolicy defaults: environment=prod (org-tags)" in planned.plan.render()

    outcome = engine.reconcile(client, ref, spec, context=context)
    assert outcome.state is State.READY, outcome.message
    assert case.read_tags(outcome.plan.aws_name, aws) == {
        **user,
        "environment": "prod",
        "managed-by": "awsop",
        OWNER_TAG: f"test-cluster/{ref.namespace}/{ref.name}",
        KIND_TAG: kind,
    }
    again = engine.reconcile(client, ref, spec, spec_changed=False, context=context)
    assert again.reason == "UpToDate", again.message  # defaults are not drift


@pytest.mark.parametrize("kind", sorted(CASES))
def test_deny_violation_makes_no_aws_call(kind: str, engine: Engine, clients: AwsClients) -> None:
    info, case = KINDS[kind], CASES[kind]
    ref = ObjectRef(kind, "tp-shop", f"{kind.lower()}-deny", 1)
    user = {"team": "sales"}
    spec = info.spec_model.model_validate({**case.spec, "tags": user})
    outcome = engine.reconcile(info.make_client(clients), ref, spec, context=_context(kind, ref, user))
    assert outcome.calls == []
    assert (outcome.state, outcome.reason, outcome.error_class) == (
        State.STALLED,
        TAG_POLICY_VIOLATION,
        ErrorClass.TERMINAL,
    )
    assert outcome.message == (
        "tag 'team' has value 'sales', not allowed (allowed: payments, web, platform-*) (TagPolicy org-tags, "
        "Deny); tag 'cost-center' is missing (allowed: cc-*) (TagPolicy org-tags, Deny)"
    )
    assert [(e.type, e.reason) for e in outcome.events] == [("Warning", TAG_POLICY_VIOLATION)]


def test_bucket_created_before_a_deny_policy_is_left_alone_then_recovers(
    engine: Engine, clients: AwsClients, aws: Any
) -> None:
    """An existing bucket that a new Deny policy finds non-compliant gets no write (not even tags);
    once the object is tagged it converges in one reconcile."""
    info = KINDS["Bucket"]
    client = info.make_client(clients)
    ref = ObjectRef("Bucket", "tp-shop", "legacy", 1)
    spec = info.spec_model.model_validate({"versioning": "Enabled", "tags": {"team": "web"}})
    assert engine.reconcile(client, ref, spec).state is State.READY
    blocked = engine.reconcile(client, ref, spec, context=_context("Bucket", ref, {"team": "web"}))
    assert (blocked.state, blocked.calls) == (State.STALLED, [])

    tagged = {"team": "web", "cost-center": "cc-1"}
    fixed = info.spec_model.model_validate({"versioning": "Enabled", "tags": tagged})
    outcome = engine.reconcile(client, ref, fixed, context=_context("Bucket", ref, tagged))
    assert outcome.state is State.READY, outcome.message
    assert outcome.calls == [
        "s3:HeadBucket",
        "s3:GetBucketTagging",
        "s3:GetBucketVersioning",
        "s3:PutBucketTagging",
    ]
    assert _bucket_tags("tp-shop-legacy", aws)["environment"] == "prod"


def test_report_violation_still_converges_and_carries_the_verdict(
    engine: Engine, clients: AwsClients
) -> None:
    report = NamedPolicy("report-only", POLICY.spec.model_copy(update={"enforcement": "Report"}))
    ref = ObjectRef("Bucket", "tp-shop", "reported", 1)
    spec = KINDS["Bucket"].spec_model.model_validate({"tags": {"team": "nobody"}})
    verdict = evaluate([report], Subject("Bucket", ref.namespace, ref.name, {"team": "nobody"}))
    outcome = engine.reconcile(
        KINDS["Bucket"].make_client(clients), ref, spec, context=ReconcileContext(tag_policy=verdict)
    )
    assert outcome.state is State.READY, outcome.message
    assert [v.key for v in outcome.tag_policy.violations] == ["team", "cost-center"]
    assert outcome.tag_policy.denied == ()


def test_delete_is_never_blocked_by_a_policy(engine: Engine, clients: AwsClients) -> None:
    info = KINDS["Bucket"]
    client = info.make_client(clients)
    ref = ObjectRef("Bucket", "tp-shop", "gone", 1)
    spec = info.spec_model.model_validate({"deletionPolicy": "Delete"})
    assert engine.reconcile(client, ref, spec).state is State.READY
    outcome = engine.delete(client, ref, spec, context=_context("Bucket", ref, {}))
    assert (outcome.state, outcome.reason) == (State.DELETED, "Deleted")
