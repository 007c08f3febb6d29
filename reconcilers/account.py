"""AWSAccount: which AWS account and region an object uses, and which namespaces may use which account.

One operator serves many teams in many AWS accounts. An AWSAccount (cluster-scoped, written by the
platform team) names a role the operator assumes with STS, the regions it may be used in, the namespaces
granted to it and tags every resource in it carries. An object picks its account with `spec.accountRef`,
else its namespace's `awsop.io/account` annotation, else it uses the operator's own credentials (unless the
operator requires an account).

This module decides selection and grants only: it is pure (no AWS, no Kubernetes). The operator and the
CLI gather the AWSAccount specs and the namespace's labels and annotations and call `resolve_account`; the
engine reads the `ResolvedAccount` from the `ReconcileContext` and the client factory assumes the role.
What it must never do: let a namespace use an account that does not grant it, or fall back to the
operator's own credentials when an object named an account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from .errors import AwsopError, RecoverableError, TerminalError
from .model import REGION_PATTERN, AccountRef, Condition, Model
from .tags import validate_tags

KIND = "AWSAccount"
ACCOUNT_ANNOTATION = "awsop.io/account"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
NOT_ALLOWED = "AccountNotAllowed"
__all__ = ["AccountRef"]  # defined with the common spec, re-exported here with the rest of accounts
MIN_SESSION_SECONDS = 900  # STS AssumeRole's minimum DurationSeconds
MAX_SESSION_SECONDS = 43200


class LabelSelectorRequirement(Model):
    key: str = Field(description="Namespace label key.", min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="In, NotIn, Exists or DoesNotExist."
    )
    values: list[str] = Field(
        default_factory=list, description="Values for In and NotIn; empty for Exists and DoesNotExist."
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values


class LabelSelector(Model):
    """Namespaces by label, in the Kubernetes label selector convention (all terms must match)."""

    match_labels: dict[str, str] | None = Field(None, description="Labels a namespace must carry.")
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        None, description="Label requirements a namespace must meet."
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        if not self.match_labels and not self.match_expressions:
            return False  # an empty selector grants nothing: tenancy is opt-in, never by accident
        if any(labels.get(k) != v for k, v in (self.match_labels or {}).items()):
            return False
        return all(term.matches(labels) for term in self.match_expressions or [])


class AWSAccountSpec(Model):
    """An AWS account: the role awsop assumes, its regions, the namespaces granted to it, its tags."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.defaultRegion) || !has(self.allowedRegions) || "
                    "size(self.allowedRegions) == 0 || self.defaultRegion in self.allowedRegions",
                    "message": "defaultRegion must be one of allowedRegions",
                }
            ]
        }
    )

    role_arn: str = Field(
        description="IAM role the operator assumes with sts:AssumeRole for objects that use this account. "
        "Its trust policy must allow the operator's own role (IRSA, Pod Identity or the default chain).",
        pattern=ROLE_ARN_PATTERN,
    )
    external_id: str | None = Field(
        None,
        description="ExternalId passed to AssumeRole when the role's trust policy requires one.",
        min_length=2,
        max_length=1224,
        pattern=r"^[\w+=,.@:/-]*$",
    )
    session_duration_seconds: int = Field(
        3600,
        description="Lifetime of the assumed-role session (900-43200 seconds, at most the role's maximum "
        "session duration). Sessions are renewed before they expire.",
        ge=MIN_SESSION_SECONDS,
        le=MAX_SESSION_SECONDS,
    )
    default_region: str | None = Field(
        None,
        description="Region for objects that name none; else the operator's default region.",
        pattern=REGION_PATTERN,
    )
    allowed_regions: list[str] = Field(
        default_factory=list,
        description="Regions objects may use with this account; empty allows any region.",
        json_schema_extra={"items": {"type": "string", "pattern": REGION_PATTERN}},
    )
    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces that may use this account, by name. A namespace not granted here or by "
        "namespaceSelector cannot use the account.",
    )
    namespace_selector: LabelSelector | None = Field(
        None, description="Namespaces that may use this account, by label (added to `namespaces`)."
    )
    default_tags: dict[str, str] | None = Field(
        None,
        description="Tags added to every resource made with this account, below the object's own tags "
        "and tag policy defaults (those win on the same key).",
    )
    rate_limits: dict[str, float] | None = Field(
        None,
        description='Hard caps of AWS calls per second per service for this account, e.g. {"s3": 20}; '
        "override the operator's caps. Below its cap the rate adapts to AWS's throttling by itself.",
    )

    event_drift: bool = Field(
        False,
        description="Event-driven drift for this account (the operator's eventDrift must be on too): awsop "
        "creates and owns one SQS queue and one EventBridge rule per region in use that bring CloudTrail "
        "events of out-of-band changes, checks the changed object at once and lengthens the periodic check "
        "while events arrive. Needs a CloudTrail trail logging management events in those regions.",
    )

    @field_validator("allowed_regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not re.match(REGION_PATTERN, r)]
        if bad:
            raise ValueError(f"allowedRegions: not a region name: {', '.join(bad)}")
        return value

    @field_validator("default_tags")
    @classmethod
    def _tags(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        problems = validate_tags(value or {})
        if problems:
            raise ValueError("defaultTags: " + "; ".join(problems))
        return value

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        bad = [k for k, v in (value or {}).items() if v < 0]
        if bad:
            raise ValueError(f"rateLimits: a rate must be >= 0 ({', '.join(bad)})")
        return value

    @model_validator(mode="after")
    def _default_in_allowed(self) -> AWSAccountSpec:
        if self.default_region and self.allowed_regions and self.default_region not in self.allowed_regions:
            raise ValueError("defaultRegion must be one of allowedRegions")
        return self

    def grants(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """True when `namespace` (with `labels`) may use this account."""
        if namespace in self.namespaces:
            return True
        return self.namespace_selector is not None and self.namespace_selector.matches(labels)


class AccountShardPart(Model):
    """One shard's part of an AWSAccount's status (sharded installations)."""

    objects: int = Field(0, description="Objects this shard reconciles with the account.")


class AWSAccountStatus(Model):
    """Status of an AWSAccount, written by the operator."""

    model_config = ConfigDict(extra="allow")

    observed_generation: int | None = Field(None, description="Last metadata.generation checked.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready: the role can be assumed (AWS's reason when not). EventsArriving (with "
        "spec.eventDrift): CloudTrail events reach awsop in every region in use, or why not.",
    )
    account_id: str | None = Field(None, description="Account id GetCallerIdentity reports for the role.")
    arn: str | None = Field(None, description="ARN of the assumed-role session.")
    objects: int | None = Field(None, description="Number of objects that use this account.")
    shards: dict[str, AccountShardPart] | None = Field(
        None,
        description="With several operator shards: each shard's count, by shard name; `objects` is "
        "their sum, written by the first shard (docs/sharding.md).",
        json_schema_extra={"maxProperties": 64},
    )
    last_check_time: str | None = Field(None, description="When the role was last assumed (RFC 3339).")


def account_of_role(role_arn: str) -> str:
    """The 12-digit account id in a role ARN (the account whose resources the role acts on)."""
    return role_arn.split(":")[4]


@dataclass(frozen=True)
class ResolvedAccount:
    """The account one object uses, as the engine and the client factory need it.

    `name` is "" for the operator's own credentials. `denial` is set when the object may not use the
    account it names (or names one that does not exist): the engine then makes no AWS call at all.
    """

    name: str = ""
    role_arn: str | None = None
    external_id: str | None = None
    session_duration_seconds: int = 3600
    default_region: str | None = None
    allowed_regions: tuple[str, ...] = ()
    default_tags: tuple[tuple[str, str], ...] = ()
    rate_limits: tuple[tuple[str, float], ...] = ()
    event_drift: bool = False
    source: str = ""
    denial: AwsopError | None = field(default=None, compare=False)

    @classmethod
    def of(cls, name: str, spec: AWSAccountSpec, source: str = "") -> ResolvedAccount:
        return cls(
            name=name,
            role_arn=spec.role_arn,
            external_id=spec.external_id,
            session_duration_seconds=spec.session_duration_seconds,
            default_region=spec.default_region,
            allowed_regions=tuple(spec.allowed_regions),
            default_tags=tuple(sorted((spec.default_tags or {}).items())),
            rate_limits=tuple(sorted((spec.rate_limits or {}).items())),
            event_drift=spec.event_drift,
            source=source,
        )

    @property
    def account_id(self) -> str | None:
        """The account the role acts in (from its ARN, no AWS call); None for the operator's own."""
        return account_of_role(self.role_arn) if self.role_arn else None

    @property
    def label(self) -> str:
        """How plans and messages name the account."""
        if not self.name:
            return "operator credentials"
        return f"{self.name} ({self.account_id})" if self.account_id else self.name

    @property
    def session_key(self) -> tuple[str, str, str, int]:
        """Identifies one assumed-role session: a changed role, external id or duration is a new one."""
        return (self.name, self.role_arn or "", self.external_id or "", self.session_duration_seconds)

    def check_region(self, namespace: str, region: str) -> None:
        """Raise AccountNotAllowed when `region` is outside the account's allowed regions."""
        if self.allowed_regions and region not in self.allowed_regions:
            raise TerminalError(
                NOT_ALLOWED,
                f"AWSAccount {self.name} does not allow region {region} (namespace {namespace}); "
                f"allowed: {', '.join(self.allowed_regions)}",
            )


OPERATOR_ACCOUNT = ResolvedAccount(source="operator")


def select_account(account_ref: AccountRef | None, namespace_annotation: str | None) -> tuple[str, str]:
    """(account name, where it came from) by precedence: spec.accountRef, then the namespace's
    awsop.io/account annotation; ("", "operator") when neither names one."""
    if account_ref is not None:
        return account_ref.name, "spec.accountRef"
    if namespace_annotation and namespace_annotation.strip():
        return namespace_annotation.strip(), f"namespace annotation {ACCOUNT_ANNOTATION}"
    return "", "operator"


def resolve_account(
    namespace: str,
    account_ref: AccountRef | None,
    namespace_annotations: Mapping[str, str],
    namespace_labels: Mapping[str, str],
    accounts: Mapping[str, AWSAccountSpec],
    require_account: bool = False,
) -> ResolvedAccount:
    """The account an object in `namespace` uses, or a ResolvedAccount whose `denial` says why none.

    Denials: AccountRequired (nothing named and the operator forbids its own credentials) and
    AccountNotAllowed (the account does not grant the namespace) are terminal; AccountNotFound is
    recoverable (the AWSAccount may be created later)."""
    name, source = select_account(account_ref, namespace_annotations.get(ACCOUNT_ANNOTATION))
    if not name:
        if require_account:
            return ResolvedAccount(
                source=source,
                denial=TerminalError(
                    "AccountRequired",
                    f"namespace {namespace} names no AWSAccount (spec.accountRef or the namespace annotation "
                    f"{ACCOUNT_ANNOTATION}) and the operator's own credentials are disabled "
                    "(AWSOP_REQUIRE_ACCOUNT=true)",
                ),
            )
        return OPERATOR_ACCOUNT
    spec = accounts.get(name)
    if spec is None:
        return ResolvedAccount(
            name=name,
            source=source,
            denial=RecoverableError("AccountNotFound", f"AWSAccount {name} (from {source}) does not exist"),
        )
    if not spec.grants(namespace, namespace_labels):
        return ResolvedAccount(
            name=name,
            source=source,
            denial=TerminalError(
                NOT_ALLOWED,
                f"AWSAccount {name} (from {source}) does not allow namespace {namespace}: it is not in the "
                "account's spec.namespaces and does not match its spec.namespaceSelector",
            ),
        )
    return ResolvedAccount.of(name, spec, source)
