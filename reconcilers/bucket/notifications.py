"""The event notification facet: S3 events delivered to SQS queues (by reference or ARN) and EventBridge.

A spec that declares `notifications` owns the queue configurations and the EventBridge switch; topic and
Lambda configurations found in AWS are carried over unchanged on every write (PutBucketNotification-
Configuration replaces the whole document). Before a write that adds or changes a queue target, the
queue's policy is read (one GetQueueAttributes per queue) and must let `s3.amazonaws.com` send from
this bucket: otherwise nothing is written and the bucket waits, naming the statement to add.

It must never: write a notification to a queue whose policy would make S3 refuse or drop it, or treat
configuration ids AWS generates, or fields the spec does not set, as drift.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Literal, get_args

from pydantic import Field, JsonValue, model_validator

from ..aws import AwsClients
from ..engine import Target
from ..errors import RecoverableError, error_code
from ..model import Model
from ..refs import KNOWN_AFTER_APPLY, Reference, ResourceRef
from .facet import S3, Facet, opt

QUEUE_KIND = "Queue"
S3_PRINCIPAL = "s3.amazonaws.com"
MAX_QUEUE_CONFIGURATIONS = 20

S3Event = Literal[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
]


def events_overlap(a: str, b: str) -> bool:
    """Same event type, counting a wildcard (`s3:ObjectCreated:*`) as every event of its family."""
    return a == b or (a.endswith("*") and b.startswith(a[:-1])) or (b.endswith("*") and a.startswith(b[:-1]))


def rules_overlap(a: QueueNotification, b: QueueNotification) -> bool:
    """AWS refuses two configurations for one event type whose prefixes and suffixes overlap (one
    prefix starts the other, one suffix ends the other; empty overlaps everything)."""
    if not any(events_overlap(e, f) for e in a.events for f in b.events):
        return False
    prefixes = a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)
    suffixes = a.suffix.endswith(b.suffix) or b.suffix.endswith(a.suffix)
    return prefixes and suffixes


# A wildcard event (`s3:ObjectCreated:*`) covers its family: spelled out per family, so the rule keeps to
# standard CEL (no string extension library, which not every evaluator has) and to a cost the API server
# accepts (a regular expression per pair of events does not fit).
WILDCARDS = tuple(event for event in get_args(S3Event) if event.endswith("*"))
_COVERS_CEL = " || ".join(f"(x == '{w}' && y.startsWith('{w[:-1]}'))" for w in WILDCARDS)
_EVENTS_OVERLAP_CEL = (
    "a.events.exists(e, b.events.exists(f, e == f || "
    + _COVERS_CEL.replace("x ==", "e ==").replace("y.", "f.")
    + " || "
    + _COVERS_CEL.replace("x ==", "f ==").replace("y.", "e.")
    + "))"
)
_PREFIX = "(has({x}.prefix) ? {x}.prefix : '')"
_SUFFIX = "(has({x}.suffix) ? {x}.suffix : '')"
_OVERLAP_CEL = (
    f"{_EVENTS_OVERLAP_CEL}"
    f" && ({_PREFIX.format(x='a')}.startsWith({_PREFIX.format(x='b')})"
    f" || {_PREFIX.format(x='b')}.startsWith({_PREFIX.format(x='a')}))"
    f" && ({_SUFFIX.format(x='a')}.endsWith({_SUFFIX.format(x='b')})"
    f" || {_SUFFIX.format(x='b')}.endsWith({_SUFFIX.format(x='a')}))"
)
QUEUES_RULES: list[JsonValue] = [
    {
        # every configuration overlaps itself: more than one match is an overlap with another
        "rule": f"self.all(a, self.filter(b, {_OVERLAP_CEL}).size() <= 1)",
        "message": "two queue configurations overlap: they share an event type and their prefixes and "
        "suffixes overlap (AWS refuses such a configuration)",
    }
]


class QueueNotification(Model):
    """S3 events delivered to one SQS queue."""

    id: str | None = Field(None, max_length=255, description="Configuration id; omitted = AWS generates one.")
    queue: ResourceRef = Field(
        description="The queue: an awsop Queue in this namespace (`ref: {name}`) or an ARN. Its policy must "
        "allow s3.amazonaws.com to sqs:SendMessage with aws:SourceArn = this bucket's ARN."
    )
    events: list[S3Event] = Field(
        min_length=1,
        max_length=10,
        description="S3 event types, e.g. s3:ObjectCreated:* or s3:ObjectRemoved:Delete.",
        json_schema_extra=lambda schema: schema["items"].update(maxLength=64),  # type: ignore[union-attr]
    )
    prefix: str = Field("", max_length=1024, description="Only keys starting with this prefix; empty = all.")
    suffix: str = Field("", max_length=1024, description="Only keys ending with this suffix; empty = all.")


class Notifications(Model):
    """Event notifications. Declaring this facet makes awsop own the queue configurations and the
    EventBridge switch; SNS topic and Lambda configurations already in AWS are kept as they are."""

    queues: list[QueueNotification] = Field(
        default_factory=list,
        max_length=MAX_QUEUE_CONFIGURATIONS,
        description="Queue configurations; an empty list removes those awsop manages.",
        json_schema_extra={"x-kubernetes-validations": QUEUES_RULES},
    )
    event_bridge: bool = Field(
        False, description="Also send every event of this bucket to Amazon EventBridge."
    )

    @model_validator(mode="after")
    def _no_overlap(self) -> Notifications:
        for i, a in enumerate(self.queues):
            for j, b in enumerate(self.queues[i + 1 :], start=i + 1):
                if rules_overlap(a, b):
                    raise ValueError(
                        f"notifications.queues[{i}] and notifications.queues[{j}] overlap: they share an "
                        "event type and their prefixes and suffixes overlap (AWS refuses such a "
                        "configuration)"
                    )
        return self

    def references(self) -> list[Reference]:
        return [
            Reference(QUEUE_KIND, q.queue.ref.name, f"notifications.queues[{i}].queue")
            for i, q in enumerate(self.queues)
            if q.queue.ref is not None
        ]


# -- normalisation (pure) ---------------------------------------------------------------------------


def _queue_arn(target: Target[Any], ref: ResourceRef) -> str:
    if ref.arn is not None:
        return ref.arn
    assert ref.ref is not None
    value = target.context.resolution(QUEUE_KIND, ref.ref.name).value("arn")
    return str(value) if value else KNOWN_AFTER_APPLY


def _queue_url(target: Target[Any], ref: ResourceRef, arn: str) -> str:
    """The queue's URL: the referenced Queue's status.url, else built from the ARN (SQS accepts it)."""
    if ref.ref is not None:
        url = target.context.resolution(QUEUE_KIND, ref.ref.name).value("url")
        if url and url != KNOWN_AFTER_APPLY:
            return str(url)
    _, _, _, region, account, name = arn.split(":", 5)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def _config_key(config: dict[str, Any]) -> tuple[str, str, str, str]:
    return (config["queueArn"], ",".join(config["events"]), config["prefix"], config["suffix"])


def _desired(target: Target[Any]) -> Any:
    spec: Notifications | None = target.spec.notifications
    if spec is None:
        return opt(None)
    queues = [
        {
            "id": q.id,
            "queueArn": _queue_arn(target, q.queue),
            "events": sorted(q.events),
            "prefix": q.prefix,
            "suffix": q.suffix,
        }
        for q in spec.queues
    ]
    return {"queues": sorted(queues, key=_config_key), "eventBridge": spec.event_bridge}


def _filter_value(config: dict[str, Any], name: str) -> str:
    rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    for rule in rules:
        if str(rule.get("Name", "")).lower() == name:
            return str(rule.get("Value", ""))
    return ""


def _read(s3: S3, bucket: str) -> Any:
    doc = s3.get_bucket_notification_configuration(Bucket=bucket)
    queues = [
        {
            "id": c.get("Id"),
            "queueArn": c.get("QueueArn", ""),
            "events": sorted(c.get("Events", [])),
            "prefix": _filter_value(c, "prefix"),
            "suffix": _filter_value(c, "suffix"),
        }
        for c in doc.get("QueueConfigurations", [])
    ]
    return {
        "queues": sorted(queues, key=_config_key),
        "eventBridge": "EventBridgeConfiguration" in doc,
        # not managed, carried over on write so a write never drops them
        "topics": doc.get("TopicConfigurations", []),
        "lambdas": doc.get("LambdaFunctionConfigurations", []),
    }


def _matches(desired: Any, actual: Any) -> bool:
    """Queue configurations compared without the ids AWS generates where the spec sets none."""
    if not isinstance(actual, dict) or desired["eventBridge"] != actual.get("eventBridge"):
        return False
    ours = desired["queues"]
    theirs = actual.get("queues") or []
    if len(ours) != len(theirs):
        return False
    return all(
        _config_key(a) == _config_key(b) and (a["id"] is None or a["id"] == b["id"])
        for a, b in zip(ours, theirs, strict=True)
    )


def _carry(desired: Any, actual: Any) -> Any:
    """What is written: the desired queues and switch, plus the topic and Lambda configurations found."""
    kept = actual if isinstance(actual, dict) else {}
    return {**desired, "topics": kept.get("topics", []), "lambdas": kept.get("lambdas", [])}


def _to_aws(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"QueueArn": config["queueArn"], "Events": config["events"]}
    if config["id"]:
        out["Id"] = config["id"]
    rules = [{"Name": name, "Value": config[name]} for name in ("prefix", "suffix") if config[name]]
    if rules:
        out["Filter"] = {"Key": {"FilterRules": rules}}
    return out


def _write(s3: S3, bucket: str, value: Any) -> None:
    doc: dict[str, Any] = {}
    if value.get("queues"):
        doc["QueueConfigurations"] = [_to_aws(c) for c in value["queues"]]
    if value.get("topics"):
        doc["TopicConfigurations"] = value["topics"]
    if value.get("lambdas"):
        doc["LambdaFunctionConfigurations"] = value["lambdas"]
    if value.get("eventBridge"):
        doc["EventBridgeConfiguration"] = {}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=doc)


# -- the queue policy precondition -----------------------------------------------------------------


def required_statement(bucket: str, queue_arn: str) -> dict[str, Any]:
    """The queue policy statement that lets this bucket's notifications reach the queue."""
    return {
        "Sid": f"AllowS3Notifications-{bucket}"[:128],
        "Effect": "Allow",
        "Principal": {"Service": S3_PRINCIPAL},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
    }


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_is_s3(principal: Any) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return S3_PRINCIPAL in _listed(principal.get("Service", [])) or "*" in _listed(principal.get("AWS", []))


