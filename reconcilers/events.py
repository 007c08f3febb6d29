"""Event-driven drift, AWS side: the EventBridge rule and SQS queue awsop owns per (account, region), and
what a CloudTrail event delivered through them means.

CloudTrail records every management write API call; EventBridge receives them as events of detail-type
"AWS API Call via CloudTrail" on the default bus. One rule per (account, region) matches the write calls
of the services awsop manages and sends them to one queue; the operator's consumer reads the queue and
asks the object that manages the named resource for an immediate drift check (reads only).

This module holds the desired state of that channel (rule pattern, queue spec and policy, names, tags
through the engine's tag layers and ownership tags), ensures it in AWS, and turns a message body into
the identities of the resources it names (`parse_event`, `resource_keys`). It never imports kopf and
never decides what a check does: the engine does that under each object's driftPolicy.

It must never: treat a malformed message as retryable (the consumer deletes it), take a read-only call
for a change, or report awsop's own calls (its user agent, its role session) as out-of-band changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from .account import ResolvedAccount
from .context import ReconcileContext
from .engine import Engine, ObjectRef, Outcome
from .errors import error_code
from .sqs_queue import IAM_ACTIONS as QUEUE_IAM_ACTIONS
from .sqs_queue import QueueClient, QueueSpec
from .tags import OWNER_TAG, layered_tags, owner_value

DETAIL_TYPE = "AWS API Call via CloudTrail"
READS = ("Get", "List", "Describe", "Head")
OPERATOR_AGENT = "awsop-operator"
"""User agent token of the operator's AWS calls (`awsop-operator/<cluster-id>`): its own writes are
recognised in CloudTrail's `userAgent` and skipped."""
CHANNEL_KIND = "EventRule"  # awsop.io/kind of the rule (the queue carries Queue)
CHANNEL_NAME = "event-drift"  # the owner tag's object name: <cluster-id>//event-drift
MAX_RULE_NAME = 64  # EventBridge PutRule: Name at most 64 characters
MAX_PATTERN = 4096  # EventBridge PutRule: EventPattern at most 4,096 characters
HEARTBEAT_TAG = "awsop.io/heartbeat"
QUEUE_RETENTION_SECONDS = 3600  # an event older than an hour is covered by the periodic check anyway
QUEUE_VISIBILITY_SECONDS = 60

# The write API calls, as CloudTrail names them (eventName), of the resources awsop manages: event
# source (the service's endpoint) -> (awsop kind, EventBridge source, calls). Reads (Get/List/Describe)
# are not changes; S3 object calls are data events (not management events) and never reach the rule.
WRITE_EVENTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "sqs.amazonaws.com": (
        "Queue",
        "aws.sqs",
        (
            "CreateQueue",
            "DeleteQueue",
            "SetQueueAttributes",
            "TagQueue",
            "UntagQueue",
            "AddPermission",
            "RemovePermission",
        ),
    ),
    "s3.amazonaws.com": (
        "Bucket",
        "aws.s3",
        (
            "CreateBucket",
            "DeleteBucket",
            "PutBucketVersioning",
            "PutBucketEncryption",
            "DeleteBucketEncryption",
            "PutBucketLifecycle",
            "DeleteBucketLifecycle",
            "PutBucketCors",
            "DeleteBucketCors",
            "PutBucketLogging",
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "PutBucketTagging",
            "DeleteBucketTagging",
            "PutBucketPublicAccessBlock",
            "DeleteBucketPublicAccessBlock",
            "PutBucketOwnershipControls",
            "DeleteBucketOwnershipControls",
            "PutBucketReplication",
            "DeleteBucketReplication",
            "PutBucketWebsite",
            "DeleteBucketWebsite",
            "PutBucketNotification",
            "PutBucketObjectLockConfiguration",
            "PutAccelerateConfiguration",
            "PutBucketRequestPayment",
            "PutBucketIntelligentTieringConfiguration",
            "DeleteBucketIntelligentTieringConfiguration",
        ),
    ),
    "dynamodb.amazonaws.com": (
        "Table",
        "aws.dynamodb",
        (
            "CreateTable",
            "DeleteTable",
            "UpdateTable",
            "UpdateTimeToLive",
            "UpdateContinuousBackups",
            "TagResource",
            "UntagResource",
            "PutResourcePolicy",
            "DeleteResourcePolicy",
            "UpdateTableReplicaAutoScaling",
            "EnableKinesisStreamingDestination",
            "DisableKinesisStreamingDestination",
            "UpdateContributorInsights",
        ),
    ),
    "autoscaling.amazonaws.com": (
        "AutoScalingGroup",
        "aws.autoscaling",
        (
            "CreateAutoScalingGroup",
            "UpdateAutoScalingGroup",
            "DeleteAutoScalingGroup",
            "CreateOrUpdateTags",
            "DeleteTags",
            "PutScalingPolicy",
            "DeletePolicy",
            "PutScheduledUpdateGroupAction",
            "DeleteScheduledAction",
            "PutLifecycleHook",
            "DeleteLifecycleHook",
            "PutWarmPool",
            "DeleteWarmPool",
            "SetDesiredCapacity",
            "AttachLoadBalancerTargetGroups",
            "DetachLoadBalancerTargetGroups",
            "SuspendProcesses",
            "ResumeProcesses",
            "StartInstanceRefresh",
        ),
    ),
    # EC2 logs thousands of other write calls (RunInstances, CreateTags, ...): only launch templates
    "ec2.amazonaws.com": (
        "LaunchTemplate",
        "aws.ec2",
        (
            "CreateLaunchTemplate",
            "CreateLaunchTemplateVersion",
            "ModifyLaunchTemplate",
            "DeleteLaunchTemplate",
            "DeleteLaunchTemplateVersions",
        ),
    ),
}

