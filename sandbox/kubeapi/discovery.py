"""Discovery (``/api``, ``/apis``, ``/apis/<g>/<v>``, ``/version``) and OpenAPI v3 documents.

kubectl and kopf find resources (plurals, kinds, short names, categories, subresources) only
through discovery, and kubectl decides server-side field validation support and ``kubectl explain``
output from ``/openapi/v3``. Aggregated discovery (apidiscovery.k8s.io/v2) is not served: the
plain documents are answered with ``Content-Type: application/json``, and clients fall back to
legacy discovery, as they do against older servers.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from typing import Any

from .resources import ALL_VERBS, ResourceType
from .store import Store

KUBE_VERSION = {"major": "1", "minor": "37", "gitVersion": "v1.37.0-awsop-sandbox"}
_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_info() -> dict[str, str]:
    return {
        **KUBE_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes version ordering: GA before beta before alpha, higher numbers first."""
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = m.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


def _served_versions(store: Store, group: str) -> list[str]:
    versions = {v.name for rt in store.types.values() if rt.group == group for v in rt.versions if v.served}
    return sorted(versions, key=version_priority)


def _group_doc(store: Store, group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in _served_versions(store, group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_versions(address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_group_list(store: Store) -> dict[str, Any]:
    groups = sorted({rt.group for rt in store.types.values() if rt.group})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_doc(store, g) for g in groups]}


def api_group(store: Store, group: str) -> dict[str, Any] | None:
    if not _served_versions(store, group):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(store, group)}


def _resource_entries(rt: ResourceType, version: str) -> list[dict[str, Any]]:
    info = rt.version(version)
    hashed = hashlib.sha256(f"{rt.group}/{rt.storage_version}/{rt.kind}".encode()).digest()[:8]
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": ALL_VERBS,
        "storageVersionHash": base64.b64encode(hashed).decode(),
    }
    if rt.short_names:
        entry["shortNames"] = rt.short_names
    if rt.categories:
        entry["categories"] = rt.categories
    entries = [entry]
    if info is not None and info.status_subresource:
        entries.append(
            {
                "name": f"{rt.plural}/status",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    return entries


def resource_list(store: Store, group: str, version: str) -> dict[str, Any] | None:
    types = [rt for rt in store.types.values() if rt.group == group and rt.version(version) is not None]
    if not types:
        return None
    resources = [e for rt in sorted(types, key=lambda t: t.plural) for e in _resource_entries(rt, version)]
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


# --------------------------------------------------------------------------------------------- OpenAPI v3

_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "description": "ObjectMeta is metadata that all persisted resources must have.",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "generateName": {"type": "string", "description": "Prefix for a server-generated name."},
        "namespace": {"type": "string", "description": "Namespace of the object."},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Labels."},
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Annotations.",
        },
        "finalizers": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Finalizers.",
            "x-kubernetes-patch-strategy": "merge",
        },
        "ownerReferences": {
            "type": "array",
            "description": "Owners.",
            "x-kubernetes-patch-merge-key": "uid",
            "x-kubernetes-patch-strategy": "merge",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "uid": {"type": "string", "description": "UID."},
        "resourceVersion": {"type": "string", "description": "Opaque version for optimistic concurrency."},
        "generation": {
            "type": "integer",
            "format": "int64",
            "description": "Generation of the desired state.",
        },
        "creationTimestamp": {"type": "string", "format": "date-time", "description": "Creation time."},
        "deletionTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "Deletion request time.",
        },
    },
}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_BUILTIN_SCHEMAS: dict[str, dict[str, Any]] = {
    "Namespace": {
        "spec": {
            "type": "object",
            "properties": {"finalizers": {"type": "array", "items": {"type": "string"}}},
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
    "ConfigMap": {
        "data": _STRING_MAP,
        "binaryData": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
        "immutable": {"type": "boolean"},
    },
    "Secret": {
        "data": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
        "stringData": _STRING_MAP,
        "type": {"type": "string"},
        "immutable": {"type": "boolean"},
    },
    "Event": {
        name: {"type": "string"}
        for name in (
            "reason",
            "message",
            "type",
            "action",
            "reportingComponent",
            "reportingInstance",
            "firstTimestamp",
            "lastTimestamp",
        )
    }
    | {
        "count": {"type": "integer"},
        "involvedObject": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "source": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
    "Deployment": {
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
    "CustomResourceDefinition": {
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def _schema_name(rt: ResourceType, version: str) -> str:
    if rt.group == "":
        return f"io.k8s.api.core.{version}.{rt.kind}"
    if rt.group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{rt.kind}"
    return ".".join(reversed(rt.group.split("."))) + f".{version}.{rt.kind}"


def _kind_schema(rt: ResourceType, version: str) -> dict[str, Any]:
    info = rt.version(version)
    if rt.custom and info is not None and info.schema:
        schema = copy.deepcopy(info.schema)
    else:
        schema = {"type": "object", "properties": copy.deepcopy(_BUILTIN_SCHEMAS.get(rt.kind, {}))}
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this object.",
    }
    props["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource.",
    }
    props["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{_META_REF}"}],
        "description": "Standard object's metadata.",
    }
    schema["x-kubernetes-group-version-kind"] = [{"group": rt.group, "kind": rt.kind, "version": version}]
    return schema


_WRITE_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
    for name in ("dryRun", "fieldManager", "fieldValidation")
]


def _paths(rt: ResourceType, version: str, prefix: str) -> dict[str, Any]:
    gvk = {"group": rt.group, "kind": rt.kind, "version": version}
    ref = {"$ref": f"#/components/schemas/{_schema_name(rt, version)}"}
    body = {"content": {"application/json": {"schema": ref}}}
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}

    def op(action: str, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "responses": ok,
            "parameters": params or [],
            "operationId": f"{action}{rt.kind}",
        }

    base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
    item = {
        "get": op("get"),
        "put": op("put", _WRITE_PARAMS) | {"requestBody": body},
        "patch": op(
            "patch", [*_WRITE_PARAMS, {"name": "force", "in": "query", "schema": {"type": "boolean"}}]
        )
        | {"requestBody": {"content": {"application/merge-patch+json": {"schema": {"type": "object"}}}}},
        "delete": op("delete"),
    }
    paths = {
        base: {"get": op("list"), "post": op("post", _WRITE_PARAMS) | {"requestBody": body}},
        f"{base}/{{name}}": item,
    }
    info = rt.version(version)
    if info is not None and info.status_subresource:
        paths[f"{base}/{{name}}/status"] = copy.deepcopy(item)
    return paths


def openapi_doc(store: Store, group: str, version: str) -> dict[str, Any] | None:
    types = [rt for rt in store.types.values() if rt.group == group and rt.version(version) is not None]
    if not types:
        return None
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    schemas: dict[str, Any] = {_META_REF: _OBJECT_META}
    paths: dict[str, Any] = {}
    for rt in types:
        schemas[_schema_name(rt, version)] = _kind_schema(rt, version)
        paths.update(_paths(rt, version, prefix))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (awsop sandbox)", "version": KUBE_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _doc_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()


def openapi_index(store: Store) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    group_versions = {(rt.group, v.name) for rt in store.types.values() for v in rt.versions if v.served}
    for group, version in sorted(group_versions):
        doc = openapi_doc(store, group, version)
        if doc is None:
            continue
        key = f"apis/{group}/{version}" if group else f"api/{version}"
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_doc_hash(doc)}"}
    return {"paths": paths}
