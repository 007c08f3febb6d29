"""The Queue kind: one SQS queue, sqs.awsop.io/v1alpha1.

Reading this module tells the whole story of a queue: its spec model (standard or FIFO, the declared
attributes, a dead-letter queue by reference or ARN), how it is observed (the queue URL once per process,
then one GetQueueAttributes for the declared attributes and one ListQueueTags: 2 calls per drift check),
how it differs (normalised: numbers, policy JSON, redrive JSON, SSE-SQS default), how it is changed (one
SetQueueAttributes with only the attributes that differ, TagQueue/UntagQueue with only the difference),
and which SQS errors are terminal.

It must never: send an empty SetQueueAttributes (AWS answers MissingParameter), read or write an attribute
the spec leaves out, treat SSE-SQS (on by default since 2022) as drift, report a value that is still
propagating after awsop's own write as drift, or sleep in the reconcile path to wait for propagation.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, JsonValue, field_validator, model_validator

from .aws import AwsClients, RetryingClient
from .changes import Action, Change
from .engine import DeleteOutcome, DeleteResult, ObjectRef, Target
from .errors import ErrorClass, RecoverableError, TerminalError, classify, error_code
from .model import IMMUTABLE, AwsObjectSpec, AwsObjectStatus, Model
from .policies import DeletionPolicy
from .policy_doc import check_policy_document, normalize_policy
from .refs import KNOWN_AFTER_APPLY, NamedDependency, Reference, ReferenceProblem, Resolution, ResourceRef
from .tags import OWNER_TAG, SYSTEM_TAGS, is_reserved, tag_drift

KIND = "Queue"

# SQS error codes (JSON protocol codes and their query-compatible names) only a manifest change can fix.
TERMINAL_CODES = frozenset(
    {
        "InvalidAttributeName",
        "InvalidAttributeValue",
        "AWS.SimpleQueueService.InvalidAttributeValue",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "MissingParameter",
        "InvalidSecurity",
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
    }
)
NOT_FOUND_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)
DELETED_RECENTLY_CODES = frozenset({"AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently"})
# Every SQS operation this module calls and the IAM action that authorizes it (the shipped policy is
# generated from this table; a test fails if an operation is called that is not here).
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "GetQueueUrl": ("sqs:GetQueueUrl",),
    "ListQueues": ("sqs:ListQueues",),
    "GetQueueAttributes": ("sqs:GetQueueAttributes",),
    "SetQueueAttributes": ("sqs:SetQueueAttributes",),
    "CreateQueue": ("sqs:CreateQueue",),
    "DeleteQueue": ("sqs:DeleteQueue",),
    "ListQueueTags": ("sqs:ListQueueTags",),
    "TagQueue": ("sqs:TagQueue",),
    "UntagQueue": ("sqs:UntagQueue",),
}
PROPAGATION_SECONDS = 60.0
"""How long SQS may keep answering with the old value of an attribute after a write."""
SLOW_PROPAGATION = {"MessageRetentionPeriod": 900.0}
MAX_NAME = 80
LIST_PAGE = 1000  # ListQueues: at most 1,000 URLs per page
FIFO_SUFFIX = ".fifo"

# -- spec ------------------------------------------------------------------------------------------

NAME_PATTERN = r"^([A-Za-z0-9_-]{1,75}\.fifo|[A-Za-z0-9_-]{1,80})$"
FIFO_ONLY = ("contentBasedDeduplication", "deduplicationScope", "fifoThroughputLimit")
IS_FIFO = "(has(self.fifo) && self.fifo)"
FIFO_RULES: list[JsonValue] = [
    {
        "rule": f"!has(self.{name}) || {IS_FIFO}",
        "message": f"{name}: only FIFO queues (fifo: true) have it",
    }
    for name in FIFO_ONLY
]
SPEC_RULES: list[JsonValue] = [
    *FIFO_RULES,
    {
        "rule": f"!has(self.name) || self.name.endsWith('.fifo') == {IS_FIFO}",
        "message": "name: a FIFO queue's name ends in .fifo, a standard queue's name does not",
    },
    {
        "rule": f"!has(self.deadLetterQueue) || !has(self.deadLetterQueue.arn) || "
        f"self.deadLetterQueue.arn.endsWith('.fifo') == {IS_FIFO}",
        "message": "deadLetterQueue.arn: the dead-letter queue of a FIFO queue must be FIFO, and of a "
        "standard queue standard",
    },
]
ENCRYPTION_RULES: list[JsonValue] = [
    {"rule": f"!has(self.{name}) || self.type == 'KMS'", "message": f"{name}: only with type KMS"}
    for name in ("kmsKeyId", "dataKeyReusePeriodSeconds")
]
REDRIVE_ALLOW_RULES: list[JsonValue] = [
    {
        "rule": "!has(self.sourceQueues) || self.permission == 'byQueue'",
        "message": "sourceQueues: only with permission byQueue",
    },
    {
        "rule": "self.permission != 'byQueue' || (has(self.sourceQueues) && size(self.sourceQueues) > 0)",
        "message": "sourceQueues: permission byQueue needs 1-10 source queues",
    },
]


class DeadLetterQueue(ResourceRef):
    """Where messages go after maxReceiveCount failed receives: a Queue object (`ref`) or an ARN."""

    max_receive_count: int = Field(
        ge=1, le=1000, description="Receives before a message moves to the dead-letter queue (1-1000)."
    )


class RedriveAllowPolicy(Model):
    """Which source queues may use this queue as their dead-letter queue."""

    model_config = {
        **Model.model_config,
        "json_schema_extra": {"x-kubernetes-validations": REDRIVE_ALLOW_RULES},
    }

    permission: Literal["allowAll", "denyAll", "byQueue"] = Field(
        description="allowAll (the AWS default), denyAll, or byQueue (only sourceQueues)."
    )
    source_queues: list[ResourceRef] | None = Field(
        None, max_length=10, description="With byQueue: the 1-10 queues allowed (ref or arn)."
    )

    @model_validator(mode="after")
    def _by_queue(self) -> RedriveAllowPolicy:
        if self.source_queues and self.permission != "byQueue":
            raise ValueError("sourceQueues: only with permission byQueue")
        if self.permission == "byQueue" and not self.source_queues:
            raise ValueError("sourceQueues: permission byQueue needs 1-10 source queues")
        return self


class QueueEncryption(Model):
    """Server-side encryption. Omitted: not managed (new queues get SSE-SQS from AWS; not drift)."""

    model_config = {**Model.model_config, "json_schema_extra": {"x-kubernetes-validations": ENCRYPTION_RULES}}

    type: Literal["SQS", "KMS"] = Field(description="SQS (SQS-owned keys) or KMS (a KMS key).")
    kms_key_id: str | None = Field(
        None, max_length=2048, description="KMS key ID, alias or ARN; default alias/aws/sqs. KMS only."
    )
    data_key_reuse_period_seconds: int | None = Field(
        None,
        ge=60,
        le=86400,
        description="Seconds a data key is reused (60-86400; AWS default 300). KMS only.",
    )

    @model_validator(mode="after")
    def _kms_only(self) -> QueueEncryption:
        if self.type != "KMS":
            for name, value in (
                ("kmsKeyId", self.kms_key_id),
                ("dataKeyReusePeriodSeconds", self.data_key_reuse_period_seconds),
            ):
                if value is not None:
                    raise ValueError(f"{name}: only with type KMS")
        return self


class QueueSpec(AwsObjectSpec):
    """Desired state of an SQS queue. Attributes left out are neither read nor written."""

    model_config = {
        **AwsObjectSpec.model_config,
        "json_schema_extra": {"x-kubernetes-validations": SPEC_RULES},
    }

    name: str | None = Field(
        None,
        description="SQS queue name: 1-80 letters, digits, hyphens, underscores; a FIFO queue's ends in "
        ".fifo. Defaults to <namespace>-<metadata.name> (plus .fifo). Immutable.",
        min_length=1,
        max_length=MAX_NAME,
        pattern=NAME_PATTERN,
        json_schema_extra=IMMUTABLE,
    )
    fifo: bool | None = Field(
        None,
        description="A FIFO queue (exactly-once, ordered). Immutable: standard and FIFO are not convertible.",
        json_schema_extra=IMMUTABLE,
    )
    content_based_deduplication: bool | None = Field(
        None, description="FIFO only: deduplicate by a SHA-256 of the body instead of a deduplication ID."
    )
    deduplication_scope: Literal["messageGroup", "queue"] | None = Field(
        None, description="FIFO only: deduplicate per message group or per queue."
    )
    fifo_throughput_limit: Literal["perQueue", "perMessageGroupId"] | None = Field(
        None, description="FIFO only: the throughput quota applies per queue or per message group."
    )
    visibility_timeout_seconds: int | None = Field(
        None,
        ge=0,
        le=43200,
        description="Seconds a received message stays invisible (0-43200; AWS default 30).",
    )
    message_retention_seconds: int | None = Field(
        None, ge=60, le=1209600, description="Seconds a message is kept (60-1209600; AWS default 345600)."
    )
    delay_seconds: int | None = Field(
        None, ge=0, le=900, description="Seconds every new message is delayed (0-900; AWS default 0)."
    )
    maximum_message_size: int | None = Field(
        None, ge=1024, le=1048576, description="Largest message in bytes (1024-1048576; AWS default 1048576)."
    )
    receive_message_wait_time_seconds: int | None = Field(
        None, ge=0, le=20, description="Long polling: seconds ReceiveMessage waits (0-20; AWS default 0)."
    )
    dead_letter_queue: DeadLetterQueue | None = Field(
        None, description="Redrive policy: the dead-letter queue (Queue object or ARN) and maxReceiveCount."
    )
    redrive_allow_policy: RedriveAllowPolicy | None = Field(
        None, description="Which queues may use this queue as their dead-letter queue."
    )
    encryption: QueueEncryption | None = Field(
        None, description="Server-side encryption (AWS default SSE-SQS)."
    )
    policy: str | None = Field(
        None,
        max_length=20480,
        description="Queue access policy as a JSON document; compared semantically (key order and whitespace "
        "are not drift). An empty string removes the policy.",
    )

    @field_validator("policy")
    @classmethod
    def _policy_json(cls, value: str | None) -> str | None:
        return check_policy_document(value)

    @model_validator(mode="after")
    def _fifo_rules(self) -> QueueSpec:
        fifo = bool(self.fifo)
        if not fifo:
            for alias, value in zip(
                FIFO_ONLY,
                (self.content_based_deduplication, self.deduplication_scope, self.fifo_throughput_limit),
                strict=True,
            ):
                if value is not None:
                    raise ValueError(f"{alias}: only FIFO queues (fifo: true) have it")
        if self.name is not None and self.name.endswith(FIFO_SUFFIX) != fifo:
            raise ValueError("name: a FIFO queue's name ends in .fifo, a standard queue's name does not")
        dlq = self.dead_letter_queue
        if dlq is not None and dlq.arn is not None and dlq.arn.endswith(FIFO_SUFFIX) != fifo:
            raise ValueError(
                "deadLetterQueue.arn: the dead-letter queue of a FIFO queue must be FIFO, and of a standard "
                "queue standard"
            )
        return self

    def references(self) -> list[Reference]:
        out = []
        if self.dead_letter_queue is not None and self.dead_letter_queue.ref is not None:
            out.append(Reference(KIND, self.dead_letter_queue.ref.name, "deadLetterQueue"))
        if self.redrive_allow_policy is not None:
            for index, source in enumerate(self.redrive_allow_policy.source_queues or []):
                if source.ref is not None:
                    out.append(Reference(KIND, source.ref.name, f"redriveAllowPolicy.sourceQueues[{index}]"))
        return out

    def reference_problems(self, resolved: Mapping[tuple[str, str], Resolution]) -> list[ReferenceProblem]:
        # AWS requires a dead-letter queue of the source's type; with the target's spec at hand this is
        # known before anything is created (a DLQ by ARN is checked by the model and the CRD)
        dlq = self.dead_letter_queue
        if dlq is None or dlq.ref is None:
            return []
        found = resolved.get((KIND, dlq.ref.name))
        other = found.spec if found is not None else None
        if not isinstance(other, QueueSpec) or bool(other.fifo) == bool(self.fifo):
            return []
        return [
            ReferenceProblem(
                "deadLetterQueue",
                "DeadLetterQueueTypeMismatch",
                f"Queue {dlq.ref.name} is {_type(other.fifo)}, this queue is {_type(self.fifo)}; a "
                "dead-letter queue must have the type of its source",
            )
        ]

    def named_dependencies(self) -> list[NamedDependency]:
        # a dead-letter queue by ARN: ordered first when its Queue is in the same manifest set (SQS has no
        # error code that says only "does not exist", so nothing is waited for)
        if self.dead_letter_queue is None or self.dead_letter_queue.arn is None:
            return []
        return [NamedDependency(KIND, self.dead_letter_queue.arn.rsplit(":", 1)[-1], "deadLetterQueue.arn")]


def _type(fifo: bool | None) -> str:
    return "FIFO" if fifo else "standard"


class QueueStatus(AwsObjectStatus):
    """Status of a Queue (never the approximate message counts: they change every second)."""

    url: str | None = Field(None, description="Queue URL.")
    dead_letter_queue_arn: str | None = Field(None, description="ARN of the dead-letter queue in use.")


# -- desired attributes (pure) ----------------------------------------------------------------------

_UNSET = object()


def _num(value: int | None) -> Any:
    return _UNSET if value is None else str(value)


def _bool(value: bool | None) -> Any:
    return _UNSET if value is None else ("true" if value else "false")


def _opt(value: str | None) -> Any:
    return _UNSET if value is None else value


def resolved_arn(target: Target[QueueSpec], ref: ResourceRef) -> str:
    """The ARN a `ref`/`arn` stands for: the arn, or the referenced Queue's status.arn from the context."""
    if ref.arn is not None:
        return ref.arn
    assert ref.ref is not None
    value = target.context.resolution(KIND, ref.ref.name).value("arn")
    return str(value) if value else KNOWN_AFTER_APPLY