def _source_allowed(condition: Any, bucket_arn: str) -> bool:
    """No aws:SourceArn condition lets every source send; otherwise one of its values must match."""
    if not isinstance(condition, dict):
        return True
    for operator, keys in condition.items():
        if not isinstance(keys, dict):
            continue
        for key, values in keys.items():
            if key.lower() != "aws:sourcearn":
                continue
            like = "like" in operator.lower()
            if not any(
                fnmatch.fnmatchcase(bucket_arn, v) if like else v == bucket_arn for v in _listed(values)
            ):
                return False
    return True


def policy_allows(policy: str | None, bucket: str, queue_arn: str) -> bool:
    """Whether an SQS queue policy has an Allow statement that lets S3 send this bucket's events.

    Deny statements are not evaluated (a Deny that blocks S3 shows as undelivered events, not here)."""
    if not policy:
        return False
    try:
        doc = json.loads(policy)
    except ValueError:
        return False
    bucket_arn = f"arn:aws:s3:::{bucket}"
    for statement in _listed(doc.get("Statement", [])) if isinstance(doc, dict) else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = [str(a).lower() for a in _listed(statement.get("Action", []))]
        resources = [str(r) for r in _listed(statement.get("Resource", []))]
        if (
            _principal_is_s3(statement.get("Principal"))
            and any(fnmatch.fnmatchcase("sqs:sendmessage", a) for a in actions)
            and any(fnmatch.fnmatchcase(queue_arn, r) for r in resources)
            and _source_allowed(statement.get("Condition"), bucket_arn)
        ):
            return True
    return False


