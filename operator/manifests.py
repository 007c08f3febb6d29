"""Reads awsop manifests from files and folders (multi-document YAML) for the CLI.

Objects of other kinds (Namespaces, ConfigMaps, ...) are skipped, so a folder of mixed manifests can be
planned as it is. A document that claims one of awsop's API groups is never skipped: without a known
`kind` it is an error. Every invalid awsop object is reported in one run, one line per problem, with the
file and document index, the object and pydantic's field path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from awsop.reconcilers.account import AWSAccountSpec
from awsop.reconcilers.engine import ObjectRef
from awsop.reconcilers.kinds import CONFIG_KINDS, KINDS, KindInfo, by_api_version, config_by_api_version
from awsop.reconcilers.model import AwsObjectSpec
from awsop.reconcilers.tag_policy import NamedPolicy, TagPolicySpec


@dataclass(frozen=True)
class Manifest:
    source: str
    info: KindInfo
    ref: ObjectRef
    spec: AwsObjectSpec
    annotations: dict[str, str]


class ManifestError(Exception):
    """One or more invalid documents; `problems` holds one line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


AWSOP_GROUP_SUFFIX = "awsop.io"


def _is_ours(api_version: str) -> bool:
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group == AWSOP_GROUP_SUFFIX or group.endswith("." + AWSOP_GROUP_SUFFIX)


def _files(paths: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json")))
        elif path.exists():
            out.append(path)
        else:
            raise ManifestError(f"{raw}: no such file or directory")
    return out


def format_validation_error(exc: ValidationError, prefix: str = "spec") -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p not in ("function-after",))
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{prefix}.{loc}: {msg}" if loc else f"{prefix}: {msg}")
    return "; ".join(parts)


def parse_object(doc: dict[str, Any], source: str = "<object>") -> Manifest | None:
    """One awsop manifest, or None for other kinds. Raises ManifestError (every problem of the object)
    for an invalid awsop object."""
    kind, api_version = doc.get("kind") or "", str(doc.get("apiVersion") or "")
    info = by_api_version(api_version, kind)
    if info is None:
        if kind in KINDS:
            raise ManifestError(
                f"{source}: {kind} must have apiVersion {KINDS[kind].api_version}, not {api_version}"
            )
        config = CONFIG_KINDS.get(kind)
        if config is not None and config.api_version == api_version:
            return None  # a configuration kind (AWSAccount): read by load_accounts, not an AWS object
        if _is_ours(api_version):
            same_group = [i for i in KINDS.values() if i.api_version == api_version] or list(KINDS.values())
            known = ", ".join(f"{i.kind} ({i.api_version})" for i in same_group)
            what = f"kind {kind!r} is not an awsop kind" if kind else "no kind"
            raise ManifestError(f"{source}: apiVersion {api_version} with {what}; known kinds: {known}")
        return None
    meta = doc.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise ManifestError(f"{source}: {kind} without metadata.name")
    namespace = meta.get("namespace") or "default"
    try:
        spec = info.spec_model.model_validate(doc.get("spec") or {})
    except ValidationError as exc:
        problems = [
            f"{source}: {kind} {namespace}/{name}: {part}"
            for part in format_validation_error(exc).split("; ")
        ]
        raise ManifestError("\n".join(problems), problems) from None
    ref = ObjectRef(kind, namespace, name, int(meta.get("generation", 1) or 1))
    return Manifest(source, info, ref, spec, dict(meta.get("annotations") or {}))


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it (about 8x less CPU for a large manifest set), else PyYAML's."""


def _parse(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_LOADER))  # a safe loader either way


def load(paths: Iterable[str]) -> list[Manifest]:
    """Every awsop object under `paths`, in file order. Raises one ManifestError naming every invalid
    document (not just the first)."""
    manifests = []
    problems: list[str] = []
    for path in _files(paths):
        try:
            docs = _parse(path.read_text())
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        for index, doc in enumerate(docs):
            if not isinstance(doc, dict):
                continue
            items = doc.get("items") if str(doc.get("kind") or "").endswith("List") else [doc]
            for item in items or []:
                if not isinstance(item, dict):
                    continue
                try:
                    parsed = parse_object(item, f"{path}#{index}")
                except ManifestError as exc:
                    problems.extend(exc.problems)
                    continue
                if parsed is not None:
                    manifests.append(parsed)
    if len(problems) == 1:
        raise ManifestError(problems[0], problems)
    if problems:
        raise ManifestError(f"{len(problems)} problems:\n" + "\n".join(problems), problems)
    return manifests


