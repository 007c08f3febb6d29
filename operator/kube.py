"""The few direct Kubernetes API writes that cannot wait for kopf's end-of-handler patch.

Used to record the create-pending annotation before a create call, so a crash between creating an AWS
resource and tagging it is recognised on the next reconcile (leak safety), to read the objects a spec
refers to (one GET per reference), to find the objects that still refer to one being deleted, and to
nudge a referring object when its target becomes Ready or changes its ARN.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from awsop.reconcilers.kinds import VERSION, ConfigKindInfo, KindInfo

_lock = threading.Lock()
_api: Any = None


def _custom_objects() -> Any:
    global _api
    with _lock:
        if _api is None:
            from kubernetes import client, config

            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
            except config.ConfigException:
                config.load_kube_config()  # type: ignore[no-untyped-call]
            _api = client.CustomObjectsApi()
        return _api


def annotate(
    info: KindInfo | ConfigKindInfo, namespace: str, name: str, annotations: dict[str, str | None]
) -> None:
    body = {"metadata": {"annotations": annotations}}
    api = _custom_objects()
    if info.scope == "Namespaced":
        api.patch_namespaced_custom_object(info.group, VERSION, namespace, info.plural, name, body)
    else:
        api.patch_cluster_custom_object(info.group, VERSION, info.plural, name, body)


def patch(info: KindInfo | ConfigKindInfo, namespace: str, name: str, body: dict[str, Any]) -> None:
    """Apply a kopf-style patch ({"status": ..., "metadata": ...}) outside a kopf handler: the status
    part through the /status subresource, the rest to the object (JSON merge patch both)."""
    api = _custom_objects()
    rest = {k: v for k, v in body.items() if k != "status"}
    if "status" in body:
        if info.scope == "Namespaced":
            api.patch_namespaced_custom_object_status(
                info.group, VERSION, namespace, info.plural, name, {"status": body["status"]}
            )
        else:
            api.patch_cluster_custom_object_status(
                info.group, VERSION, info.plural, name, {"status": body["status"]}
            )
    if rest:
        if info.scope == "Namespaced":
            api.patch_namespaced_custom_object(info.group, VERSION, namespace, info.plural, name, rest)
        else:
            api.patch_cluster_custom_object(info.group, VERSION, info.plural, name, rest)


def get(info: KindInfo | ConfigKindInfo, namespace: str, name: str) -> dict[str, Any] | None:
    """One object of `info`'s kind, or None when it does not exist (references resolve through this)."""
    from kubernetes.client.exceptions import ApiException

    api = _custom_objects()
    try:
        if info.scope == "Namespaced":
            body = api.get_namespaced_custom_object(info.group, VERSION, namespace, info.plural, name)
        else:
            body = api.get_cluster_custom_object(info.group, VERSION, info.plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(body)


def list_objects(info: KindInfo, namespace: str) -> list[dict[str, Any]]:
    """Every object of `info`'s kind in `namespace` (a deletion looks for objects that still refer to it)."""
    api = _custom_objects()
    answer = api.list_namespaced_custom_object(info.group, VERSION, namespace, info.plural)
    return [dict(item) for item in answer.get("items", [])]


def read_namespace(name: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """A namespace's (labels, annotations); None when it does not exist."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    _custom_objects()  # loads the configuration once
    try:
        ns = client.CoreV1Api().read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    meta = ns.metadata
    if meta is None:
        return {}, {}
    return dict(meta.labels or {}), dict(meta.annotations or {})


def read_cluster_object(info: ConfigKindInfo) -> Callable[[str], dict[str, Any] | None]:
    """A reader of one cluster-scoped awsop object by name (None when it does not exist)."""
    return lambda name: get(info, "", name)