def _redrive(target: Target[QueueSpec]) -> Any:
    dlq = target.spec.dead_letter_queue
    if dlq is None:
        return _UNSET
    arn = resolved_arn(target, dlq)
    fifo = bool(target.spec.fifo)
    if arn != KNOWN_AFTER_APPLY and arn.endswith(FIFO_SUFFIX) != fifo:
        raise TerminalError(
            "DeadLetterQueueTypeMismatch",
            f"deadLetterQueue: {arn} is {'FIFO' if arn.endswith(FIFO_SUFFIX) else 'standard'}, this queue is "
            f"{'FIFO' if fifo else 'standard'}; a dead-letter queue must have the type of its source",
        )
    return {"deadLetterTargetArn": arn, "maxReceiveCount": dlq.max_receive_count}


def _redrive_allow(target: Target[QueueSpec]) -> Any:
    policy = target.spec.redrive_allow_policy
    if policy is None:
        return _UNSET
    out: dict[str, Any] = {"redrivePermission": policy.permission}
    if policy.source_queues:
        out["sourceQueueArns"] = sorted(resolved_arn(target, source) for source in policy.source_queues)
    return out


@dataclass(frozen=True)
class Attribute:
    """One SQS queue attribute: its spec path, how the spec's value is written, how AWS's is read."""

    path: str
    name: str
    desired: Callable[[Target[QueueSpec]], Any]
    normalise: Callable[[str], Any] = lambda value: value
    render: Callable[[Any], str] = lambda value: str(value)


