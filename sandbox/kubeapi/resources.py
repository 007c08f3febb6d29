"""Resource types: what the server serves, for built-ins and for CustomResourceDefinitions.

Discovery, routing, validation and tables all need the same facts about a resource (plural, kind,
scope, versions, schema, status subresource, printer columns), so they live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class VersionInfo:
    """One served version of a resource (for CRs: one entry of ``spec.versions``)."""

    name: str
    served: bool = True
    storage: bool = False
    schema: dict[str, Any] | None = None  # openAPIV3Schema; None for built-ins
    status_subresource: bool = False
    printer_columns: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ResourceType:
    """A served resource, e.g. ``buckets.s3.awsop.io`` or core ``configmaps``."""

    group: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    versions: list[VersionInfo]
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    custom: bool = False  # a CustomResourceDefinition-backed resource
    list_kind: str = ""

    def __post_init__(self) -> None:
        self.list_kind = self.list_kind or f"{self.kind}List"

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """``buckets.s3.awsop.io`` — how the real server names the resource in NotFound messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_kind(self) -> str:
        """``Bucket.s3.awsop.io`` — how the real server names the kind in Invalid messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def storage_version(self) -> str:
        for v in self.versions:
            if v.storage:
                return v.name
        return self.versions[0].name

    def version(self, name: str) -> VersionInfo | None:
        for v in self.versions:
            if v.name == name and v.served:
                return v
        return None

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def has_status(self) -> bool:
        return any(v.status_subresource for v in self.versions)

    @property
    def tracks_generation(self) -> bool:
        """CRs and CRDs carry ``metadata.generation``; core configmaps/secrets/namespaces/events do not."""
        return self.custom or self.kind == "CustomResourceDefinition"


def _core(
    plural: str, singular: str, kind: str, namespaced: bool, short: list[str], status: bool = False
) -> ResourceType:
    return ResourceType(
        group="",
        plural=plural,
        singular=singular,
        kind=kind,
        namespaced=namespaced,
        versions=[VersionInfo("v1", storage=True, status_subresource=status)],
        short_names=short,
    )


def builtin_types() -> list[ResourceType]:
    """The built-in resources the sandbox serves (what kubectl, kopf and the operator use)."""
    crd = ResourceType(
        group="apiextensions.k8s.io",
        plural="customresourcedefinitions",
        singular="customresourcedefinition",
        kind="CustomResourceDefinition",
        namespaced=False,
        versions=[VersionInfo("v1", storage=True, status_subresource=True)],
        short_names=["crd", "crds"],
        categories=["api-extensions"],
    )
    webhooks = ResourceType(
        group="admissionregistration.k8s.io",
        plural="validatingwebhookconfigurations",
        singular="validatingwebhookconfiguration",
        kind="ValidatingWebhookConfiguration",
        namespaced=False,
        versions=[VersionInfo("v1", storage=True)],
        categories=["api-extensions"],
    )
    # Deployments are stored, never run (no controllers): the examples hold workloads that read awsop's
    # outputs, and `kubectl apply -f examples/` must work on the sandbox as on a cluster.
    deployments = ResourceType(
        group="apps",
        plural="deployments",
        singular="deployment",
        kind="Deployment",
        namespaced=True,
        versions=[VersionInfo("v1", storage=True, status_subresource=True)],
        short_names=["deploy"],
        categories=["all"],
    )
    return [
        _core("namespaces", "namespace", "Namespace", False, ["ns"], status=True),
        _core("configmaps", "configmap", "ConfigMap", True, ["cm"]),
        _core("secrets", "secret", "Secret", True, []),
        _core("events", "event", "Event", True, ["ev"]),
        crd,
        webhooks,
        deployments,
    ]


def type_from_crd(crd: dict[str, Any]) -> ResourceType:
    """Build the served resource from a (validated) CustomResourceDefinition."""
    spec = crd["spec"]
    names = spec["names"]
    versions = []
    for v in spec.get("versions", []):
        versions.append(
            VersionInfo(
                name=v["name"],
                served=bool(v.get("served", True)),
                storage=bool(v.get("storage", False)),
                schema=(v.get("schema") or {}).get("openAPIV3Schema"),
                status_subresource="status" in (v.get("subresources") or {}),
                printer_columns=list(v.get("additionalPrinterColumns") or []),
            )
        )
    return ResourceType(
        group=spec["group"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        versions=versions,
        short_names=list(names.get("shortNames") or []),
        categories=list(names.get("categories") or []),
        custom=True,
        list_kind=names.get("listKind") or "",
    )
