"""The registry of kinds: API identity (group, plural, short names) and the client for each.

The operator registers handlers for every entry, the CRD generator renders one CRD per entry, and the CLI
dispatches manifests by `apiVersion`/`kind` through it. Adding a kind means adding a module and a line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from .account import AWSAccountSpec, AWSAccountStatus
from .autoscaling_group import IAM_ACTIONS as ASG_IAM_ACTIONS
from .autoscaling_group import NAMES_PER_CALL as ASG_NAMES_PER_CALL
from .autoscaling_group import AutoScalingGroupClient, AutoScalingGroupSpec, AutoScalingGroupStatus
from .aws import AwsClients
from .bucket import IAM_ACTIONS as BUCKET_IAM_ACTIONS
from .bucket import BucketClient, BucketSpec
from .engine import (
    AddsOwnTags,
    ConfirmsCreate,
    Discards,
    ExclusiveCreate,
    FinishesCreate,
    GlobalNames,
    KnowsCreatedAt,
    MovesIdentifiers,
    Prefetches,
    ReadsTags,
    ReportsBusy,
    StartsCreate,
    TagsAtCreate,
    TagsOwner,
)
from .launch_template import IAM_ACTIONS as LAUNCH_TEMPLATE_IAM_ACTIONS
from .launch_template import NAMES_PER_CALL as LAUNCH_TEMPLATE_NAMES_PER_CALL
from .launch_template import LaunchTemplateClient, LaunchTemplateSpec, LaunchTemplateStatus
from .model import AwsObjectSpec, AwsObjectStatus, Model
from .sqs_queue import IAM_ACTIONS as QUEUE_IAM_ACTIONS
from .sqs_queue import QueueClient, QueueSpec, QueueStatus
from .table import IAM_ACTIONS as TABLE_IAM_ACTIONS
from .table import TableClient, TableSpec, TableStatus
from .tag_policy import TagPolicySpec, TagPolicyStatus

VERSION = "v1alpha1"
CATEGORY = "aws"  # `kubectl get aws`: the namespaced AWS kinds only
# the cluster-scoped configuration kinds have a category of their own: `kubectl delete aws --all -n team-a`
# must not take every AWSAccount and TagPolicy of the cluster with it (kubectl applies a namespace only to
# the namespaced resources of a category and deletes the cluster-scoped ones everywhere)
CONFIG_CATEGORY = "awsop-config"


@dataclass(frozen=True)
class KindInfo:
    kind: str
    group: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    spec_model: type[AwsObjectSpec]
    status_model: type[AwsObjectStatus]
    make_client: Callable[[AwsClients], Any]
    description: str
    iam_actions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """AWS operation name -> IAM actions that authorize it, for every operation the kind calls."""
    scope: str = "Namespaced"
    extra_columns: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    refers_to: tuple[str, ...] = ()
    """Kinds this kind's specs may reference (`spec.references()`): deleting one of those checks for users."""
    batch_per_call: int = 0
    """Names one shared periodic read covers (reconcilers/batch.py); the operator then aligns the kind's
    routine drift checks so that those due together share it. 0: each check reads on its own."""
    category: str = CATEGORY

    @property
    def api_version(self) -> str:
        return f"{self.group}/{VERSION}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


@dataclass(frozen=True)
class ConfigKindInfo:
    """A configuration kind: read by the operator and the CLI, never an AWS resource (no client)."""

    kind: str
    group: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    spec_model: type[Model]
    status_model: type[Model]
    description: str
    scope: str = "Cluster"
    category: str = CONFIG_CATEGORY

    @property
    def api_version(self) -> str:
        return f"{self.group}/{VERSION}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


class BucketStatus(AwsObjectStatus):
    """Status of a Bucket."""

    versioning: str | None = Field(
        None, description="The versioning the spec declares (replication sources check it at plan time)."
    )


KINDS: dict[str, KindInfo] = {
    "Bucket": KindInfo(
        kind="Bucket",
        group="s3.awsop.io",
        plural="buckets",
        singular="bucket",
        short_names=("bkt", "s3b"),
        spec_model=BucketSpec,
        status_model=BucketStatus,
        make_client=BucketClient,
        description="An S3 bucket managed by awsop.",
        iam_actions=BUCKET_IAM_ACTIONS,
        refers_to=("Queue", "Bucket"),
    ),
    "Queue": KindInfo(
        kind="Queue",
        group="sqs.awsop.io",
        plural="queues",
        singular="queue",
        short_names=("q", "sqsq"),
        spec_model=QueueSpec,
        status_model=QueueStatus,
        make_client=QueueClient,
        description="An SQS queue managed by awsop.",
        iam_actions=QUEUE_IAM_ACTIONS,
        extra_columns=({"name": "URL", "type": "string", "jsonPath": ".status.url", "priority": 1},),
        refers_to=("Queue",),
    ),
    "LaunchTemplate": KindInfo(
        kind="LaunchTemplate",
        group="ec2.awsop.io",
        plural="launchtemplates",
        singular="launchtemplate",
        short_names=("lt",),
        spec_model=LaunchTemplateSpec,
        status_model=LaunchTemplateStatus,
        make_client=LaunchTemplateClient,
        description="An EC2 launch template managed by awsop (its default version is the spec).",
        iam_actions=LAUNCH_TEMPLATE_IAM_ACTIONS,
        extra_columns=({"name": "Version", "type": "integer", "jsonPath": ".status.defaultVersion"},),
        batch_per_call=LAUNCH_TEMPLATE_NAMES_PER_CALL,
    ),
    "AutoScalingGroup": KindInfo(
        kind="AutoScalingGroup",
        group="autoscaling.awsop.io",
        plural="autoscalinggroups",
        singular="autoscalinggroup",
        short_names=("asg",),
        spec_model=AutoScalingGroupSpec,
        status_model=AutoScalingGroupStatus,
        make_client=AutoScalingGroupClient,
        description="An EC2 Auto Scaling group managed by awsop.",
        iam_actions=ASG_IAM_ACTIONS,
        extra_columns=(
            {"name": "Min", "type": "integer", "jsonPath": ".spec.minSize"},
            {"name": "Max", "type": "integer", "jsonPath": ".spec.maxSize"},
            {"name": "InService", "type": "integer", "jsonPath": ".status.instances.InService"},
        ),
        refers_to=("LaunchTemplate",),
        batch_per_call=ASG_NAMES_PER_CALL,
    ),
    "Table": KindInfo(
        kind="Table",
        group="dynamodb.awsop.io",
        plural="tables",
        singular="table",
        short_names=("ddb", "ddbt"),
        spec_model=TableSpec,
        status_model=TableStatus,
        make_client=TableClient,
        description="A DynamoDB table managed by awsop.",
        iam_actions=TABLE_IAM_ACTIONS,
        extra_columns=(
            {"name": "Table Status", "type": "string", "jsonPath": ".status.tableStatus"},
            {"name": "Step", "type": "string", "jsonPath": ".status.progress.currentStep", "priority": 1},
        ),
    ),
}