def _json_or_none(value: str) -> Any:
    if not value:
        return None
    try:
        doc = json.loads(value)
    except json.JSONDecodeError:
        return value
    if isinstance(doc, dict) and "maxReceiveCount" in doc:
        doc["maxReceiveCount"] = int(doc["maxReceiveCount"])  # AWS answers a number or a string
    if isinstance(doc, dict) and isinstance(doc.get("sourceQueueArns"), list):
        doc["sourceQueueArns"] = sorted(doc["sourceQueueArns"])
    return doc


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        "contentBasedDeduplication",
        "ContentBasedDeduplication",
        lambda t: _bool(t.spec.content_based_deduplication),
    ),
    Attribute("deduplicationScope", "DeduplicationScope", lambda t: _opt(t.spec.deduplication_scope)),
    Attribute("fifoThroughputLimit", "FifoThroughputLimit", lambda t: _opt(t.spec.fifo_throughput_limit)),
    Attribute(
        "visibilityTimeoutSeconds", "VisibilityTimeout", lambda t: _num(t.spec.visibility_timeout_seconds)
    ),
    Attribute(
        "messageRetentionSeconds", "MessageRetentionPeriod", lambda t: _num(t.spec.message_retention_seconds)
    ),
    Attribute("delaySeconds", "DelaySeconds", lambda t: _num(t.spec.delay_seconds)),
    Attribute("maximumMessageSize", "MaximumMessageSize", lambda t: _num(t.spec.maximum_message_size)),
    Attribute(
        "receiveMessageWaitTimeSeconds",
        "ReceiveMessageWaitTimeSeconds",
        lambda t: _num(t.spec.receive_message_wait_time_seconds),
    ),
    Attribute("deadLetterQueue", "RedrivePolicy", _redrive, _json_or_none, _dump),
    Attribute("redriveAllowPolicy", "RedriveAllowPolicy", _redrive_allow, _json_or_none, _dump),
    Attribute(
        "policy",
        "Policy",
        lambda t: _UNSET if t.spec.policy is None else normalize_policy(t.spec.policy),
        lambda value: normalize_policy(value) if value else None,
        lambda value: "" if value is None else json.dumps(value, sort_keys=True),
    ),
)
ENCRYPTION_NAMES = ("SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")
DEFAULT_KMS_KEY = "alias/aws/sqs"


