"""The output catalogue: the values applications need from each kind (a queue's URL, a table's stream ARN),
how each is computed from the object's status, and the key each gets by default.

One catalogue, keyed by kind, serves every reader: the spec validation (unknown output names are refused),
the CRD generator (the enum and `kubectl explain` text), the operator (what it writes into ConfigMaps and
Secrets) and the CLI (`awsop outputs`, `awsop apply -o env`). A value is always derived from status, the
observation of AWS, never from the spec. This module is pure: it never talks to AWS or Kubernetes and
imports nothing from the rest of awsop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

CONFIG_MAP_KEY = r"^[-._a-zA-Z0-9]+$"
"""Kubernetes' rule for ConfigMap and Secret keys (IsConfigMapKey), with at most 253 characters and
neither `.` nor `..` nor a `..` prefix."""
MAX_KEY_LENGTH = 253
MAX_OUTPUTS = 8
"""Targets one object may write (bounds the list for the CRD's CEL cost)."""
MAX_VALUES = 32
"""Keys one target of one object may hold."""

Status = Mapping[str, Any]


@dataclass(frozen=True)
class OutputDef:
    """One output of a kind: its name in `spec.outputs[].values`, what it is, and how status gives it."""

    name: str
    description: str
    compute: Callable[[Status], Any]

    def value(self, status: Status) -> str | None:
        """The value as text, or None when status does not have it (yet, or at all: a table without a
        stream has no streamArn)."""
        raw = self.compute(status)
        if raw is None or raw == "":
            return None
        return str(raw)


def _field(key: str) -> Callable[[Status], Any]:
    return lambda status: status.get(key)


def _dns_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def _bucket_domain(status: Status) -> str | None:
    name, region = status.get("awsName"), status.get("region")
    return f"{name}.s3.{_dns_suffix(str(region or ''))}" if name else None


def _bucket_regional_domain(status: Status) -> str | None:
    name, region = status.get("awsName"), status.get("region")
    return f"{name}.s3.{region}.{_dns_suffix(str(region))}" if name and region else None


_NAME = OutputDef("name", "the AWS name", _field("awsName"))
_ARN = OutputDef("arn", "the ARN", _field("arn"))
_REGION = OutputDef("region", "the AWS region", _field("region"))

CATALOGUE: dict[str, tuple[OutputDef, ...]] = {
    "Bucket": (
        OutputDef("name", "the bucket name", _field("awsName")),
        _ARN,
        _REGION,
        OutputDef("domainName", "<name>.s3.amazonaws.com", _bucket_domain),
        OutputDef("regionalDomainName", "<name>.s3.<region>.amazonaws.com", _bucket_regional_domain),
    ),
    "Queue": (
        OutputDef("url", "the queue URL, which changes when the queue is recreated", _field("url")),
        _ARN,
        OutputDef("name", "the queue name", _field("awsName")),
        _REGION,
    ),
    "Table": (
        OutputDef("name", "the table name", _field("awsName")),
        _ARN,
        OutputDef(
            "streamArn", "the latest stream's ARN, no value while streams are off", _field("streamArn")
        ),
        _REGION,
    ),
    "LaunchTemplate": (
        OutputDef("id", "the launch template id, lt-...", _field("id")),
        OutputDef("name", "the launch template name", _field("awsName")),
        OutputDef("defaultVersion", "the default version number", _field("defaultVersion")),
        OutputDef("latestVersion", "the highest version number", _field("latestVersion")),
        _ARN,
        _REGION,
    ),
    "AutoScalingGroup": (
        OutputDef("name", "the group name", _field("awsName")),
        _ARN,
        _REGION,
    ),
}


def kind_of_spec(spec_class: type) -> str:
    """The kind a spec model belongs to, by the naming rule every kind follows (`QueueSpec` -> `Queue`)."""
    return spec_class.__name__.removesuffix("Spec")


def output_names(kind: str) -> list[str]:
    """The output names of `kind`, in catalogue order (empty for a kind without outputs)."""
    return [o.name for o in CATALOGUE.get(kind, ())]


def _screaming(text: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).upper()


def default_key(kind: str, output: str) -> str:
    """The key an output gets when `values` is omitted: `QUEUE_URL`, `TABLE_STREAM_ARN`,
    `LAUNCH_TEMPLATE_DEFAULT_VERSION` (usable as environment variables through `envFrom`)."""
    return f"{_screaming(kind)}_{_screaming(output)}"


def default_values(kind: str) -> dict[str, str]:
    """Key -> output name for every output of `kind`, under the default keys."""
    return {default_key(kind, name): name for name in output_names(kind)}


def describe(kind: str) -> str:
    """One line per output, for the CRD's descriptions (`kubectl explain <kind>.spec.outputs`)."""
    return "; ".join(
        f"{o.name}: {o.description}, default key {default_key(kind, o.name)}" for o in CATALOGUE.get(kind, ())
    )


def key_problem(key: str) -> str | None:
    """Why `key` cannot be a ConfigMap or Secret key, or None when it can."""
    if len(key) > MAX_KEY_LENGTH:
        return f"key {key[:40]}... is longer than {MAX_KEY_LENGTH} characters"
    if not re.match(CONFIG_MAP_KEY, key):
        return f"key {key!r} may only contain letters, digits, '-', '_' and '.'"
    if key in (".", "..") or key.startswith(".."):
        return f"key {key!r} may not be '.' or '..' nor start with '..'"
    return None


def values_of(kind: str, values: Mapping[str, str] | None, status: Status) -> dict[str, str | None]:
    """Key -> value for one output target: `values` (key -> output name) or, when omitted, every output
    under its default key. A value status does not have (yet) is None."""
    known = {o.name: o for o in CATALOGUE.get(kind, ())}
    wanted = dict(values) if values is not None else default_values(kind)
    return {key: known[name].value(status) if name in known else None for key, name in wanted.items()}


@dataclass(frozen=True)
class ObjectOutputs:
    """One object's declared outputs and its status, as the CLI holds them."""

    label: str  # e.g. "Queue default/orders", for messages
    kind: str
    values: tuple[Mapping[str, str] | None, ...]  # one entry per spec.outputs target
    status: Status


def env_lines(objects: list[ObjectOutputs]) -> tuple[list[str], list[str]]:
    """`KEY=value` lines for every declared output, in manifest order (each key once), and the problems:
    a value status does not have (the resource does not exist yet), or one key given two values."""
    lines: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    for obj in objects:
        for values in obj.values:
            for key, value in values_of(obj.kind, values, obj.status).items():
                name = (values or default_values(obj.kind))[key]
                if value is None:
                    problems.append(f"{obj.label}: {key} ({name}) has no value (does the resource exist?)")
                    continue
                first = lines.setdefault(key, (value, obj.label))
                if first[0] != value:
                    problems.append(f"{key}: {first[1]} gives {first[0]!r}, {obj.label} gives {value!r}")
    return [f"{key}={value}" for key, (value, _) in lines.items()], problems