# requestParameters keys (any depth, compared case-insensitively) that name the resource, per source.
NAME_KEYS: dict[str, frozenset[str]] = {
    "sqs.amazonaws.com": frozenset({"queueurl", "queuename"}),
    "s3.amazonaws.com": frozenset({"bucketname"}),
    "dynamodb.amazonaws.com": frozenset({"tablename", "resourcearn"}),
    "autoscaling.amazonaws.com": frozenset({"autoscalinggroupname", "resourceid"}),
    "ec2.amazonaws.com": frozenset({"launchtemplatename", "launchtemplateid"}),
}

IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    # the queue is a Queue reconciled by the engine (its calls are the Queue kind's); the consumer adds:
    "ReceiveMessage": ("sqs:ReceiveMessage",),
    "DeleteMessageBatch": ("sqs:DeleteMessage",),
    "TagQueue": ("sqs:TagQueue",),  # the heartbeat
    # the rule
    "DescribeRule": ("events:DescribeRule",),
    "PutRule": ("events:PutRule", "events:TagResource"),
    "ListTagsForResource": ("events:ListTagsForResource",),
    "ListTargetsByRule": ("events:ListTargetsByRule",),
    "PutTargets": ("events:PutTargets",),
}
"""The operations event-driven drift adds to the Queue kind's, and their IAM actions."""
QUEUE_OPERATIONS = (
    "GetQueueUrl",
    "GetQueueAttributes",
    "ListQueueTags",
    "CreateQueue",
    "SetQueueAttributes",  # puts the queue's policy or attributes back when changed by hand
    "TagQueue",
    "UntagQueue",
)
"""The Queue kind's operations the engine calls for the event queue (never DeleteQueue: it is retained)."""


def iam_actions() -> list[str]:
    """Every IAM action event-driven drift needs, beside the kinds' own (`awsop iam-policy --event-drift`)."""
    actions = {a for needed in IAM_ACTIONS.values() for a in needed}
    actions.update(a for op in QUEUE_OPERATIONS for a in QUEUE_IAM_ACTIONS[op])
    return sorted(actions)


class MalformedEvent(ValueError):
    """A message that is not an EventBridge event of a CloudTrail API call: logged and deleted."""