def _encryption_desired(spec: QueueSpec) -> Any:
    enc = spec.encryption
    if enc is None:
        return _UNSET
    if enc.type == "SQS":
        return {"type": "SQS"}
    out: dict[str, Any] = {"type": "KMS", "kmsKeyId": enc.kms_key_id or DEFAULT_KMS_KEY}
    if enc.data_key_reuse_period_seconds is not None:
        out["dataKeyReusePeriodSeconds"] = enc.data_key_reuse_period_seconds
    return out


def _encryption_actual(attrs: dict[str, str], declared: dict[str, Any]) -> dict[str, Any]:
    """AWS's encryption in the spec's shape; only the keys the spec declares are compared."""
    if attrs.get("KmsMasterKeyId"):
        out: dict[str, Any] = {"type": "KMS", "kmsKeyId": attrs["KmsMasterKeyId"]}
        if "dataKeyReusePeriodSeconds" in declared:
            out["dataKeyReusePeriodSeconds"] = int(attrs.get("KmsDataKeyReusePeriodSeconds") or 300)
        return out
    if attrs.get("SqsManagedSseEnabled") == "true":
        return {"type": "SQS"}
    return {"type": "None"}


def _encryption_write(desired: dict[str, Any], actual: dict[str, Any]) -> dict[str, str]:
    if desired["type"] == "SQS":
        out = {"SqsManagedSseEnabled": "true"}
        if actual.get("type") == "KMS":
            out["KmsMasterKeyId"] = ""
        return out
    out = {"KmsMasterKeyId": desired["kmsKeyId"]}
    if "dataKeyReusePeriodSeconds" in desired:
        out["KmsDataKeyReusePeriodSeconds"] = str(desired["dataKeyReusePeriodSeconds"])
    return out