def _check(clients: AwsClients, target: Target[Any], value: Any) -> None:
    """Read each queue target's policy (one GetQueueAttributes per queue) before the notification is
    written; a queue that does not allow this bucket makes the bucket wait (recoverable), naming the
    statement to add."""
    spec: Notifications = target.spec.notifications
    seen: set[str] = set()
    for q in spec.queues:
        arn = _queue_arn(target, q.queue)
        if arn in seen or arn == KNOWN_AFTER_APPLY:
            continue
        seen.add(arn)
        region = arn.split(":")[3]
        sqs = clients.client("sqs", region)
        try:
            attributes = sqs.get_queue_attributes(
                QueueUrl=_queue_url(target, q.queue, arn), AttributeNames=["Policy"]
            ).get("Attributes", {})
        except Exception as exc:
            if error_code(exc) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise RecoverableError(
                    "NotificationQueueMissing", f"notification queue {arn} does not exist"
                ) from exc
            raise
        if not policy_allows(attributes.get("Policy"), target.aws_name, arn):
            statement = json.dumps(required_statement(target.aws_name, arn), sort_keys=True)
            raise RecoverableError(
                "QueuePolicyMissing",
                f"waiting: the policy of queue {arn} does not let S3 send this bucket's events; nothing "
                f"was written. Add this statement to the queue's policy: {statement}",
            )


NOTIFICATIONS = Facet(
    "notifications",
    _desired,
    _read,
    _write,
    "GetBucketNotificationConfiguration",
    "PutBucketNotificationConfiguration",
    iam={
        "GetBucketNotificationConfiguration": ("s3:GetBucketNotification",),
        "PutBucketNotificationConfiguration": ("s3:PutBucketNotification",),
        "GetQueueAttributes": ("sqs:GetQueueAttributes",),
    },
    matches=_matches,
    carry=_carry,
    check=_check,
)