def _documents(paths: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for path in _files(paths):
        try:
            docs = _parse(path.read_text())
        except yaml.YAMLError as exc:
            raise ManifestError(f"{path}: not valid YAML: {exc}") from None
        for index, doc in enumerate(docs):
            if not isinstance(doc, dict):
                continue
            items = doc.get("items") if str(doc.get("kind") or "").endswith("List") else [doc]
            out.extend((f"{path}#{index}", item) for item in items or [] if isinstance(item, dict))
    return out


@dataclass
class AccountManifests:
    """The AWSAccount objects and Namespaces (labels, annotations) among the manifests."""

    accounts: dict[str, AWSAccountSpec]
    namespaces: dict[str, tuple[dict[str, str], dict[str, str]]]


def load_accounts(paths: Iterable[str]) -> AccountManifests:
    """AWSAccounts and Namespaces under `paths`; an invalid AWSAccount is a ManifestError."""
    found = AccountManifests({}, {})
    for source, item in _documents(paths):
        meta = item.get("metadata") or {}
        if item.get("kind") == "Namespace" and item.get("apiVersion") == "v1" and meta.get("name"):
            found.namespaces[meta["name"]] = (
                {str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
                {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
            )
        elif item.get("kind") == "AWSAccount" and item.get("apiVersion") == "awsop.io/v1alpha1":
            if not meta.get("name"):
                raise ManifestError(f"{source}: AWSAccount without metadata.name")
            try:
                found.accounts[meta["name"]] = AWSAccountSpec.model_validate(item.get("spec") or {})
            except ValidationError as exc:
                raise ManifestError(
                    f"{source}: AWSAccount {meta['name']}: {format_validation_error(exc)}"
                ) from None
    return found


@dataclass
class PolicyInputs:
    """What the CLI needs to judge objects against tag policies: the policies and namespace labels."""

    policies: list[NamedPolicy]
    namespace_labels: dict[str, dict[str, str]]


def parse_tag_policy(doc: dict[str, Any], source: str = "<object>") -> NamedPolicy:
    """A TagPolicy document; raises ManifestError naming the field when it is invalid."""
    name = (doc.get("metadata") or {}).get("name")
    if not name:
        raise ManifestError(f"{source}: TagPolicy without metadata.name")
    try:
        spec = TagPolicySpec.model_validate(doc.get("spec") or {})
    except ValidationError as exc:
        raise ManifestError(f"{source}: TagPolicy {name}: {format_validation_error(exc)}") from None
    return NamedPolicy(str(name), spec)


def load_policy_inputs(paths: Iterable[str]) -> PolicyInputs:
    """Every TagPolicy and every Namespace's labels under `paths` (other documents are skipped)."""
    inputs = PolicyInputs([], {})
    seen: dict[str, str] = {}
    for source, item in _documents(paths):
        kind = item.get("kind", "")
        if kind == "Namespace" and item.get("apiVersion") == "v1":
            meta = item.get("metadata") or {}
            labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
            inputs.namespace_labels.setdefault(str(meta.get("name", "")), {}).update(labels)
        elif kind == "TagPolicy":
            if config_by_api_version(str(item.get("apiVersion", "")), kind) is None:
                raise ManifestError(
                    f"{source}: TagPolicy must have apiVersion {CONFIG_KINDS[kind].api_version}, "
                    f"not {item.get('apiVersion')}"
                )
            policy = parse_tag_policy(item, source)
            if policy.name in seen:
                raise ManifestError(
                    f"{source}: TagPolicy {policy.name} is also defined in {seen[policy.name]}"
                )
            seen[policy.name] = source
            inputs.policies.append(policy)
    return inputs


def parse_namespace_labels(values: Iterable[str]) -> dict[str, dict[str, str]]:
    """`ns=key=value` flags -> {ns: {key: value}}."""
    out: dict[str, dict[str, str]] = {}
    for raw in values:
        namespace, _, label = raw.partition("=")
        key, sep, value = label.partition("=")
        if not namespace or not key or not sep:
            raise ManifestError(f"--namespace-labels {raw!r}: expected NAMESPACE=KEY=VALUE")
        out.setdefault(namespace, {})[key] = value
    return out
