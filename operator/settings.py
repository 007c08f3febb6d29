"""Operator configuration, read once from the environment (prefix ``AWSOP_``).

The Helm chart renders these variables from its values; the CLI reads the same ones, so a setting means
the same thing everywhere. Nothing here talks to AWS or Kubernetes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from awsop.reconcilers.policies import DeletionPolicy

WORKERS = 16  # kopf's handler threads
DRIFT_EXTRA_WORKERS = 4  # the drift scheduler's threads beyond WORKERS


class ShardSpec(BaseModel):
    """One shard of a sharded installation (one Deployment of the chart)."""

    model_config = ConfigDict(
        alias_generator=lambda n: "labelSelector" if n == "label_selector" else n,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$", description="Shard name.")
    label_selector: str = Field(
        "", description="Kubernetes label selector of the objects it serves; empty = every object."
    )

    @field_validator("label_selector")
    @classmethod
    def _selector_parses(cls, value: str) -> str:
        from .sharding import parse_selector

        parse_selector(value)  # ValueError names the requirement that does not parse
        return value


class Settings(BaseSettings):
    """Every knob of the operator; the environment variable is ``AWSOP_`` + the upper-cased name."""

    model_config = SettingsConfigDict(env_prefix="AWSOP_", extra="ignore")

    cluster_id: str = Field(
        "awsop",
        description="Identifies this cluster in ownership tags (awsop.io/owner = <cluster-id>/<ns>/<name>).",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
    )
    default_region: str | None = Field(
        None,
        description="Region for objects that name none; falls back to AWS_DEFAULT_REGION, then us-east-1.",
    )
    resync_seconds: float = Field(300.0, description="Default drift-check interval per object.", gt=0)
    min_resync_seconds: float = Field(
        30.0, description="Lower bound for the awsop.io/resync-period annotation.", gt=0
    )
    batch_max_age_seconds: float = Field(
        30.0,
        gt=0,
        description="Oldest shared AWS description (seconds) a periodic drift check of a batched kind "
        "accepts instead of reading itself; at most half the resync period. Longer: fewer AWS calls, drift "
        "seen up to that much later.",
    )
    default_tags: dict[str, str] = Field(
        default_factory=dict, description="Tags added to every AWS resource awsop manages (JSON object)."
    )
    deletion_policy_defaults: dict[str, DeletionPolicy] = Field(
        default_factory=dict,
        description='Per-kind deletionPolicy defaults, e.g. {"Queue": "Retain"} (JSON object).',
    )
    bucket_name_prefix: str = Field(
        "", description="Prefix for default S3 bucket names (S3 names are global)."
    )
    rate_limits: dict[str, float] = Field(
        default_factory=dict,
        description="Hard caps of AWS calls per second per (account, region, service), by service, e.g. "
        '{"s3": 20} (JSON object). The limiter starts each service at AWS\'s published rate and adapts '
        "below the cap by itself (docs/rate-limits.md); 0 = no limit.",
    )
    default_rate_limit: float = Field(
        100.0, ge=0, description="Hard cap (AWS calls per second) of services not in rate_limits."
    )
    aws_retry_mode: Literal["standard", "adaptive", "legacy"] = Field(
        "standard", description="botocore retry mode."
    )
    aws_max_attempts: int = Field(
        3, ge=1, le=10, description="Attempts per AWS call for transient errors (throttling, 5xx, resets)."
    )
    create_window_seconds: float = Field(
        10.0,
        ge=0,
        description="Seconds after AWS created it that an untagged resource of the expected name is taken "
        "for another run's create in flight (CreateInProgress, re-read, never written) before it is a "
        "conflict (AlreadyExists); 0 decides at once.",
    )
    max_backoff_seconds: float = Field(300.0, gt=0, description="Cap of the per-object retry delay.")
    access_denied_backoff_seconds: float = Field(
        600.0, gt=0, description="Delay before retrying after AccessDenied (IAM is fixed outside awsop)."
    )
    log_format: Literal["plain", "full", "json"] = Field("plain", description="kopf log format.")
    metrics_port: int = Field(
        8080, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz; 0 = off."
    )
    metrics_host: str = Field("0.0.0.0", description="Address the metrics/health server binds.")
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces to watch (JSON list); empty = the whole cluster."
    )
    kinds: list[str] = Field(
        default_factory=list,
        description='Kinds to serve (JSON list, e.g. ["Bucket"]); empty = every kind awsop implements.',
    )
    require_account: bool = Field(
        False,
        description="Forbid the operator's own AWS credentials for objects: every object must use an "
        "AWSAccount (spec.accountRef or the namespace annotation awsop.io/account).",
    )
    account_check_seconds: float = Field(
        300.0, gt=0, description="How often each AWSAccount's role is assumed again to report its health."
    )
    tag_policy_status_seconds: float = Field(
        10.0,
        gt=0,
        description="Seconds between refreshes of TagPolicy status (counts, errors) and violation gauges.",
    )
    webhook_port: int = Field(
        0, ge=0, le=65535, description="Port of the validating admission webhook (HTTPS); 0 = no webhook."
    )
    webhook_addr: str = Field("0.0.0.0", description="Address the admission webhook binds.")
    webhook_host: str = Field(
        "",
        description="Host name (or IP) the API server uses to reach the webhook; it is in the certificate.",
    )
    webhook_cert_dir: str = Field(
        "",
        description="Folder with tls.crt, tls.key (and ca.crt) for the webhook; empty = a self-signed CA "
        "generated at start.",
    )
    webhook_managed: bool = Field(
        False,
        description="Let the operator create and update the ValidatingWebhookConfiguration itself (kopf's "
        "managed mode; needs RBAC for it). The Helm chart registers it instead.",
    )
    webhook_failure_policy: Literal["Ignore", "Fail"] = Field(
        "Ignore", description="failurePolicy of the managed ValidatingWebhookConfiguration."
    )
    output_secrets: bool = Field(
        True,
        description="Allow spec.outputs to write Secrets; false where the operator may not touch Secrets "
        "(the chart then grants no Secret access and such outputs report SecretsDisabled).",
    )
    event_drift: bool = Field(
        False,
        description="Event-driven drift: per (account, region) in use, an SQS queue and an EventBridge rule "
        "bring CloudTrail events of out-of-band changes; the changed object is checked at once and the "
        "periodic check lengthens to event_drift_resync_seconds while events arrive (docs/event-drift.md). "
        "For the operator's own credentials, and for AWSAccounts with spec.eventDrift.",
    )
    event_drift_resync_seconds: float = Field(
        3600.0, gt=0, description="Periodic drift-check interval while events arrive (the safety net)."
    )
    event_drift_silence_seconds: float = Field(
        900.0,
        gt=0,
        description="No event for this long (awsop's own heartbeat included): the channel counts as "
        "stopped and the normal resync period applies again.",
    )
    event_drift_heartbeat_seconds: float = Field(
        300.0,
        gt=0,
        description="How often the queue and rule are checked (and put back) and a heartbeat tag is "
        "written on the queue, whose CloudTrail event proves that events arrive.",
    )
    event_drift_wait_seconds: int = Field(
        20, ge=0, le=20, description="Long-polling wait of the event consumer (SQS allows 0-20)."
    )
    peering: str = Field(
        "", description="kopf peering name for high availability (one active replica); empty = standalone."
    )
    shard: str = Field(
        "",
        description="This process's shard: the name of one entry of `shards`; empty = not sharded (this "
        "process serves every object).",
        pattern=r"^([a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?)?$",
    )
    shards: list[ShardSpec] = Field(
        default_factory=list,
        description='Every shard of the installation, in order (JSON list of {"name", "labelSelector"}): '
        "each serves the namespaced objects its label selector matches (the API server filters the "
        "watch); an object matched by several is served by the first of them only; the first shard "
        "writes the status of AWSAccount and TagPolicy objects (docs/sharding.md).",
    )

    @model_validator(mode="after")
    def _shard_is_listed(self) -> Settings:
        names = [s.name for s in self.shards]
        if len(set(names)) != len(names):
            raise ValueError(f"shard names must be unique: {names}")
        if self.shard and self.shard not in names:
            raise ValueError(f"shard {self.shard!r} is not one of the shards {names}")
        if self.shards and not self.shard:
            raise ValueError("shards are listed but this process names none (AWSOP_SHARD)")
        return self

    @property
    def workers(self) -> int:
        """Handler threads (kopf's executor): reconciles in flight at once."""
        return WORKERS

    @property
    def drift_workers(self) -> int:
        """Drift-check threads (the drift scheduler's pool): checks in flight at once."""
        return self.workers + DRIFT_EXTRA_WORKERS

    @property
    def http_pool_size(self) -> int:
        """Connections per HTTP pool (Kubernetes API, each AWS client): one per thread that may call at
        once, i.e. the handler threads plus the drift checks' threads, and room for the few others."""
        return self.workers + 32