@dataclass(frozen=True)
class ApiCallEvent:
    """What awsop needs of one CloudTrail event as EventBridge delivers it."""

    event_source: str
    event_name: str
    region: str
    account: str
    time: datetime | None
    request: Mapping[str, Any]
    user_agent: str
    principal_arn: str
    read_only: bool
    event_id: str = ""
    resources: tuple[str, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> str | None:
        entry = WRITE_EVENTS.get(self.event_source)
        return entry[0] if entry else None


@dataclass(frozen=True)
class ResourceKey:
    """A resource an event names: the kind that manages it and its AWS name (or id)."""

    kind: str
    name: str


def event_pattern() -> dict[str, Any]:
    """The rule's pattern: CloudTrail write calls of the managed services, each service's own calls."""
    return {
        "detail-type": [DETAIL_TYPE],
        "$or": [
            {"source": [source], "detail": {"eventSource": [event_source], "eventName": list(names)}}
            for event_source, (_, source, names) in WRITE_EVENTS.items()
        ],
    }


def pattern_text() -> str:
    text = json.dumps(event_pattern(), separators=(",", ":"), sort_keys=True)
    if len(text) > MAX_PATTERN:  # a test keeps it below; AWS would refuse the rule
        raise ValueError(f"event pattern is {len(text)} characters, EventBridge allows {MAX_PATTERN}")
    return text


def channel_name(cluster_id: str, shard: str = "") -> str:
    """The queue's and the rule's name: `awsop-events-<cluster-id>`, or `awsop-events-<cluster-id>-<shard>`
    for a shard of a sharded installation (each shard consumes its own channel: an SQS message reaches one
    consumer, and an event for another shard's object would be dropped there as unknown), shortened with a
    digest to fit the rule's 64 characters (the queue's limit, 80, is larger)."""
    unique = f"{cluster_id}-{shard}" if shard else cluster_id
    name = f"awsop-events-{unique}"
    if len(name) <= MAX_RULE_NAME:
        return name
    digest = hashlib.sha256(unique.encode()).hexdigest()[:8]
    return f"{name[: MAX_RULE_NAME - 9]}-{digest}"


def channel_object(shard: str = "") -> str:
    """The object name in the channel's owner tag: <cluster-id>//event-drift[-<shard>]."""
    return f"{CHANNEL_NAME}-{shard}" if shard else CHANNEL_NAME


def queue_policy(queue_arn: str, rule_arn: str) -> str:
    """Lets EventBridge (and only this rule) send to the queue."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AwsopEventDrift",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        },
        sort_keys=True,
    )


def arn(service: str, region: str, account_id: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account_id}:{resource}"


def user_agent_marker(cluster_id: str) -> str:
    """The token the operator adds to its botocore user agent."""
    return f"{OPERATOR_AGENT}/{cluster_id}"


# -- the channel in AWS ------------------------------------------------------------------------------


@dataclass
class Channel:
    """The queue and rule of one (account, region), as last ensured."""

    region: str
    queue_url: str = ""
    queue_arn: str = ""
    rule_arn: str = ""
    outcome: Outcome | None = None
    writes: list[str] = field(default_factory=list)  # what ensuring it had to write (empty: all was there)


class ChannelError(Exception):
    """The channel cannot be made as it should (a reason for the AWSAccount condition and a message)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def queue_spec(region: str, cluster_id: str, account_id: str, shard: str = "") -> QueueSpec:
    name = channel_name(cluster_id, shard)
    return QueueSpec.model_validate(
        {
            "name": name,
            "region": region,
            "messageRetentionSeconds": QUEUE_RETENTION_SECONDS,
            "visibilityTimeoutSeconds": QUEUE_VISIBILITY_SECONDS,
            "policy": queue_policy(
                arn("sqs", region, account_id, name), arn("events", region, account_id, f"rule/{name}")
            ),
            "deletionPolicy": "Retain",
        }
    )


class EventChannels:
    """Makes and reads the channels of one operator (one engine); remembers which rules it found owned."""

    def __init__(self, engine: Engine, queues: QueueClient | None = None, shard: str = "") -> None:
        self.engine = engine
        self.shard = shard  # a sharded installation's shard: a channel of its own
        self.queues = queues or QueueClient(engine.clients)
        self._owned: set[str] = set()  # rule ARNs whose owner tag was read once in this process

    def ensure(self, region: str, account_id: str, context: ReconcileContext) -> Channel:
        """Make (or check) the queue and the rule of one (account, region); idempotent, cheap when nothing
        differs (the queue: the Queue kind's no-op check, 2 reads; the rule: DescribeRule and
        ListTargetsByRule). The queue is a Queue reconciled by the engine, so it carries the ownership tags,
        the operator's, the account's and the TagPolicy's default tags, is found again after a crash and put
        back when someone changes it; the rule gets the same tags. Raises ChannelError."""
        engine = self.engine
        cluster_id = engine.config.cluster_id
        name = channel_name(cluster_id, self.shard)
        spec = queue_spec(region, cluster_id, account_id, self.shard)
        ref = ObjectRef("Queue", "", channel_object(self.shard), 1)
        outcome = engine.reconcile(self.queues, ref, spec, context=context)
        channel = Channel(region, outcome=outcome)
        channel.writes = [c for c in outcome.calls if not c.split(":")[-1].startswith(READS)]
        if not outcome.ok or not outcome.status.get("url"):
            raise ChannelError(
                "QueueFailed" if outcome.ok else outcome.reason, f"event queue {name}: {outcome.message}"
            )
        channel.queue_url = str(outcome.status["url"])
        channel.queue_arn = str(outcome.status.get("arn") or arn("sqs", region, account_id, name))
        events = engine.clients.client("events", region, account=context.account)
        owner = owner_value(cluster_id, "", channel_object(self.shard))
        tags = layered_tags(engine.tag_layers(spec, context), owner, CHANNEL_KIND)
        wanted = pattern_text()
        try:
            try:
                rule = events.describe_rule(Name=name)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                rule = None
            if rule is not None:
                channel.rule_arn = str(rule["Arn"])
                if not self._owned_rule(events, channel.rule_arn, owner):
                    raise ChannelError(
                        "RuleNotOwned",
                        f"EventBridge rule {name} in {region} exists and is not awsop's ({OWNER_TAG} is not "
                        f"{owner}): awsop does not take it over",
                    )
            if (
                rule is None
                or _pattern_differs(rule.get("EventPattern"), wanted)
                or rule.get("State") != "ENABLED"
            ):
                created = events.put_rule(
                    Name=name,
                    EventPattern=wanted,
                    State="ENABLED",
                    Description="awsop event-driven drift: CloudTrail write calls of managed resources",
                    **(
                        {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
                        if rule is None
                        else {}
                    ),
                )
                channel.rule_arn = str(created["RuleArn"])
                channel.writes.append("events:PutRule")
            targets = events.list_targets_by_rule(Rule=name).get("Targets", [])
            if not any(t.get("Arn") == channel.queue_arn for t in targets):
                events.put_targets(Rule=name, Targets=[{"Id": "awsop-event-queue", "Arn": channel.queue_arn}])
                channel.writes.append("events:PutTargets")
        except ClientError as exc:
            raise ChannelError(error_code(exc) or "RuleFailed", f"EventBridge rule {name}: {exc}") from None
        return channel

    def _owned_rule(self, events: Any, rule_arn: str, owner: str) -> bool:
        if rule_arn in self._owned:
            return True
        listed = events.list_tags_for_resource(ResourceARN=rule_arn).get("Tags", [])
        tags = {t["Key"]: t["Value"] for t in listed}
        if tags.get(OWNER_TAG) != owner:
            return False
        self._owned.add(rule_arn)
        return True

    def receive(
        self, channel: Channel, account: ResolvedAccount | None, wait_seconds: int
    ) -> list[tuple[str, str]]:
        """Up to 10 messages (receipt handle, body), long polling `wait_seconds`; raises ClientError
        (QueueDoesNotExist when the queue was deleted)."""
        sqs = self.engine.clients.client("sqs", channel.region, account=account)
        answer = sqs.receive_message(
            QueueUrl=channel.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        return [(m["ReceiptHandle"], m.get("Body", "")) for m in answer.get("Messages", [])]

    def heartbeat(self, channel: Channel, account: ResolvedAccount | None) -> None:
        """Tag the queue with the time: a write whose CloudTrail event comes back through the rule proves
        the whole path (trail, rule, queue policy) works even when nothing else changes. The Queue kind
        never compares this tag (the queue's spec declares no tags)."""
        sqs = self.engine.clients.client("sqs", channel.region, account=account)
        sqs.tag_queue(QueueUrl=channel.queue_url, Tags={HEARTBEAT_TAG: str(int(time.time()))})

    def delete(self, channel: Channel, account: ResolvedAccount | None, handles: list[str]) -> None:
        """Delete handled messages, 10 per call (SQS's batch limit)."""
        sqs = self.engine.clients.client("sqs", channel.region, account=account)
        for start in range(0, len(handles), 10):
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles[start : start + 10])]
            sqs.delete_message_batch(QueueUrl=channel.queue_url, Entries=entries)


def _pattern_differs(actual: str | None, wanted: str) -> bool:
    try:
        return bool(json.loads(actual or "null") != json.loads(wanted))
    except ValueError:
        return True


# -- events ------------------------------------------------------------------------------------------


def parse_event(body: str) -> ApiCallEvent:
    """One SQS message body -> the API call it reports. Raises MalformedEvent for anything else."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise MalformedEvent(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise MalformedEvent("not a JSON object")
    if event.get("detail-type") != DETAIL_TYPE:
        raise MalformedEvent(f"detail-type is {event.get('detail-type')!r}, not {DETAIL_TYPE!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent("no detail object")
    source, name = detail.get("eventSource"), detail.get("eventName")
    if not isinstance(source, str) or not isinstance(name, str) or not source or not name:
        raise MalformedEvent("detail.eventSource or detail.eventName missing")
    request = detail.get("requestParameters") or {}
    if not isinstance(request, dict):
        raise MalformedEvent("detail.requestParameters is not an object")
    identity = detail.get("userIdentity") or {}
    if not isinstance(identity, dict):
        raise MalformedEvent("detail.userIdentity is not an object")
    return ApiCallEvent(
        event_source=source,
        event_name=name,
        region=str(detail.get("awsRegion") or event.get("region") or ""),
        account=str(detail.get("recipientAccountId") or event.get("account") or ""),
        time=_time(str(detail.get("eventTime") or event.get("time") or "")),
        request=request,
        user_agent=str(detail.get("userAgent") or ""),
        principal_arn=str(identity.get("arn") or ""),
        read_only=bool(detail.get("readOnly", False)),
        event_id=str(detail.get("eventID") or event.get("id") or ""),
        resources=tuple(str(r) for r in event.get("resources") or () if isinstance(r, str)),
    )


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def is_own(event: ApiCallEvent, cluster_id: str, session_name: str) -> bool:
    """The call was awsop's own: its user agent token, or its assumed-role session (AWSAccount roles)."""
    if user_agent_marker(cluster_id) in event.user_agent.split():
        return True
    return (
        bool(session_name)
        and event.principal_arn.endswith(f"/{session_name}")
        and (":assumed-role/" in event.principal_arn)
    )


def resource_keys(event: ApiCallEvent) -> list[ResourceKey]:
    """The managed-kind resources a write call names (usually one); [] for other services and reads."""
    entry = WRITE_EVENTS.get(event.event_source)
    if entry is None or event.read_only or event.event_name not in entry[2]:
        return []
    kind = entry[0]
    keys = NAME_KEYS[event.event_source]
    names: list[str] = []
    for key, value in _walk(event.request):
        if key.lower() in keys and isinstance(value, str) and value:
            names.append(_resource_name(key.lower(), value))
    seen: dict[str, None] = dict.fromkeys(n for n in names if n)
    return [ResourceKey(kind, name) for name in seen]


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


_TABLE_ARN = re.compile(r"^arn:aws[a-z-]*:dynamodb:[^:]*:[0-9]*:table/([^/]+)")


def _resource_name(key: str, value: str) -> str:
    if key == "queueurl":
        return value.rstrip("/").rsplit("/", 1)[-1]
    if key == "resourcearn":
        match = _TABLE_ARN.match(value)
        return match.group(1) if match else ""
    return value
