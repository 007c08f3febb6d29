"""The Bucket kind: one S3 bucket, s3.awsop.io/v1alpha1 -- its spec and its client's loop.

Reading this module (and the facet modules it lists in FACETS) tells the whole story of a bucket: its
spec model, how it is observed (HeadBucket, then only the facets the spec declares, plus tags for
ownership), how it differs (normalised on both
sides: policy JSON, tag maps, AWS defaults), how it is changed (one facet = one call, in a safe order),
how it is deleted (never emptied unless `emptyOnDelete: true`), and which S3 errors are terminal.

It must never: read or write a facet the spec leaves out, write `aws:` tags, delete a bucket that still
holds objects unless the manifest asked for that, or treat AWS defaults (SSE-S3, Block Public Access)
as drift.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field, JsonValue, field_validator, model_validator

from ..aws import AwsClients
from ..changes import Action, Change
from ..engine import DeleteOutcome, DeleteResult, ObjectRef, Target
from ..errors import (
    AccessError,
    AlreadyCreatedError,
    ErrorClass,
    RecoverableError,
    TerminalError,
    classify,
    error_code,
)
from ..model import IMMUTABLE, AwsObjectSpec, Model
from ..policies import DeletionPolicy
from ..policy_doc import check_policy_document
from ..refs import NamedDependency, Reference
from ..tags import OWNER_TAG, SYSTEM_TAGS, tag_drift, tags_to_write
from .access import OBJECT_OWNERSHIP, POLICY, PUBLIC_ACCESS_BLOCK, ObjectOwnership, PublicAccessBlock
from .access_logging import LOGGING, LOGGING_TARGET_MISSING, Logging
from .facet import S3, UNSET, Facet, missing
from .lifecycle import LIFECYCLE, LifecycleRule
from .notifications import NOTIFICATIONS, Notifications
from .protection import ENCRYPTION, OBJECT_LOCK, VERSIONING, Encryption, ObjectLock
from .replication import REPLICATION, Replication
from .tiering import INTELLIGENT_TIERING, TieringConfiguration
from .transfer import ACCELERATE, REQUEST_PAYER, Accelerate, RequestPayer
from .web import CORS, WEBSITE, CorsRule, Website

KIND = "Bucket"

# S3 error codes that only a manifest change can fix. Everything else is retried.
TERMINAL_CODES = frozenset(
    {
        "InvalidBucketName",
        "BucketAlreadyExists",
        "InvalidArgument",
        "InvalidRequest",
        "MalformedPolicy",
        "MalformedXML",
        "InvalidLocationConstraint",
        "IllegalLocationConstraintException",
        "InvalidStorageClass",
        "InvalidBucketState",
        "UnresolvableGrantByEmailAddress",
        "KeyTooLongError",
        "InvalidTag",
    }
)
# The facets, in the order they are applied (ownership before policy, versioning before anything that
# depends on it). A new facet is a module of its own and one line here.
FACETS: tuple[Facet, ...] = (
    OBJECT_OWNERSHIP,
    PUBLIC_ACCESS_BLOCK,
    VERSIONING,
    OBJECT_LOCK,
    ENCRYPTION,
    LIFECYCLE,
    INTELLIGENT_TIERING,
    CORS,
    WEBSITE,
    LOGGING,
    POLICY,
    NOTIFICATIONS,
    REPLICATION,
    ACCELERATE,
    REQUEST_PAYER,
)
# Every S3 operation the kind calls, and the IAM actions AWS authorizes it with. The shipped policy is
# generated from this table (awsop iam-policy), and a test fails if an operation is called that is not here.
BASE_IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "HeadBucket": ("s3:ListBucket",),
    # tags given to CreateBucket (CreateBucketConfiguration.Tags) are authorized by s3:TagResource
    # with ObjectLockEnabledForBucket also by s3:PutBucketObjectLockConfiguration and s3:PutBucketVersioning
    "CreateBucket": (
        "s3:CreateBucket",
        "s3:TagResource",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutBucketVersioning",
    ),
    "ListBuckets": ("s3:ListAllMyBuckets",),
    "DeleteBucket": ("s3:DeleteBucket",),
    "GetBucketTagging": ("s3:GetBucketTagging",),
    "PutBucketTagging": ("s3:PutBucketTagging",),
    "DeleteBucketTagging": ("s3:PutBucketTagging",),
    "ListObjectVersions": ("s3:ListBucketVersions",),
    "DeleteObjects": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
}
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    **BASE_IAM_ACTIONS,
    **{operation: actions for facet in FACETS for operation, actions in facet.iam.items()},
}
NOT_FOUND_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})
TAGS_MISSING_CODES = frozenset({"NoSuchTagSet", "NoSuchTagSetError"})

# -- spec ------------------------------------------------------------------------------------------

NAME_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
NAME_RULES: list[JsonValue] = [
    {"rule": "!self.contains('..')", "message": "bucket names must not contain two adjacent periods"},
    {"rule": "!self.startsWith('xn--')", "message": "bucket names must not start with xn--"},
    {"rule": "!self.startsWith('sthree-')", "message": "bucket names must not start with sthree-"},
    {"rule": "!self.endsWith('-s3alias')", "message": "bucket names must not end with -s3alias"},
    {"rule": "!self.endsWith('--ol-s3')", "message": "bucket names must not end with --ol-s3"},
    {"rule": "!self.endsWith('.mrap')", "message": "bucket names must not end with .mrap"},
    {"rule": "!self.endsWith('--x-s3')", "message": "bucket names must not end with --x-s3"},
    {
        "rule": "!self.matches('^[0-9]+\\\\.[0-9]+\\\\.[0-9]+\\\\.[0-9]+$')",
        "message": "bucket names must not be formatted as an IP address",
    },
]


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a valid S3 bucket name, or None. Mirrors the CRD's pattern and CEL rules."""
    if not 3 <= len(name) <= 63:
        return f"bucket name {name!r} must be 3-63 characters long (has {len(name)})"
    if not re.fullmatch(NAME_PATTERN, name):
        return (
            f"bucket name {name!r} may contain only lowercase letters, digits, hyphens and dots, and must "
            "start and end with a letter or digit"
        )
    if ".." in name:
        return f"bucket name {name!r} must not contain two adjacent periods"
    if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", name):  # the CRD's CEL rule, exactly
        return f"bucket name {name!r} must not be formatted as an IP address"
    for prefix in ("xn--", "sthree-"):
        if name.startswith(prefix):
            return f"bucket name {name!r} must not start with {prefix}"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3"):
        if name.endswith(suffix):
            return f"bucket name {name!r} must not end with {suffix}"
    return None