def desired_attributes(target: Target[QueueSpec]) -> dict[str, Any]:
    """Spec path -> normalised desired value, for every attribute the spec declares."""
    out = {}
    for attribute in ATTRIBUTES:
        value = attribute.desired(target)
        if value is not _UNSET:
            out[attribute.path] = value
    if (enc := _encryption_desired(target.spec)) is not _UNSET:
        out["encryption"] = enc
    return out


def create_attributes(target: Target[QueueSpec]) -> dict[str, str]:
    """The Attributes of CreateQueue: FifoQueue and every declared attribute (an empty policy: none)."""
    attrs: dict[str, str] = {"FifoQueue": "true"} if target.spec.fifo else {}
    by_path = {a.path: a for a in ATTRIBUTES}
    for path, value in desired_attributes(target).items():
        if path == "encryption":
            attrs.update(_encryption_write(value, {}))
        elif value is not None:
            attrs[by_path[path].name] = by_path[path].render(value)
    return attrs


def read_names(spec: QueueSpec) -> list[str]:
    """The attribute names a drift check asks for: identity (QueueArn, FifoQueue) and the declared ones."""
    names = ["QueueArn", "FifoQueue"]
    for attribute in ATTRIBUTES:
        if _declared(spec, attribute.path):
            names.append(attribute.name)
    if spec.encryption is not None:
        names.extend(ENCRYPTION_NAMES)
    return names


def _declared(spec: QueueSpec, path: str) -> bool:
    attr = {
        "contentBasedDeduplication": spec.content_based_deduplication,
        "deduplicationScope": spec.deduplication_scope,
        "fifoThroughputLimit": spec.fifo_throughput_limit,
        "visibilityTimeoutSeconds": spec.visibility_timeout_seconds,
        "messageRetentionSeconds": spec.message_retention_seconds,
        "delaySeconds": spec.delay_seconds,
        "maximumMessageSize": spec.maximum_message_size,
        "receiveMessageWaitTimeSeconds": spec.receive_message_wait_time_seconds,
        "deadLetterQueue": spec.dead_letter_queue,
        "redriveAllowPolicy": spec.redrive_allow_policy,
        "policy": spec.policy,
    }
    return attr[path] is not None