def referrers_of(kind: str) -> list[KindInfo]:
    """The kinds whose objects may reference objects of `kind`."""
    return [info for info in KINDS.values() if kind in info.refers_to]


CONFIG_KINDS: dict[str, ConfigKindInfo] = {
    "AWSAccount": ConfigKindInfo(
        kind="AWSAccount",
        group="awsop.io",
        plural="awsaccounts",
        singular="awsaccount",
        short_names=("awsacct",),
        spec_model=AWSAccountSpec,
        status_model=AWSAccountStatus,
        description="An AWS account awsop may use: the role it assumes, its regions, the namespaces granted "
        "to it and the tags every resource in it carries.",
    ),
    "TagPolicy": ConfigKindInfo(
        kind="TagPolicy",
        group="awsop.io",
        plural="tagpolicies",
        singular="tagpolicy",
        short_names=("tagpol",),
        spec_model=TagPolicySpec,
        status_model=TagPolicyStatus,
        description="Tag rules (required keys, allowed values, forbidden keys) and default tags for awsop "
        "objects, enforced at admission, at reconcile and by `awsop plan`.",
    ),
}


def iam_policy(kinds: list[str] | None = None) -> dict[str, Any]:
    """The least-privilege IAM policy for the given kinds (default: all): exactly the actions they call."""
    actions: set[str] = set()
    for name, info in KINDS.items():
        if kinds is None or name in kinds:
            for needed in info.iam_actions.values():
                actions.update(needed)
    by_service: dict[str, list[str]] = {}
    for action in sorted(actions):
        by_service.setdefault(action.split(":", 1)[0], []).append(action)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": _sid(service), "Effect": "Allow", "Action": listed, "Resource": "*"}
            for service, listed in sorted(by_service.items())
        ],
    }


def by_api_version(api_version: str, kind: str) -> KindInfo | None:
    info = KINDS.get(kind)
    if info is None or info.api_version != api_version:
        return None
    return info


def config_by_api_version(api_version: str, kind: str) -> ConfigKindInfo | None:
    info = CONFIG_KINDS.get(kind)
    if info is None or info.api_version != api_version:
        return None
    return info


if TYPE_CHECKING:
    # The engine finds a kind's optional capabilities with isinstance (engine.ReportsBusy and the rest);
    # listing who has which here makes mypy check each kind's signatures against the engine's protocols.
    _busy: tuple[type[ReportsBusy], ...] = (TableClient, AutoScalingGroupClient)
    _tags_owner: tuple[type[TagsOwner], ...] = (BucketClient, TableClient)
    _starts: tuple[type[StartsCreate], ...] = (TableClient,)
    _confirms: tuple[type[ConfirmsCreate], ...] = (BucketClient,)
    _finishes: tuple[type[FinishesCreate], ...] = (BucketClient, AutoScalingGroupClient)
    _discards: tuple[type[Discards], ...] = (BucketClient,)
    _created_at: tuple[type[KnowsCreatedAt], ...] = (BucketClient,)
    _moves: tuple[type[MovesIdentifiers], ...] = (LaunchTemplateClient,)
    _reads_tags: tuple[type[ReadsTags], ...] = (
        BucketClient,
        QueueClient,
        TableClient,
        LaunchTemplateClient,
        AutoScalingGroupClient,
    )
    _exclusive: tuple[type[ExclusiveCreate], ...] = (TableClient, LaunchTemplateClient)
    _global: tuple[type[GlobalNames], ...] = (BucketClient,)
    _tags_at_create: tuple[type[TagsAtCreate], ...] = (
        QueueClient,
        TableClient,
        LaunchTemplateClient,
        AutoScalingGroupClient,
    )
    _own_tags: tuple[type[AddsOwnTags], ...] = (AutoScalingGroupClient, TableClient)
    _prefetches: tuple[type[Prefetches], ...] = (QueueClient, LaunchTemplateClient, AutoScalingGroupClient)


def _sid(service: str) -> str:
    """IAM statement ids are letters and digits only: `application-autoscaling` -> ApplicationAutoscaling."""
    return "Awsop" + "".join(part.capitalize() for part in service.split("-"))