SPEC_RULES: list[JsonValue] = [
    {
        "rule": "!has(self.objectLock) || has(oldSelf.objectLock)",
        "message": "objectLock is enabled when the bucket is created: it cannot be added to an existing "
        "Bucket",
        "fieldPath": ".objectLock",
    },
    {
        "rule": "!has(self.objectLock) || !has(self.versioning) || self.versioning == 'Enabled'",
        "message": "objectLock needs versioning Enabled (S3 keeps it enabled on a locked bucket)",
        "fieldPath": ".versioning",
    },
    {
        "rule": "!has(self.replication) || (has(self.versioning) && self.versioning == 'Enabled')",
        "message": "replication needs versioning: Enabled on this bucket (and on every destination)",
        "fieldPath": ".versioning",
    },
    {
        "rule": "!has(self.accelerate) || self.accelerate != 'Enabled' || !has(self.name) "
        "|| !self.name.contains('.')",
        "message": "accelerate: Enabled needs a bucket name without dots (S3 refuses to accelerate it)",
        "fieldPath": ".accelerate",
    },
]


class BucketSpec(AwsObjectSpec):
    """Desired state of an S3 bucket. Facets left out are neither read nor written."""

    model_config = ConfigDict(
        **Model.model_config, json_schema_extra={"x-kubernetes-validations": SPEC_RULES}
    )

    name: str | None = Field(
        None,
        description="S3 bucket name (global): 3-63 lowercase letters, digits, hyphens, dots. Defaults to "
        "<prefix><namespace>-<metadata.name>. Immutable.",
        min_length=3,
        max_length=63,
        pattern=NAME_PATTERN,
        json_schema_extra={**IMMUTABLE, "x-kubernetes-validations": NAME_RULES},
    )
    versioning: Literal["Enabled", "Suspended"] | None = Field(
        None, description="Enabled or Suspended. A versioned bucket can never return to unversioned."
    )
    encryption: Encryption | None = Field(None, description="Default encryption (AWS default: SSE-S3).")
    public_access_block: PublicAccessBlock | None = Field(None, description="Block Public Access settings.")
    object_ownership: ObjectOwnership | None = Field(
        None, description="Object ownership; BucketOwnerEnforced disables ACLs (the AWS default)."
    )
    lifecycle_rules: list[LifecycleRule] | None = Field(
        None, max_length=1000, description="Lifecycle rules; an empty list removes all rules."
    )
    cors: list[CorsRule] | None = Field(
        None, max_length=100, description="CORS rules; an empty list removes them."
    )
    policy: str | None = Field(
        None,
        description="Bucket policy as a JSON document; compared semantically (key order and whitespace "
        "are not drift). An empty string removes the policy.",
        max_length=20480,
    )
    logging: Logging | None = Field(None, description="Server access logging.")
    notifications: Notifications | None = Field(
        None,
        description="Event notifications to SQS queues (by reference or ARN) and EventBridge. Left out: "
        "the bucket's notification configuration is neither read nor changed.",
    )
    object_lock: ObjectLock | None = Field(
        None,
        description="S3 Object Lock, enabled when awsop creates the bucket (only then: it cannot be added "
        "to an existing Bucket object, and a bucket found without it is Stalled). Needs versioning Enabled.",
    )
    replication: Replication | None = Field(
        None,
        description="Replication to other buckets (by reference or ARN). Needs versioning Enabled here and "
        "on every destination; the bucket waits for its destinations.",
    )
    website: Website | None = Field(None, description="Static website hosting (HTTP only).")
    intelligent_tiering: list[TieringConfiguration] | None = Field(
        None,
        max_length=1000,
        description="S3 Intelligent-Tiering archive configurations (unique ids); an empty list removes them.",
    )
    accelerate: Accelerate | None = Field(
        None,
        description="Transfer Acceleration: Enabled or Suspended (names with dots cannot be accelerated).",
    )
    request_payer: RequestPayer | None = Field(
        None, description="Who pays for requests and downloads: BucketOwner (the AWS default) or Requester."
    )
    empty_on_delete: bool = Field(
        False,
        description="With deletionPolicy Delete, remove every object version and delete marker before "
        "deleting the bucket. Without it a non-empty bucket is never deleted.",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        if value is not None and (problem := bucket_name_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("policy")
    @classmethod
    def _policy_json(cls, value: str | None) -> str | None:
        return check_policy_document(value)

    def references(self) -> list[Reference]:
        out = self.notifications.references() if self.notifications is not None else []
        return out + (self.replication.references() if self.replication is not None else [])

    def named_dependencies(self) -> list[NamedDependency]:
        if self.logging is None or not self.logging.enabled:
            return []
        return [
            NamedDependency(KIND, self.logging.target_bucket, "logging.targetBucket", LOGGING_TARGET_MISSING)
        ]

    @model_validator(mode="after")
    def _logging_target(self) -> BucketSpec:
        if self.object_lock is not None and self.versioning not in (None, "Enabled"):
            raise ValueError("objectLock needs versioning Enabled (S3 keeps it enabled on a locked bucket)")
        if self.replication is not None and self.versioning != "Enabled":
            raise ValueError(
                "versioning: replication needs versioning: Enabled on this bucket (and on every destination)"
            )
        if self.accelerate == "Enabled" and self.name and "." in self.name:
            raise ValueError(
                "accelerate: Enabled needs a bucket name without dots (S3 refuses to accelerate it)"
            )
        if self.intelligent_tiering is not None:
            ids = [config.id for config in self.intelligent_tiering]
            if len(ids) != len(set(ids)):
                raise ValueError("intelligentTiering ids must be unique")
        if self.lifecycle_rules is not None:
            ids = [rule.id for rule in self.lifecycle_rules]
            if len(ids) != len(set(ids)):
                raise ValueError("lifecycleRules ids must be unique")
        return self


# -- the client -------------------------------------------------------------------------------------


@dataclass
class BucketObserved:
    name: str
    region: str
    tags: dict[str, str]
    facets: dict[str, Any] = field(default_factory=dict)


class BucketClient:
    """ResourceClient for S3 buckets."""

    kind = KIND
    default_deletion_policy = DeletionPolicy.RETAIN
    global_names = True  # one namespace for every region and account

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def _s3(self, region: str) -> S3:
        return self.clients.client("s3", region)

    def aws_name(self, ref: ObjectRef, spec: BucketSpec, prefix: str) -> str:
        if spec.name:
            return spec.name
        return default_bucket_name(prefix, ref.namespace, ref.name)

    def observe(self, target: Target[BucketSpec], facets: bool = True) -> BucketObserved | None:
        s3 = self._s3(target.region)
        try:
            head = s3.head_bucket(Bucket=target.aws_name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            if error_code(exc) == "403":
                raise _access_denied_on_head(exc, target.aws_name) from exc
            raise
        region = head.get("BucketRegion") or _region_header(head) or target.region
        observed = BucketObserved(target.aws_name, region, self._read_tags(s3, target.aws_name))
        if region != target.region or not facets:
            return observed  # a region conflict is reported by diff (region is immutable)
        for facet in FACETS:
            if facet.desired(target) is not UNSET:
                observed.facets[facet.path] = facet.read(s3, target.aws_name)
        return observed

    def observe_created(self, target: Target[BucketSpec], created: BucketObserved) -> BucketObserved | None:
        """After this reconcile's CreateBucket answered: the tags alone show whose bucket it is (its
        existence and region are what the create was asked for; HeadBucket would add a call)."""
        try:
            tags = self._read_tags(self._s3(target.region), target.aws_name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None  # not visible yet: the engine reads again
            raise
        return BucketObserved(target.aws_name, created.region, tags)

    @staticmethod
    def _read_tags(s3: S3, bucket: str) -> dict[str, str]:
        try:
            tag_set = s3.get_bucket_tagging(Bucket=bucket).get("TagSet", [])
        except ClientError as exc:
            if missing(exc, TAGS_MISSING_CODES):
                return {}
            raise
        return {t["Key"]: t.get("Value", "") for t in tag_set}  # an empty value may be omitted

    def owner_of(self, observed: BucketObserved) -> str | None:
        return observed.tags.get(OWNER_TAG)

    def observed_tags(self, observed: BucketObserved) -> dict[str, str]:
        return dict(observed.tags)

    def diff(self, target: Target[BucketSpec], observed: BucketObserved) -> list[Change]:
        if observed.region != target.region:
            raise TerminalError(
                "RegionMismatch",
                f"bucket {target.aws_name} is in {observed.region}, the spec asks for {target.region}; "
                "region is immutable",
            )
        changes = []
        for facet in FACETS:
            desired = facet.desired(target)
            if desired is UNSET:
                continue
            actual = observed.facets.get(facet.path)
            if facet.problem is not None and (problem := facet.problem(desired, actual)):
                raise TerminalError(f"{facet.path[0].upper()}{facet.path[1:]}NotInAws", problem)
            if not facet.matches(desired, actual):
                changes.append(Change(facet.path, actual, desired, Action.UPDATE, facet.calls_for(desired)))
        authoritative = target.spec.tags is not None
        actual_tags = tag_drift(target.tags, observed.tags, authoritative)
        if actual_tags != target.tags:
            desired_set = tags_to_write(target.tags, observed.tags, authoritative)
            call = "s3:PutBucketTagging" if desired_set else "s3:DeleteBucketTagging"
            changes.insert(0, Change("tags", actual_tags, target.tags, Action.UPDATE, (call,)))
        return changes

    def plan_create(self, target: Target[BucketSpec]) -> list[Change]:
        created = target.aws_name + (" (Object Lock enabled)" if target.spec.object_lock else "")
        changes = [Change("", None, created, Action.CREATE, ("s3:CreateBucket",))]
        # the tags travel with CreateBucket; PutBucketTagging only follows where they were ignored
        changes.append(Change("tags", None, target.tags, Action.CREATE))
        for facet in FACETS:
            desired = facet.desired(target)
            if not _written_at_create(facet, desired):
                continue  # nothing to remove on a new bucket, or CreateBucket made it
            changes.append(Change(facet.path, None, desired, Action.CREATE, facet.calls_for(desired)))
        return changes

    def create(self, target: Target[BucketSpec]) -> BucketObserved:
        """CreateBucket with the tags, so on AWS the bucket is recognisably ours from its first moment.
        The engine confirms ownership by reading the tags back before `finish_create` writes the rest."""
        s3 = self._s3(target.region)
        config: dict[str, Any] = {"Tags": _tagging(target.tags)["TagSet"]}
        if target.region != "us-east-1":
            config["LocationConstraint"] = target.region
        lock = {"ObjectLockEnabledForBucket": True} if target.spec.object_lock is not None else {}
        try:
            s3.create_bucket(Bucket=target.aws_name, CreateBucketConfiguration=config, **lock)
        except ClientError as exc:
            if error_code(exc) == "BucketAlreadyOwnedByYou":
                raise AlreadyCreatedError(
                    "BucketAlreadyOwnedByYou", f"bucket {target.aws_name} is already owned by this account"
                ) from exc
            raise
        return BucketObserved(target.aws_name, target.region, dict(target.tags))

    def tag_owner(self, target: Target[BucketSpec], observed: BucketObserved) -> None:
        """The tag write after CreateBucket, for APIs that ignored the tags given at create."""
        tags = tags_to_write(target.tags, observed.tags, target.spec.tags is not None)
        s3 = self._s3(target.region)
        s3.put_bucket_tagging(Bucket=target.aws_name, Tagging=_tagging(tags))

    def finish_create(self, target: Target[BucketSpec], observed: BucketObserved) -> BucketObserved:
        s3 = self._s3(target.region)
        writes = []
        for facet in FACETS:
            desired = facet.desired(target)
            if not _written_at_create(facet, desired):
                continue
            writes.append((facet, desired))
        self._check_preconditions(target, writes)
        for facet, desired in writes:
            facet.write(s3, target.aws_name, facet.carry(desired, None))
            observed.facets[facet.path] = desired
        return observed

    def _check_preconditions(self, target: Target[BucketSpec], writes: list[tuple[Facet, Any]]) -> None:
        """Every facet precondition (a notification queue's policy) before the first write: one that
        fails holds back all of this reconcile's writes, so the bucket changes in one piece."""
        for facet, desired in writes:
            if facet.check is not None:
                facet.check(self.clients, target, desired)

    def discard(self, target: Target[BucketSpec], observed: BucketObserved) -> None:
        """Delete the bucket this reconcile just created and could not tag. Never empties it: a bucket
        that already holds objects is refused by S3 (BucketNotEmpty) and stays."""
        self._s3(target.region).delete_bucket(Bucket=target.aws_name)

    def created_at(self, target: Target[BucketSpec], observed: BucketObserved) -> float | None:
        """CreationDate from ListBuckets narrowed by prefix. The name is looked for in every page, not taken
        as the first answer: other buckets share the prefix (`reports` and `reports-replica`), and an
        emulator (moto) lists them in creation order rather than sorted."""
        s3 = self._s3(target.region)
        kwargs: dict[str, Any] = {"Prefix": target.aws_name, "MaxBuckets": 100}
        while True:
            page = s3.list_buckets(**kwargs)
            for bucket in page.get("Buckets", []):
                if bucket.get("Name") == target.aws_name and bucket.get("CreationDate") is not None:
                    return float(bucket["CreationDate"].timestamp())
            token = page.get("ContinuationToken")
            if not token:
                return None
            kwargs["ContinuationToken"] = token

    def apply(self, target: Target[BucketSpec], observed: BucketObserved, changes: list[Change]) -> None:
        s3 = self._s3(target.region)
        by_path = {facet.path: facet for facet in FACETS}
        self._check_preconditions(
            target, [(by_path[c.path], c.desired) for c in changes if c.path in by_path]
        )
        for change in changes:
            if change.path == "tags":
                tags = tags_to_write(target.tags, observed.tags, target.spec.tags is not None)
                _put_tags(s3, target.aws_name, tags)
            else:
                facet = by_path[change.path]
                facet.write(s3, target.aws_name, facet.carry(change.desired, observed.facets.get(facet.path)))

    def release(self, target: Target[BucketSpec], observed: BucketObserved) -> None:
        remaining = {
            k: v for k, v in observed.tags.items() if k not in SYSTEM_TAGS and not k.startswith("aws:")
        }
        _put_tags(self._s3(target.region), target.aws_name, remaining)

    def delete(self, target: Target[BucketSpec], observed: BucketObserved) -> DeleteOutcome:
        s3 = self._s3(target.region)
        # Objects can arrive while emptying (access logs are delivered to log buckets continuously):
        # empty and delete a few times before handing back to the retry schedule.
        attempts = 3 if target.spec.empty_on_delete else 1
        for _ in range(attempts):
            if target.spec.empty_on_delete:
                _empty_bucket(s3, target.aws_name)
            try:
                s3.delete_bucket(Bucket=target.aws_name)
                return DeleteOutcome(DeleteResult.DELETED)
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    return DeleteOutcome(DeleteResult.DELETED)
                if error_code(exc) != "BucketNotEmpty":
                    raise
        if target.spec.empty_on_delete:
            return DeleteOutcome(
                DeleteResult.IN_PROGRESS,
                "Emptying",
                f"objects keep arriving in bucket {target.aws_name} while it is emptied; trying again",
            )
        return DeleteOutcome(
            DeleteResult.BLOCKED,
            "BucketNotEmpty",
            f"bucket {target.aws_name} still holds objects and emptyOnDelete is false: it was not "
            "deleted. Set emptyOnDelete: true to delete its contents, or deletionPolicy: Retain.",
        )

    def status(self, target: Target[BucketSpec], observed: BucketObserved | None) -> dict[str, Any]:
        out: dict[str, Any] = {"awsName": target.aws_name, "region": target.region}
        if target.spec.versioning is not None:  # what referrers (replication sources) check at plan time
            out["versioning"] = target.spec.versioning
        if observed is not None:
            out["arn"] = f"arn:aws:s3:::{target.aws_name}"
        return out

    def classify(self, exc: BaseException) -> ErrorClass:
        return classify(exc, TERMINAL_CODES)


def _written_at_create(facet: Facet, desired: Any) -> bool:
    """Whether a new bucket needs a write for this facet: not for an undeclared facet, an empty value
    that only removes, or a value CreateBucket already made."""
    if desired is UNSET or (desired in (None, []) and facet.delete_call):
        return False
    return facet.written_at_create(desired)


def _region_header(head: dict[str, Any]) -> str | None:
    headers = head.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    value = headers.get("x-amz-bucket-region")
    return str(value) if value else None


def _access_denied_on_head(exc: ClientError, bucket: str) -> Exception:
    # HeadBucket answers 403 both when IAM denies us and when another account owns the name.
    return AccessError(
        "AccessDeniedOrTaken",
        f"HeadBucket {bucket}: 403 Forbidden. Either the bucket name belongs to another AWS account "
        "(S3 names "
        "are global: choose another name) or the operator's IAM policy lacks s3:ListBucket on it.",
    )


def _tagging(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


def _put_tags(s3: S3, bucket: str, tags: dict[str, str]) -> None:
    if tags:
        s3.put_bucket_tagging(Bucket=bucket, Tagging=_tagging(tags))
    else:
        s3.delete_bucket_tagging(Bucket=bucket)


def _empty_bucket(s3: S3, bucket: str) -> int:
    """Delete every object version and delete marker (1,000 per call). Returns how many were deleted."""
    deleted = 0
    kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": 1000}
    while True:
        page = s3.list_object_versions(**kwargs)
        keys = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if keys:
            result = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            # DeleteObjects answers 200 even when keys were refused: the refusals are in Errors
            if errors := result.get("Errors"):
                codes = sorted({e.get("Code", "") for e in errors})
                detail = (
                    f"DeleteObjects: {len(errors)} of {len(keys)} object versions not deleted "
                    f"({', '.join(codes)})"
                )
                if any(code in ("AccessDenied", "403") for code in codes):
                    raise AccessError("AccessDenied", detail)
                raise RecoverableError("DeleteObjectsFailed", detail)
            deleted += len(keys)
        if not page.get("IsTruncated"):
            return deleted
        kwargs["KeyMarker"] = page.get("NextKeyMarker")
        kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")


def default_bucket_name(prefix: str, namespace: str, name: str) -> str:
    """`<prefix><namespace>-<name>` made S3-safe; long names keep a hash suffix so they stay unique."""
    raw = f"{prefix}{namespace}-{name}".lower()
    cleaned = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    if len(cleaned) > 63:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
        cleaned = cleaned[:54].rstrip("-") + "-" + digest
    if len(cleaned) < 3:
        cleaned = (cleaned + "-bucket")[:63]
    if cleaned.startswith(("xn--", "sthree-")) or re.fullmatch(r"[0-9]+(\.[0-9]+){3}", cleaned):
        cleaned = ("b-" + cleaned)[:63].rstrip("-")
    if cleaned.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        cleaned = cleaned[:61].rstrip("-") + "-b"
    return cleaned
