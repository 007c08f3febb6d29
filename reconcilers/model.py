"""Spec and status models shared by every kind.

pydantic models are the single source of truth: they validate manifests in the operator and the CLI, and
they generate the CRD schemas. Field metadata that only the CRD needs travels in `json_schema_extra`:
`x-awsop-immutable` marks a field that may not change once set (rendered as a CEL transition rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator
from pydantic.alias_generators import to_camel

from . import outputs as catalogue
from .policies import AdoptionPolicy, DeletionPolicy, DriftPolicy, ManagementPolicy
from .tags import validate_tags

if TYPE_CHECKING:
    from .refs import NamedDependency, Reference, ReferenceProblem, Resolution

IMMUTABLE: dict[str, Any] = {"x-awsop-immutable": True}
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$"


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, use_enum_values=False
    )


class AccountRef(Model):
    """A reference to a cluster-scoped AWSAccount."""

    name: str = Field(
        description="Name of the AWSAccount.",
        pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        max_length=253,
    )


DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
OUTPUT_TARGET_RULES: list[JsonValue] = [
    {"rule": "has(self.configMap) != has(self.secret)", "message": "set exactly one of configMap or secret"},
]
OUTPUT_KEY_RULES: list[JsonValue] = [
    {
        "rule": "self.all(k, k.matches('^[-._a-zA-Z0-9]+$') && k != '.' && !k.startsWith('..'))",
        "message": "keys follow the ConfigMap key rules: letters, digits, '-', '_' and '.' only, at most 253 "
        "characters, neither '.' nor '..' nor a '..' prefix",
    },
    {"rule": "self.all(k, size(k) <= 253)", "message": "a key has at most 253 characters"},
]
OUTPUTS_RULES: list[JsonValue] = [
    {
        "rule": "self.all(o, self.exists_one(p, p.to == o.to))",
        "message": "each target may be listed only once",
    },
]


class OutputTarget(Model):
    """Where outputs go: a ConfigMap or a Secret in the object's namespace."""

    model_config = {
        **Model.model_config,
        "json_schema_extra": {"x-kubernetes-validations": OUTPUT_TARGET_RULES},
    }

    config_map: str | None = Field(
        None,
        description="Name of a ConfigMap in the object's namespace; created when missing (then owned by this "
        "object), else only awsop's keys are added to it.",
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    secret: str | None = Field(
        None,
        description="Name of a Secret in the object's namespace; created when missing (then owned by this "
        "object), else only awsop's keys are added to it. The installation may disable Secret outputs.",
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> OutputTarget:
        if (self.config_map is None) == (self.secret is None):
            raise ValueError("set exactly one of configMap or secret")
        return self

    @property
    def kind(self) -> str:
        return "ConfigMap" if self.config_map is not None else "Secret"

    @property
    def name(self) -> str:
        return self.config_map if self.config_map is not None else str(self.secret)


class Output(Model):
    """Values of this object written into one ConfigMap or Secret."""

    to: OutputTarget = Field(description="The ConfigMap or Secret (same namespace) the values go to.")
    values: dict[str, str] | None = Field(
        None,
        description="Key in the target -> output name of this kind. Omitted: every output of the kind under "
        "its default key (see outputs).",
        max_length=catalogue.MAX_VALUES,
        json_schema_extra={"x-kubernetes-validations": OUTPUT_KEY_RULES},
    )

    @field_validator("values")
    @classmethod
    def _check_keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key in value or {}:
            if (problem := catalogue.key_problem(key)) is not None:
                raise ValueError(problem)
        return value


class AwsObjectSpec(Model):
    """The fields every awsop kind has."""

    name: str | None = Field(
        None,
        description="Name of the AWS resource. Defaults to <namespace>-<metadata.name> adjusted to the "
        "service's naming rules. Immutable.",
        json_schema_extra=IMMUTABLE,
    )
    region: str | None = Field(
        None,
        description="AWS region. Defaults to the AWSAccount's default region, then the operator's. "
        "Immutable.",
        pattern=REGION_PATTERN,
        json_schema_extra=IMMUTABLE,
    )
    tags: dict[str, str] | None = Field(
        None,
        description="AWS tags. When set, this map (plus awsop's ownership tags and the operator's default "
        "tags) is the whole tag set: other tags are drift. When omitted, tags added outside awsop are kept. "
        "Keys starting with aws: are reserved.",
    )
    deletion_policy: DeletionPolicy | None = Field(
        None,
        description="Delete or Retain the AWS resource when this object is deleted. Default depends on the "
        "kind (Retain for data-bearing kinds) and the operator configuration.",
    )
    management_policy: ManagementPolicy = Field(
        ManagementPolicy.MANAGE,
        description="Manage: create, update and delete in AWS. ObserveOnly: never write to AWS; report "
        "state and drift.",
    )
    drift_policy: DriftPolicy = Field(
        DriftPolicy.CORRECT,
        description="Correct: put AWS back to the spec when it drifts. Report: record and signal drift only.",
    )
    adoption_policy: AdoptionPolicy = Field(
        AdoptionPolicy.NEVER,
        description="Never: an existing AWS resource not owned by this object is a conflict. Adopt: take it "
        "over (with ObserveOnly, watch it read-only).",
    )

    account_ref: AccountRef | None = Field(
        None,
        description="The AWSAccount whose role, default region and default tags this object uses; else the "
        "namespace's awsop.io/account annotation, else the operator's own credentials. The namespace must be "
        "granted by the account. Immutable: moving a resource to another account means a new resource.",
        json_schema_extra=IMMUTABLE,
    )

    outputs: list[Output] | None = Field(
        None,
        description="Values applications need (URL, ARN, name, ...) written into ConfigMaps or Secrets in "
        "this namespace by server-side apply, under a field manager per object: awsop owns only its keys. "
        "Written once the resource is Ready and whenever a value changes; removed when the object is deleted "
        "or the key leaves this list.",
        max_length=catalogue.MAX_OUTPUTS,
        json_schema_extra={"x-kubernetes-validations": OUTPUTS_RULES},
    )

    @model_validator(mode="after")
    def _check_outputs(self) -> AwsObjectSpec:
        """Output names this kind has, each target once."""
        kind = catalogue.kind_of_spec(type(self))
        known = catalogue.output_names(kind)
        seen: set[tuple[str, str]] = set()
        for i, output in enumerate(self.outputs or []):
            where = (output.to.kind, output.to.name)
            if where in seen:
                raise ValueError(f"outputs[{i}].to: {output.to.kind} {output.to.name} is listed twice")
            seen.add(where)
            for key, name in (output.values or {}).items():
                if name not in known:
                    raise ValueError(
                        f"outputs[{i}].values.{key}: {kind} has no output {name!r} "
                        f"(one of: {', '.join(known)})"
                    )
        return self

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            problems = validate_tags(value)
            if problems:
                raise ValueError("; ".join(problems))
        return value

    def references(self) -> list[Reference]:
        """The other awsop objects this spec refers to by name (kind, name, spec path); none by default.
        Kinds with `{ref: {name}}` fields override it; runners resolve them before the engine runs."""
        return []

    def reference_problems(self, resolved: Mapping[tuple[str, str], Resolution]) -> list[ReferenceProblem]:
        """What does not fit between this spec and the specs of the objects it references
        (`Resolution.spec`, when the runner knows it); none by default. The engine stalls the object on
        any of them before its first AWS call, and the CLI refuses the manifest set before any write."""
        return []

    def named_dependencies(self) -> list[NamedDependency]:
        """Other AWS resources this spec names by AWS name or id rather than by `ref` (kind, name, spec
        path, and the AWS error codes that mean it does not exist yet); none by default. The CLI orders
        an object of the same manifest set that has that name before this one, and the engine reports
        one of those errors as DependencyNotReady (retried), not as a failure."""
        return []


class Condition(Model):
    type: str = Field(description="Ready, Synced, Drifted, Stalled or Reconciling.")
    status: str = Field(
        description="True, False or Unknown.", json_schema_extra={"enum": ["True", "False", "Unknown"]}
    )
    reason: str = Field("", description="CamelCase reason for the last transition.")
    message: str = Field("", description="Human-readable detail.")
    last_transition_time: str | None = Field(None, description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(None, description="metadata.generation this condition is about.")


class DriftEntry(Model):
    path: str = Field(description="Spec path of the drifted facet.")
    desired: str = Field(description="Value in the spec (rendered).")
    actual: str = Field(description="Value in AWS (rendered).")
    detected_at: str = Field(description="When this drift was first seen (RFC 3339).")


class PlanStatus(Model):
    generated_at: str = Field(description="When the plan was computed (RFC 3339).")
    action: str = Field(description="create, update, delete or none.")
    changes: list[str] = Field(default_factory=list, description="One line per facet change.")
    calls: list[str] = Field(
        default_factory=list, description="AWS operations the plan would make, in order."
    )


class ProgressStatus(Model):
    """A change that AWS takes one step at a time, while it is under way."""

    generation: int = Field(description="metadata.generation these steps belong to.")
    step: int = Field(description="Steps started so far (the one in flight included).")
    steps: int = Field(description="All steps of the change: started plus pending.")
    current_step: str = Field("", description="The step started last, e.g. creating index gsi-by-email.")
    pending_steps: list[str] = Field(
        default_factory=list, description="Steps not started yet, in the order they will run."
    )
    waiting_for: str = Field("", description="What the resource is busy with right now, if anything.")


class ResolvedReferenceStatus(Model):
    """What one reference resolved to when the object last matched AWS."""

    path: str = Field(description="Spec path of the reference, e.g. deadLetterQueue or launchTemplate.ref.")
    kind: str = Field(description="Kind of the referenced awsop object.")
    name: str = Field(description="metadata.name of the referenced object (same namespace).")
    values: dict[str, str] = Field(
        default_factory=dict,
        description="The target's identifiers that were applied (arn, url, id, defaultVersion, "
        "latestVersion); when they change, awsop applies the new values like a spec change.",
    )


class OutputStatus(Model):
    """One ConfigMap or Secret this object's outputs were written to."""

    kind: str = Field(description="ConfigMap or Secret.")
    name: str = Field(description="Its name, in the object's namespace.")
    keys: list[str] = Field(default_factory=list, description="The keys awsop wrote there for this object.")
    created: bool = Field(
        False, description="awsop created it for this object (ownerReference): deleted with the object."
    )


class PendingCreateStatus(Model):
    """A create that AWS runs as an operation of its own (a DynamoDB import from S3), while it runs or
    after it failed: awsop follows this operation instead of starting another one."""

    token: str = Field(description="The operation AWS runs, e.g. the import's ARN.")
    fingerprint: str = Field(
        description="Digest of the spec that started it: a failed operation is started again only for "
        "another spec."
    )
    started_at: str = Field("", description="When awsop started it (RFC 3339).")


class AwsObjectStatus(Model):
    """Status every kind reports; kinds add their own identifiers."""

    model_config = ConfigDict(extra="allow")

    observed_generation: int | None = Field(None, description="Last metadata.generation reconciled.")
    applied_generation: int | None = Field(
        None, description="Last metadata.generation whose spec reached AWS; differences after it are drift."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Synced, Drifted, Stalled, Reconciling."
    )
    arn: str | None = Field(None, description="ARN of the AWS resource.")
    aws_name: str | None = Field(None, description="Name of the AWS resource.")
    region: str | None = Field(None, description="Region of the AWS resource.")
    account_id: str | None = Field(None, description="AWS account of the resource, when known.")
    last_sync_time: str | None = Field(None, description="Last successful reconcile (RFC 3339).")
    drift: list[DriftEntry] = Field(default_factory=list, description="Current drift; empty when none.")
    plan: PlanStatus | None = Field(None, description="Planned AWS calls (annotation awsop.io/plan-only).")
    progress: ProgressStatus | None = Field(
        None, description="A multi-step change or a resource not usable yet: what is done, what waits."
    )
    outputs: list[OutputStatus] | None = Field(
        None, description="Where spec.outputs were written: each ConfigMap or Secret and its keys."
    )
    pending_create: PendingCreateStatus | None = Field(
        None,
        description="A create AWS still runs on its own (or that failed), which awsop follows instead of "
        "starting another.",
    )
    resolved_references: list[ResolvedReferenceStatus] | None = Field(
        None,
        description="What the spec's references resolved to when AWS last matched the spec: a reference "
        "that resolves to other values later is followed (applied), not reported as drift.",
    )
    create_attempted_at: float | None = Field(
        None,
        description="Unix time recorded just before awsop's create call of a resource that may come out "
        "of it untagged (a Bucket): an untagged resource of the name created since is recognised as this "
        "object's after a crash. Removed in the status write that records the create.",
    )
    last_handled: dict[str, str] | None = Field(
        None,
        description="The spec, labels and annotations last handled to the end, as a SHA-256 digest per "
        "operator shard (keyed by its storage prefix): how a change since is told from none.",
    )