def actual_attributes(attrs: dict[str, str], desired: dict[str, Any]) -> dict[str, Any]:
    """AWS's answer in the same normalised shape as `desired_attributes`, for the declared paths."""
    out: dict[str, Any] = {}
    for attribute in ATTRIBUTES:
        if attribute.path in desired:
            raw = attrs.get(attribute.name)
            out[attribute.path] = None if raw is None else attribute.normalise(raw)
    if "encryption" in desired:
        out["encryption"] = _encryption_actual(attrs, desired["encryption"])
    return out


# -- the client -------------------------------------------------------------------------------------


@dataclass
class QueueObserved:
    name: str
    url: str
    arn: str
    fifo: bool
    tags: dict[str, str]
    attributes: dict[str, str] = field(default_factory=dict)
    propagating: dict[str, Any] = field(default_factory=dict)
    """Spec path -> the value awsop wrote moments ago, for paths where AWS still answers the old one."""


@dataclass(frozen=True)
class _Write:
    previous: Any  # the value before awsop's write; None = any (the queue was just created)
    desired: Any
    until: float


class QueueClient:
    """ResourceClient for SQS queues."""

    kind = KIND
    default_deletion_policy = DeletionPolicy.DELETE
    tags_at_create = True  # CreateQueue takes `tags`: a queue it makes carries the owner tag from birth

    def __init__(self, clients: AwsClients, clock: Callable[[], float] = time.monotonic) -> None:
        self.clients = clients
        self._clock = clock
        self._lock = threading.Lock()
        self._urls: dict[tuple[str, str], str] = {}  # (region, name) -> URL: saves GetQueueUrl per check
        self._writes: dict[tuple[str, str], dict[str, _Write]] = {}  # own recent writes, per queue

    def _sqs(self, region: str) -> RetryingClient:
        return self.clients.client("sqs", region)

    def aws_name(self, ref: ObjectRef, spec: QueueSpec, prefix: str) -> str:
        if spec.name:
            return spec.name
        return default_queue_name(prefix, ref.namespace, ref.name, bool(spec.fifo))

    # -- observe --

    def _url(self, sqs: RetryingClient, region: str, name: str) -> str | None:
        key = (region, name)
        with self._lock:
            url = self._urls.get(key)
        if url is not None:
            return url
        try:
            url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise
        with self._lock:
            self._urls[key] = url
        return url

    def prefetch(self, region: str, targets: Sequence[Target[QueueSpec]]) -> None:
        """Many queues about to be reconciled: their URLs from pages of ListQueues (1,000 URLs a page, by
        the names' common prefix) instead of one GetQueueUrl each. Only URLs listed are kept: a queue not
        listed (absent, or too new for the listing) is looked up by name as before."""
        with self._lock:
            wanted = {t.aws_name for t in targets if (region, t.aws_name) not in self._urls}
        if not wanted:
            return
        sqs = self._sqs(region)
        kwargs: dict[str, Any] = {"MaxResults": LIST_PAGE}
        first, last = min(wanted), max(wanted)  # the common prefix of the two extremes is everyone's
        prefix = first[
            : next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))
        ]
        if prefix:
            kwargs["QueueNamePrefix"] = prefix
        found: dict[tuple[str, str], str] = {}
        while True:
            page = sqs.list_queues(**kwargs)
            for url in page.get("QueueUrls") or []:
                name = str(url).rsplit("/", 1)[-1]
                if name in wanted:
                    found[(region, name)] = str(url)
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        with self._lock:
            self._urls.update(found)

    def _forget(self, region: str, name: str) -> None:
        with self._lock:
            self._urls.pop((region, name), None)
            self._writes.pop((region, name), None)

    def observe(self, target: Target[QueueSpec], facets: bool = True) -> QueueObserved | None:
        sqs = self._sqs(target.region)
        for _ in range(2):  # a cached URL of a queue deleted meanwhile: look the name up once more
            cached = (target.region, target.aws_name) in self._urls
            url = self._url(sqs, target.region, target.aws_name)
            if url is None:
                return None
            try:
                return self._observe_url(sqs, target, url, facets)
            except ClientError as exc:
                if error_code(exc) not in NOT_FOUND_CODES:
                    raise
                self._forget(target.region, target.aws_name)
                if not cached:
                    return None
        return None

    def _observe_url(
        self, sqs: RetryingClient, target: Target[QueueSpec], url: str, facets: bool
    ) -> QueueObserved:
        attrs: dict[str, str] = {}
        if facets:
            answer = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=read_names(target.spec))
            attrs = dict(answer.get("Attributes", {}))
        tags = dict(sqs.list_queue_tags(QueueUrl=url).get("Tags") or {})
        arn = attrs.get("QueueArn") or queue_arn(url, target.region, target.aws_name)
        observed = QueueObserved(
            target.aws_name,
            url,
            arn,
            attrs.get("FifoQueue") == "true" if facets else bool(target.spec.fifo),
            tags,
            attrs,
        )
        if facets:
            observed.propagating = self._propagating(target, attrs)
        return observed

    def _propagating(self, target: Target[QueueSpec], attrs: dict[str, str]) -> dict[str, Any]:
        """Paths whose AWS value is still the one before awsop's own recent write (not drift)."""
        key = (target.region, target.aws_name)
        now = self._clock()
        with self._lock:
            writes = {p: w for p, w in self._writes.get(key, {}).items() if w.until > now}
            self._writes[key] = writes
        if not writes:
            return {}
        actual = actual_attributes(attrs, {p: w.desired for p, w in writes.items()})
        return {
            path: write.desired
            for path, write in writes.items()
            if actual.get(path) != write.desired
            and (write.previous is None or actual.get(path) == write.previous)
        }

    def _remember(self, target: Target[QueueSpec], values: dict[str, tuple[Any, Any]]) -> None:
        now = self._clock()
        names = {a.path: a.name for a in ATTRIBUTES}
        with self._lock:
            writes = self._writes.setdefault((target.region, target.aws_name), {})
            for path, (previous, desired) in values.items():
                window = SLOW_PROPAGATION.get(names.get(path, ""), PROPAGATION_SECONDS)
                writes[path] = _Write(previous, desired, now + window)

    def owner_of(self, observed: QueueObserved) -> str | None:
        return observed.tags.get(OWNER_TAG)

    def observed_tags(self, observed: QueueObserved) -> dict[str, str]:
        return dict(observed.tags)

    # -- diff (pure) --

    def diff(self, target: Target[QueueSpec], observed: QueueObserved) -> list[Change]:
        fifo = bool(target.spec.fifo)
        if observed.attributes and observed.fifo != fifo:
            raise TerminalError(
                "QueueTypeImmutable",
                f"queue {target.aws_name} is {'FIFO' if observed.fifo else 'standard'} in AWS and the spec "
                f"asks for {'FIFO' if fifo else 'standard'}: SQS cannot convert a queue, it must be "
                "recreated (delete this object and create a new one)",
            )
        desired = desired_attributes(target)
        actual = actual_attributes(observed.attributes, desired)
        changes: list[Change] = []
        for path, value in desired.items():
            current = actual.get(path)
            if path == "encryption" and observed.attributes and _encryption_matches(value, current):
                continue
            if current == value or observed.propagating.get(path, _UNSET) == value:
                continue
            calls = () if changes else ("sqs:SetQueueAttributes",)  # one call writes them all
            changes.append(Change(path, current, value, Action.UPDATE, calls))
        authoritative = target.spec.tags is not None
        actual_tags = tag_drift(target.tags, observed.tags, authoritative)
        if actual_tags != target.tags:
            add, remove = tag_difference(target.tags, observed.tags, authoritative)
            tag_calls = (("sqs:TagQueue",) if add else ()) + (("sqs:UntagQueue",) if remove else ())
            changes.insert(0, Change("tags", actual_tags, target.tags, Action.UPDATE, tag_calls))
        return changes

    def plan_create(self, target: Target[QueueSpec]) -> list[Change]:
        changes = [Change("", None, target.aws_name, Action.CREATE, ("sqs:CreateQueue",))]
        if target.spec.fifo:
            changes.append(Change("fifo", None, True, Action.CREATE))
        changes.append(Change("tags", None, target.tags, Action.CREATE))
        for path, value in desired_attributes(target).items():
            if value is not None:
                changes.append(Change(path, None, value, Action.CREATE))
        return changes

    # -- write --

    def create(self, target: Target[QueueSpec]) -> QueueObserved:
        sqs = self._sqs(target.region)
        attrs = create_attributes(target)
        try:
            url = str(
                sqs.create_queue(QueueName=target.aws_name, Attributes=attrs, tags=target.tags)["QueueUrl"]
            )
        except ClientError as exc:
            if error_code(exc) in DELETED_RECENTLY_CODES:
                raise RecoverableError(
                    "QueueDeletedRecently",
                    f"queue {target.aws_name} was deleted less than 60 s ago; SQS refuses the name until "
                    "then",
                ) from exc
            raise
        with self._lock:
            self._urls[(target.region, target.aws_name)] = url
        # CreateQueue sets the attributes with the queue: nothing to wait for (only later writes propagate)
        return QueueObserved(
            target.aws_name,
            url,
            queue_arn(url, target.region, target.aws_name),
            bool(target.spec.fifo),
            dict(target.tags),
            attrs,
        )

    def apply(self, target: Target[QueueSpec], observed: QueueObserved, changes: list[Change]) -> None:
        sqs = self._sqs(target.region)
        by_path = {a.path: a for a in ATTRIBUTES}
        attrs: dict[str, str] = {}
        written: dict[str, tuple[Any, Any]] = {}
        for change in changes:
            if change.path == "tags":
                add, remove = tag_difference(target.tags, observed.tags, target.spec.tags is not None)
                if add:
                    sqs.tag_queue(QueueUrl=observed.url, Tags=add)
                if remove:
                    sqs.untag_queue(QueueUrl=observed.url, TagKeys=remove)
            elif change.path == "encryption":
                attrs.update(_encryption_write(change.desired, change.actual or {}))
                written[change.path] = (change.actual, change.desired)
            else:
                attribute = by_path[change.path]
                attrs[attribute.name] = "" if change.desired is None else attribute.render(change.desired)
                written[change.path] = (change.actual, change.desired)
        if attrs:  # never an empty SetQueueAttributes (MissingParameter)
            sqs.set_queue_attributes(QueueUrl=observed.url, Attributes=attrs)
            self._remember(target, written)
            observed.attributes.update(attrs)  # status after the apply shows what was written (DLQ ARN)

    def release(self, target: Target[QueueSpec], observed: QueueObserved) -> None:
        present = [key for key in SYSTEM_TAGS if key in observed.tags]
        if present:
            self._sqs(target.region).untag_queue(QueueUrl=observed.url, TagKeys=sorted(present))

    def delete(self, target: Target[QueueSpec], observed: QueueObserved) -> DeleteOutcome:
        try:
            self._sqs(target.region).delete_queue(QueueUrl=observed.url)
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise
        self._forget(target.region, target.aws_name)
        return DeleteOutcome(DeleteResult.DELETED)

    def status(self, target: Target[QueueSpec], observed: QueueObserved | None) -> dict[str, Any]:
        out: dict[str, Any] = {"awsName": target.aws_name, "region": target.region}
        if observed is not None:
            out["url"] = observed.url
            out["arn"] = observed.arn
            redrive = _json_or_none(observed.attributes.get("RedrivePolicy", ""))
            if isinstance(redrive, dict) and redrive.get("deadLetterTargetArn"):
                out["deadLetterQueueArn"] = redrive["deadLetterTargetArn"]
            elif target.spec.dead_letter_queue is not None:
                arn = resolved_arn(target, target.spec.dead_letter_queue)
                out["deadLetterQueueArn"] = None if arn == KNOWN_AFTER_APPLY else arn
        return out

    def classify(self, exc: BaseException) -> ErrorClass:
        return classify(exc, TERMINAL_CODES)


