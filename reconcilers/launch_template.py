"""The LaunchTemplate kind: one EC2 launch template, ec2.awsop.io/v1alpha1.

A launch template is a list of immutable, numbered versions; one of them is the default. awsop treats the
spec as the whole content of the default version: any difference (a spec change, or someone making
another version the default) creates a new version with the spec's content and makes it the default.
Versions beyond `keepVersions` are deleted, never the default, the latest, or one an Auto Scaling group
still names. Tags go on at create (TagSpecifications for the template itself), so there is no window in
which a template exists without its ownership tags.

Observation reads DescribeLaunchTemplates (identity, version numbers, tags) and, for the default version's
data, DescribeLaunchTemplateVersions (one template per call). Periodic drift checks are cheaper: they
share DescribeLaunchTemplates calls through `batch.BatchReader` (up to NAMES_PER_CALL names per call, by
the `launch-template-name` filter, which answers the templates that exist instead of failing the whole
call as LaunchTemplateNames does when one is missing), and they skip the version read when the default
version is one this process already found equal to the spec: a version's content is immutable in EC2, so
the same template id, default and latest version numbers and the same desired data give the same verdict.
It must never: delete a template an Auto Scaling group still uses, delete the default or latest version,
or write `aws:` tags.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, JsonValue, field_validator, model_validator

from .aws import AwsClients, RetryingClient
from .batch import BatchReader
from .changes import Action, Change
from .engine import DeleteOutcome, DeleteResult, ObjectRef, Target
from .errors import AlreadyCreatedError, ErrorClass, classify, error_code
from .model import IMMUTABLE, AwsObjectSpec, AwsObjectStatus, Model
from .policies import DeletionPolicy
from .tags import OWNER_TAG, SYSTEM_TAGS, is_reserved

KIND = "LaunchTemplate"
USER_DATA_LIMIT = 16 * 1024  # bytes of user data before base64 (AWS's limit)
DELETE_VERSIONS_PER_CALL = 200
# Names per shared DescribeLaunchTemplates call (one `launch-template-name` filter). AWS documents no
# limit on filter values; EC2 describe calls are known to refuse more than 200, so 100 keeps a margin.
NAMES_PER_CALL = 100
PAGE_SIZE = 200  # DescribeLaunchTemplates MaxResults (AWS's maximum)

# EC2 error codes only a manifest change can fix. Everything else is retried; AlreadyExists too (it may be
# our own create that raced: the next observation decides by the ownership tags).
TERMINAL_CODES = frozenset(
    {
        "InvalidAMIID.Malformed",
        "InvalidAMIID.NotFound",
        "InvalidAMIID.Unavailable",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidParameter",
        "InvalidLaunchTemplateName.MalformedException",
        "InvalidUserData.Malformed",
        "InvalidKeyPair.NotFound",
        "InvalidGroup.NotFound",
        "InvalidGroupId.Malformed",
        "InvalidInstanceType",
        "InvalidIamInstanceProfile.NotFound",
        "InvalidBlockDeviceMapping",
        "MissingParameter",
        "UnknownParameter",
        "ValidationError",
        "InvalidTagKey.Malformed",
        "TagLimitExceeded",
    }
)
NOT_FOUND_CODES = frozenset(
    {"InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound"}
)
# Every operation this module calls, and the IAM actions AWS authorizes it with.
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "DescribeLaunchTemplates": ("ec2:DescribeLaunchTemplates",),
    "DescribeLaunchTemplateVersions": ("ec2:DescribeLaunchTemplateVersions",),
    "CreateLaunchTemplate": ("ec2:CreateLaunchTemplate", "ec2:CreateTags"),
    "CreateLaunchTemplateVersion": ("ec2:CreateLaunchTemplateVersion",),
    "ModifyLaunchTemplate": ("ec2:ModifyLaunchTemplate",),
    "DeleteLaunchTemplateVersions": ("ec2:DeleteLaunchTemplateVersions",),
    "DeleteLaunchTemplate": ("ec2:DeleteLaunchTemplate",),
    "CreateTags": ("ec2:CreateTags",),
    "DeleteTags": ("ec2:DeleteTags",),
    "DescribeAutoScalingGroups": ("autoscaling:DescribeAutoScalingGroups",),
}

# -- spec ------------------------------------------------------------------------------------------

NAME_PATTERN = r"^[a-zA-Z0-9().\-/_]{3,128}$"
IMAGE_PATTERN = r"^(ami-[0-9a-f]{8,17}|resolve:ssm:.+)$"


class IamInstanceProfile(Model):
    """The instance profile instances get: by name or by ARN, exactly one."""

    name: str | None = Field(None, max_length=128, description="Instance profile name.")
    arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:iam::", description="Instance profile ARN.")

    @model_validator(mode="after")
    def _one(self) -> IamInstanceProfile:
        if (self.name is None) == (self.arn is None):
            raise ValueError("iamInstanceProfile: set exactly one of name and arn")
        return self


class Ebs(Model):
    """An EBS volume for a block device mapping."""

    volume_size: int | None = Field(None, ge=1, le=65536, description="Size in GiB.")
    volume_type: Literal["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"] | None = Field(
        None, description="Volume type (AWS default gp2 for most AMIs; gp3 is cheaper)."
    )
    iops: int | None = Field(None, ge=100, le=256000, description="Provisioned IOPS (gp3, io1, io2).")
    throughput: int | None = Field(None, ge=125, le=2000, description="Throughput in MiB/s (gp3).")
    encrypted: bool | None = Field(None, description="Encrypt the volume.")
    kms_key_id: str | None = Field(None, max_length=2048, description="KMS key for encryption.")
    delete_on_termination: bool | None = Field(
        None, description="Delete the volume when the instance terminates."
    )
    snapshot_id: str | None = Field(None, pattern=r"^snap-[0-9a-f]+$", description="Snapshot to restore.")


class BlockDeviceMapping(Model):
    device_name: str = Field(min_length=1, max_length=64, description="Device name, e.g. /dev/xvda.")
    ebs: Ebs = Field(description="The EBS volume for this device.")


class MetadataOptions(Model):
    """Instance metadata service options. awsop requires IMDSv2 tokens unless told otherwise."""

    http_tokens: Literal["required", "optional"] = Field(
        "required", description="required (IMDSv2 only, awsop's default) or optional (IMDSv1 allowed)."
    )
    http_put_response_hop_limit: int | None = Field(
        None, ge=1, le=64, description="Hop limit of metadata responses (2 lets containers reach IMDS)."
    )
    http_endpoint: Literal["enabled", "disabled"] | None = Field(
        None, description="Turn the metadata endpoint on or off."
    )


class InstanceTagSpecifications(Model):
    """Tags EC2 puts on what is launched from the template."""

    instance: dict[str, str] | None = Field(None, description="Tags for launched instances.")
    volume: dict[str, str] | None = Field(None, description="Tags for their EBS volumes.")


PROFILE_RULES: list[JsonValue] = [
    {
        "rule": "has(self.name) != has(self.arn)",
        "message": "iamInstanceProfile: set exactly one of name and arn",
    }
]


class LaunchTemplateSpec(AwsObjectSpec):
    """Desired state of an EC2 launch template: the content of its default version."""

    name: str | None = Field(
        None,
        description="Launch template name: 3-128 letters, digits and ().-/_ . Defaults to "
        "<namespace>-<metadata.name>. Immutable.",
        pattern=NAME_PATTERN,
        json_schema_extra=IMMUTABLE,
    )
    image_id: str = Field(
        description="AMI id (ami-...) or resolve:ssm:<parameter> (AWS resolves the parameter at launch).",
        pattern=IMAGE_PATTERN,
    )
    instance_type: str | None = Field(
        None, pattern=r"^[a-z0-9-]+\.[a-z0-9-]+$", description="Instance type, e.g. t3.micro."
    )
    key_name: str | None = Field(None, max_length=255, description="EC2 key pair name for SSH.")
    security_group_ids: list[Annotated[str, Field(pattern=r"^sg-[0-9a-f]+$")]] | None = Field(
        None, max_length=16, description="Security group ids (sg-...), compared as a set."
    )
    iam_instance_profile: IamInstanceProfile | None = Field(
        None,
        description="Instance profile, by name or ARN.",
        json_schema_extra={"x-kubernetes-validations": PROFILE_RULES},
    )
    user_data: str | None = Field(
        None,
        description="User data as plain text (awsop base64-encodes it). At most 16384 bytes in UTF-8 "
        "(a multi-byte character counts for each of its bytes).",
        max_length=USER_DATA_LIMIT,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"size(bytes(self)) <= {USER_DATA_LIMIT}",
                    "message": f"userData: at most {USER_DATA_LIMIT} bytes in UTF-8 (AWS's limit)",
                }
            ]
        },
    )
    block_device_mappings: list[BlockDeviceMapping] | None = Field(
        None, max_length=32, description="EBS volumes, by device name."
    )
    metadata_options: MetadataOptions = Field(
        default_factory=MetadataOptions,
        description="Instance metadata options. Default: httpTokens required (IMDSv2 only).",
    )
    monitoring: bool | None = Field(None, description="Detailed (1-minute) CloudWatch monitoring.")
    tag_specifications: InstanceTagSpecifications | None = Field(
        None, description="Tags for the instances and volumes launched from the template."
    )
    keep_versions: int = Field(
        10,
        ge=1,
        le=1000,
        description="How many versions to keep; older ones are deleted unless an Auto Scaling group still "
        "uses them. The default and latest versions are always kept.",
    )

    @field_validator("user_data")
    @classmethod
    def _user_data_size(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > USER_DATA_LIMIT:
            raise ValueError(
                f"userData is {len(value.encode())} bytes; AWS allows {USER_DATA_LIMIT} before base64"
            )
        return value

    @model_validator(mode="after")
    def _unique_devices(self) -> LaunchTemplateSpec:
        devices = [m.device_name for m in self.block_device_mappings or []]
        if len(devices) != len(set(devices)):
            raise ValueError("blockDeviceMappings: device names must be unique")
        return self


class LaunchTemplateStatus(AwsObjectStatus):
    """Status of a LaunchTemplate."""

    id: str | None = Field(None, description="Launch template id (lt-...).")
    latest_version: int | None = Field(None, description="Highest version number.")
    default_version: int | None = Field(None, description="Version number of the default version.")


# -- normalisation (pure) -----------------------------------------------------------------------------

# LaunchTemplateData key -> spec path, in the order the plan lists them
DATA_PATHS = {
    "ImageId": "imageId",
    "InstanceType": "instanceType",
    "KeyName": "keyName",
    "SecurityGroupIds": "securityGroupIds",
    "IamInstanceProfile": "iamInstanceProfile",
    "UserData": "userData",
    "BlockDeviceMappings": "blockDeviceMappings",
    "MetadataOptions": "metadataOptions",
    "Monitoring": "monitoring",
    "TagSpecifications": "tagSpecifications",
}
_EBS_KEYS = {
    "volume_size": "VolumeSize",
    "volume_type": "VolumeType",
    "iops": "Iops",
    "throughput": "Throughput",
    "encrypted": "Encrypted",
    "kms_key_id": "KmsKeyId",
    "delete_on_termination": "DeleteOnTermination",
    "snapshot_id": "SnapshotId",
}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def desired_data(spec: LaunchTemplateSpec) -> dict[str, Any]:
    """The LaunchTemplateData the spec describes, in the normalised form `normalize_data` produces."""
    data: dict[str, Any] = {"ImageId": spec.image_id}
    if spec.instance_type:
        data["InstanceType"] = spec.instance_type
    if spec.key_name:
        data["KeyName"] = spec.key_name
    if spec.security_group_ids:  # an empty list and no list both mean: none
        data["SecurityGroupIds"] = sorted(set(spec.security_group_ids))
    if spec.iam_instance_profile is not None:
        profile = spec.iam_instance_profile
        data["IamInstanceProfile"] = {"Arn": profile.arn} if profile.arn else {"Name": profile.name}
    if spec.user_data is not None:
        data["UserData"] = base64.b64encode(spec.user_data.encode()).decode()
    if spec.block_device_mappings:
        data["BlockDeviceMappings"] = [
            {
                "DeviceName": m.device_name,
                "Ebs": {
                    aws: getattr(m.ebs, attr)
                    for attr, aws in _EBS_KEYS.items()
                    if getattr(m.ebs, attr) is not None
                },
            }
            for m in sorted(spec.block_device_mappings, key=lambda m: m.device_name)
        ]
    options: dict[str, Any] = {"HttpTokens": spec.metadata_options.http_tokens}
    if spec.metadata_options.http_put_response_hop_limit is not None:
        options["HttpPutResponseHopLimit"] = spec.metadata_options.http_put_response_hop_limit
    if spec.metadata_options.http_endpoint is not None:
        options["HttpEndpoint"] = spec.metadata_options.http_endpoint
    data["MetadataOptions"] = options
    if spec.monitoring is not None:
        data["Monitoring"] = {"Enabled": spec.monitoring}
    specs = []
    for resource in ("instance", "volume"):
        tags = getattr(spec.tag_specifications, resource, None) if spec.tag_specifications else None
        if tags:
            specs.append({"ResourceType": resource, "Tags": _tag_list(tags)})
    if specs:
        data["TagSpecifications"] = specs
    return data


def normalize_data(data: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """The managed part of a version's LaunchTemplateData, in the form `desired_data` produces.

    Metadata options and EBS settings are compared on the keys the spec declares (AWS fills in defaults
    for the rest); every other managed key is compared whole, so a key someone added is drift."""
    out: dict[str, Any] = {}
    for key in DATA_PATHS:
        if key not in data or data[key] in (None, [], {}):
            continue
        value = data[key]
        if key == "SecurityGroupIds":
            value = sorted(set(value))
        elif key == "BlockDeviceMappings":
            wanted = {m["DeviceName"]: m.get("Ebs", {}) for m in declared.get(key, [])}
            value = [
                {
                    "DeviceName": m.get("DeviceName"),
                    "Ebs": {
                        k: v
                        for k, v in (m.get("Ebs") or {}).items()
                        if k in wanted.get(m.get("DeviceName"), _EBS_KEYS.values())
                    },
                }
                for m in sorted(value, key=lambda m: str(m.get("DeviceName")))
            ]
        elif key == "MetadataOptions":
            wanted_options = declared.get(key, {})
            value = {k: v for k, v in value.items() if k in wanted_options}
        elif key == "Monitoring":
            value = {"Enabled": bool(value.get("Enabled"))}
        elif key == "TagSpecifications":
            # only instance and volume tags are managed (moto also echoes the template's own tags here)
            value = [
                {
                    "ResourceType": s["ResourceType"],
                    "Tags": _tag_list({t["Key"]: t["Value"] for t in s["Tags"]}),
                }
                for s in sorted(value, key=lambda s: str(s.get("ResourceType")))
                if s.get("ResourceType") in ("instance", "volume") and s.get("Tags")
            ]
            if not value:
                continue
        out[key] = value
    if "Monitoring" in out and out["Monitoring"] == {"Enabled": False} and "Monitoring" not in declared:
        del out["Monitoring"]  # basic monitoring is the default, not drift
    return out


# -- the client -------------------------------------------------------------------------------------


@dataclass
class LaunchTemplateObserved:
    id: str
    name: str
    default_version: int
    latest_version: int
    tags: dict[str, str]
    data: dict[str, Any] = field(default_factory=dict)
    owner_arn: str = ""  # CreatedBy (arn:<partition>:iam::<account>:...): partition and account of the ARN


class LaunchTemplateClient:
    """ResourceClient for EC2 launch templates."""

    kind = KIND
    default_deletion_policy = DeletionPolicy.DELETE
    exclusive_create = True  # CreateLaunchTemplate fails on an existing name and tags atomically
    tags_at_create = True

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        # template id -> (default version, latest version, digest of the desired data) of the last read
        # that found the default version's data equal to the spec (a version's data never changes)
        self._verified: dict[str, tuple[int, int, str]] = {}
        self._lock = threading.Lock()

    def _ec2(self, region: str) -> RetryingClient:
        return self.clients.client("ec2", region)

    def moved_identifiers(self, target: Target[LaunchTemplateSpec], changes: list[Change]) -> tuple[str, ...]:
        """A new version moves the version numbers groups follow (a plan shows them known after apply)."""
        new_version = any("ec2:CreateLaunchTemplateVersion" in change.calls for change in changes)
        return ("defaultVersion", "latestVersion") if new_version else ()

    def _reader(self, region: str) -> BatchReader[dict[str, Any]]:
        ec2 = self._ec2(region)

        def fetch(names: list[str]) -> dict[str, dict[str, Any]]:
            return describe_templates(ec2, names)

        return self.clients.batcher("ec2:DescribeLaunchTemplates", region, fetch, NAMES_PER_CALL)

    def aws_name(self, ref: ObjectRef, spec: LaunchTemplateSpec, prefix: str) -> str:
        return spec.name or default_template_name(prefix, ref.namespace, ref.name)

    def prefetch(self, region: str, targets: Sequence[Target[LaunchTemplateSpec]]) -> None:
        """Many templates about to be reconciled: one DescribeLaunchTemplates per 100 names."""
        self._reader(region).prime([t.aws_name for t in targets])

    def observe(
        self, target: Target[LaunchTemplateSpec], facets: bool = True
    ) -> LaunchTemplateObserved | None:
        periodic = facets and target.context.periodic
        template = self._reader(target.region).read(target.aws_name, periodic=periodic)
        if template is None:
            return None
        observed = LaunchTemplateObserved(
            id=template["LaunchTemplateId"],
            name=template["LaunchTemplateName"],
            default_version=int(template["DefaultVersionNumber"]),
            latest_version=int(template["LatestVersionNumber"]),
            tags={t["Key"]: t.get("Value", "") for t in template.get("Tags", [])},
            owner_arn=template.get("CreatedBy", ""),
        )
        if facets:
            desired = desired_data(target.spec)
            verdict = (observed.default_version, observed.latest_version, _digest(desired))
            with self._lock:
                known = self._verified.get(observed.id) == verdict
            if periodic and known:
                observed.data = desired  # this very version was read and found equal to this spec
                return observed
            versions = self._ec2(target.region).describe_launch_template_versions(
                LaunchTemplateId=observed.id, Versions=[str(observed.default_version)]
            )["LaunchTemplateVersions"]
            raw = versions[0].get("LaunchTemplateData", {}) if versions else {}
            observed.data = normalize_data(raw, desired)
            with self._lock:
                if observed.data == desired:
                    self._verified[observed.id] = verdict
                else:
                    self._verified.pop(observed.id, None)
        return observed

    def owner_of(self, observed: LaunchTemplateObserved) -> str | None:
        return observed.tags.get(OWNER_TAG)

    def observed_tags(self, observed: LaunchTemplateObserved) -> dict[str, str]:
        return dict(observed.tags)

    def diff(self, target: Target[LaunchTemplateSpec], observed: LaunchTemplateObserved) -> list[Change]:
        changes = []
        desired = desired_data(target.spec)
        calls: tuple[str, ...] = ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate")
        if observed.latest_version + 1 > target.spec.keep_versions:
            calls += ("ec2:DescribeLaunchTemplateVersions", "ec2:DeleteLaunchTemplateVersions")
        for key, path in DATA_PATHS.items():
            want, have = desired.get(key), observed.data.get(key)
            if want != have:
                changes.append(Change(path, _show(key, have), _show(key, want), Action.UPDATE, calls))
                calls = ()  # one new version carries every data change
        tag_change = self._tag_change(target, observed)
        if tag_change is not None:
            changes.insert(0, tag_change)
        return changes

    def _tag_change(
        self, target: Target[LaunchTemplateSpec], observed: LaunchTemplateObserved
    ) -> Change | None:
        add, remove = tag_updates(target.tags, observed.tags, target.spec.tags is not None)
        if not add and not remove:
            return None
        calls = (("ec2:CreateTags",) if add else ()) + (("ec2:DeleteTags",) if remove else ())
        actual = {k: v for k, v in observed.tags.items() if not is_reserved(k)}
        if target.spec.tags is None:
            actual = {k: v for k, v in actual.items() if k in target.tags}
        return Change("tags", actual, target.tags, Action.UPDATE, calls)

    def plan_create(self, target: Target[LaunchTemplateSpec]) -> list[Change]:
        return [
            Change("", None, target.aws_name, Action.CREATE, ("ec2:CreateLaunchTemplate",)),
            Change("tags", None, target.tags, Action.CREATE),
        ]

    def create(self, target: Target[LaunchTemplateSpec]) -> LaunchTemplateObserved:
        data = desired_data(target.spec)
        try:
            created = self._ec2(target.region).create_launch_template(
                LaunchTemplateName=target.aws_name,
                LaunchTemplateData=data,
                TagSpecifications=[{"ResourceType": "launch-template", "Tags": _tag_list(target.tags)}],
            )["LaunchTemplate"]
        except ClientError as exc:
            if error_code(exc) == "InvalidLaunchTemplateName.AlreadyExistsException":
                raise AlreadyCreatedError(  # another run of ours, or a race: the engine decides by tags
                    "AlreadyExists", f"launch template {target.aws_name} already exists in this account"
                ) from exc
            raise
        return LaunchTemplateObserved(
            id=created["LaunchTemplateId"],
            name=target.aws_name,
            default_version=int(created.get("DefaultVersionNumber", 1)),
            latest_version=int(created.get("LatestVersionNumber", 1)),
            tags=dict(target.tags),
            data=data,
            owner_arn=created.get("CreatedBy", ""),
        )

    def apply(
        self, target: Target[LaunchTemplateSpec], observed: LaunchTemplateObserved, changes: list[Change]
    ) -> None:
        ec2 = self._ec2(target.region)
        try:
            self._apply(ec2, target, observed, changes)
        finally:
            self._reader(target.region).invalidate(target.aws_name)  # its shared description is stale

    def _apply(
        self,
        ec2: RetryingClient,
        target: Target[LaunchTemplateSpec],
        observed: LaunchTemplateObserved,
        changes: list[Change],
    ) -> None:
        if any(change.path == "tags" for change in changes):
            add, remove = tag_updates(target.tags, observed.tags, target.spec.tags is not None)
            if add:
                ec2.create_tags(Resources=[observed.id], Tags=_tag_list(add))
            if remove:
                ec2.delete_tags(Resources=[observed.id], Tags=[{"Key": k} for k in sorted(remove)])
            observed.tags = {**{k: v for k, v in observed.tags.items() if k not in remove}, **add}
        if any(change.path != "tags" for change in changes):
            data = desired_data(target.spec)
            version = ec2.create_launch_template_version(
                LaunchTemplateId=observed.id,
                LaunchTemplateData=data,
                VersionDescription="awsop",
            )["LaunchTemplateVersion"]
            number = int(version["VersionNumber"])
            ec2.modify_launch_template(LaunchTemplateId=observed.id, DefaultVersion=str(number))
            observed.latest_version = max(observed.latest_version, number)
            observed.default_version = number
            observed.data = data
            if number > target.spec.keep_versions:
                self._prune(target, observed)

    def _prune(self, target: Target[LaunchTemplateSpec], observed: LaunchTemplateObserved) -> None:
        """Delete the oldest versions beyond keepVersions, except the default, the latest and any an Auto
        Scaling group names."""
        ec2 = self._ec2(target.region)
        numbers: list[int] = []
        kwargs: dict[str, Any] = {"LaunchTemplateId": observed.id, "MaxResults": 200}
        while True:
            page = ec2.describe_launch_template_versions(**kwargs)
            numbers += [int(v["VersionNumber"]) for v in page.get("LaunchTemplateVersions", [])]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        keep = set(sorted(numbers)[-target.spec.keep_versions :])
        keep |= {observed.default_version, observed.latest_version}
        candidates = sorted(n for n in numbers if n not in keep)
        if not candidates:
            return
        in_use = {int(v) for v in self._group_versions(target.region, observed.id).values() if v.isdigit()}
        doomed = [str(n) for n in candidates if n not in in_use]
        for start in range(0, len(doomed), DELETE_VERSIONS_PER_CALL):
            ec2.delete_launch_template_versions(
                LaunchTemplateId=observed.id, Versions=doomed[start : start + DELETE_VERSIONS_PER_CALL]
            )

    def _group_versions(self, region: str, template_id: str) -> dict[str, str]:
        """Auto Scaling group name -> the version of this template it names, for every group in the
        region that uses it (one paginated DescribeAutoScalingGroups listing; only on prune and delete)."""
        autoscaling = self.clients.client("autoscaling", region)
        out: dict[str, str] = {}
        kwargs: dict[str, Any] = {"MaxRecords": 100}
        while True:
            page = autoscaling.describe_auto_scaling_groups(**kwargs)
            for group in page.get("AutoScalingGroups", []):
                spec = group.get("LaunchTemplate") or (
                    (group.get("MixedInstancesPolicy") or {})
                    .get("LaunchTemplate", {})
                    .get("LaunchTemplateSpecification")
                )
                if spec and spec.get("LaunchTemplateId") == template_id:
                    out[group["AutoScalingGroupName"]] = str(spec.get("Version") or "$Default")
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def release(self, target: Target[LaunchTemplateSpec], observed: LaunchTemplateObserved) -> None:
        present = [k for k in SYSTEM_TAGS if k in observed.tags]
        if present:
            self._ec2(target.region).delete_tags(
                Resources=[observed.id], Tags=[{"Key": k} for k in sorted(present)]
            )
        self._forget(target.region, target.aws_name, observed.id)

    def delete(self, target: Target[LaunchTemplateSpec], observed: LaunchTemplateObserved) -> DeleteOutcome:
        users = self._group_versions(target.region, observed.id)
        if users:
            names = ", ".join(sorted(users))
            return DeleteOutcome(
                DeleteResult.IN_USE,
                "InUseByAutoScalingGroup",
                f"launch template {target.aws_name} is still used by Auto Scaling group(s) {names}: it is "
                "deleted once no group uses it",
            )
        try:
            self._ec2(target.region).delete_launch_template(LaunchTemplateId=observed.id)
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise
        self._forget(target.region, target.aws_name, observed.id)
        return DeleteOutcome(DeleteResult.DELETED)

    def _forget(self, region: str, name: str, template_id: str) -> None:
        """The template is gone or no longer ours: stop sharing and remembering what was read of it."""
        self._reader(region).forget(name)
        with self._lock:
            self._verified.pop(template_id, None)

    def status(
        self, target: Target[LaunchTemplateSpec], observed: LaunchTemplateObserved | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"awsName": target.aws_name, "region": target.region}
        if observed is not None:
            if arn := template_arn(observed.owner_arn, target.region, observed.id):
                out["arn"] = arn
            out.update(
                id=observed.id,
                latestVersion=observed.latest_version,
                defaultVersion=observed.default_version,
            )
        return out

    def classify(self, exc: BaseException) -> ErrorClass:
        return classify(exc, TERMINAL_CODES)


def describe_templates(ec2: RetryingClient, names: list[str]) -> dict[str, dict[str, Any]]:
    """Name -> DescribeLaunchTemplates entry for those of `names` that exist.

    One name is read by LaunchTemplateNames (AWS answers a missing one with a NotFound error). Many
    names are read by the `launch-template-name` filter, paginated: LaunchTemplateNames would fail the
    whole call when one of them is missing, a filter answers the ones that exist. Should a batch still
    be refused with NotFound, each name is read on its own."""
    if len(names) == 1:
        try:
            found = ec2.describe_launch_templates(LaunchTemplateNames=names)["LaunchTemplates"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return {}
            raise
        return {t["LaunchTemplateName"]: t for t in found}
    out: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {
        "Filters": [{"Name": "launch-template-name", "Values": list(names)}],
        "MaxResults": PAGE_SIZE,
    }
    try:
        while True:
            page = ec2.describe_launch_templates(**kwargs)
            out.update({t["LaunchTemplateName"]: t for t in page.get("LaunchTemplates", [])})
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]
    except ClientError as exc:
        if error_code(exc) not in NOT_FOUND_CODES:
            raise
    for name in names:
        out.update(describe_templates(ec2, [name]))
    return out


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def template_arn(created_by: str, region: str, template_id: str) -> str | None:
    """The template's ARN from the partition and account of its CreatedBy (arn:aws:iam::123456789012:root);
    None when AWS did not say who created it."""
    parts = created_by.split(":")
    if len(parts) < 5 or not parts[4].isdigit():
        return None
    return f"arn:{parts[1]}:ec2:{region}:{parts[4]}:launch-template/{template_id}"


def _show(key: str, value: Any) -> Any:
    """How a data value is shown in plans and drift: user data decoded, one-key maps unwrapped."""
    if value is None:
        return None
    if key == "UserData":
        try:
            return base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError):
            return value
    if key == "Monitoring":
        return bool(value.get("Enabled"))
    if key == "TagSpecifications":
        return {s["ResourceType"]: {t["Key"]: t["Value"] for t in s["Tags"]} for s in value}
    return value


def tag_updates(
    desired: dict[str, str], actual: dict[str, str], authoritative: bool
) -> tuple[dict[str, str], set[str]]:
    """Tags to create or overwrite, and keys to delete, for services that tag key by key (EC2, Auto
    Scaling). Without `authoritative` (spec.tags omitted) tags added outside awsop are left alone."""
    add = {k: v for k, v in desired.items() if actual.get(k) != v and not is_reserved(k)}
    remove = set()
    if authoritative:
        remove = {k for k in actual if k not in desired and not is_reserved(k)}
    return add, remove


def default_template_name(prefix: str, namespace: str, name: str) -> str:
    """`<prefix><namespace>-<name>`, at most 128 characters of the allowed set."""
    cleaned = re.sub(r"[^a-zA-Z0-9().\-/_]+", "-", f"{prefix}{namespace}-{name}")[:128]
    return cleaned if len(cleaned) >= 3 else (cleaned + "-lt")[:128]


def template_name_problem(name: str) -> str | None:
    if not re.fullmatch(NAME_PATTERN, name):
        return f"launch template name {name!r} must be 3-128 letters, digits and ().-/_"
    return None