def _encryption_matches(desired: dict[str, Any], actual: Any) -> bool:
    if not isinstance(actual, dict):
        return False
    return all(actual.get(k) == v for k, v in desired.items())


def tag_difference(
    desired: dict[str, str], actual: dict[str, str], authoritative: bool
) -> tuple[dict[str, str], list[str]]:
    """(tags to add or change, keys to remove): only the difference; `aws:` keys are never touched, and
    tags someone else added are removed only when the spec's `tags` is authoritative."""
    add = {k: v for k, v in desired.items() if actual.get(k) != v and not is_reserved(k)}
    remove = sorted(k for k in actual if k not in desired and not is_reserved(k)) if authoritative else []
    return add, remove


def queue_arn(url: str, region: str, name: str) -> str:
    """The ARN of a queue from its URL (`.../<account>/<name>`), without asking AWS."""
    account = url.rstrip("/").split("/")[-2]
    partition = (
        "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    )
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def default_queue_name(prefix: str, namespace: str, name: str, fifo: bool) -> str:
    """`<prefix><namespace>-<name>` made SQS-safe, plus `.fifo` for FIFO; long names keep a hash suffix so
    they stay unique within the 80 characters."""
    raw = f"{prefix}{namespace}-{name}"
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", raw).strip("-") or "queue"
    limit = MAX_NAME - (len(FIFO_SUFFIX) if fifo else 0)
    if len(cleaned) > limit:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
        cleaned = cleaned[: limit - 9].rstrip("-") + "-" + digest
    return cleaned + (FIFO_SUFFIX if fifo else "")
