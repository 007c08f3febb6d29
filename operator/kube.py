"""The few direct Kubernetes API calls that cannot wait for kopf's end-of-handler patch.

Used to record the create-pending annotation before a create call, so a crash between creating an AWS
resource and tagging it is recognised on the next reconcile (leak safety); to write an object's status
while the handler still holds the object's lock (so no older result lands after a newer one); to tell
whether a namespace is being deleted (Events posted there are refused); to read the objects a spec refers
to (one GET per reference), to find the objects that still refer to one being deleted, and to nudge a
referring object when its target becomes Ready or changes its ARN; and to post Events (operator/events.py).

Every write names the field manager `awsop` (and the client identifies itself as awsop), so managedFields
show which fields awsop owns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from awsop.reconcilers.kinds import VERSION, ConfigKindInfo, KindInfo

_lock = threading.Lock()
_clients: dict[str, Any] = {}
FIELD_MANAGER = "awsop"
USER_AGENT = f"{FIELD_MANAGER}/kubernetes-client"  # the API server's default manager: the part before "/"
POOL_SIZE = 10  # HTTP connections kept per API client: set to the operator's concurrency by `configure`


def configure(pool_size: int) -> None:
    """Size the HTTP connection pool to the number of threads that call the API at once (below that,
    urllib3 logs 'Connection pool is full' and opens throwaway connections)."""
    global POOL_SIZE
    with _lock:
        POOL_SIZE = pool_size
        _clients.clear()


def _api(name: str) -> Any:
    with _lock:
        if name not in _clients:
            from kubernetes import client, config

            configuration = client.Configuration()
            try:
                config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            except config.ConfigException:
                config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            configuration.connection_pool_maxsize = POOL_SIZE
            api_client = client.ApiClient(configuration)
            api_client.user_agent = USER_AGENT
            _clients["custom"] = client.CustomObjectsApi(api_client)
            _clients["core"] = client.CoreV1Api(api_client)
        return _clients[name]


def warm() -> None:
    """Build the API clients now (importing the Kubernetes client takes seconds of CPU), not in the first
    handler that needs one while the others wait for the lock."""
    _api("custom")


def _custom_objects() -> Any:
    return _api("custom")


class NamespacePhases:
    """Whether a namespace is being deleted (or gone), asked of the API server (a list by name: the
    operator may list namespaces, not get them) and remembered for a few seconds. Unknown (no
    permission, API down) counts as not terminating: an Event is then attempted as before."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._known: dict[str, tuple[bool, float]] = {}

    def terminating(self, namespace: str) -> bool:
        now = time.monotonic()
        with self._lock:
            known = self._known.get(namespace)
        if known is not None and now - known[1] < self.ttl:
            return known[0]
        try:
            items = _api("core").list_namespace(field_selector=f"metadata.name={namespace}").items
            answer = not items or (  # gone already: Events there are refused too (404)
                items[0].status.phase == "Terminating" or items[0].metadata.deletion_timestamp is not None
            )
        except Exception:  # no permission or no answer: post the Event and let the API server decide
            answer = False
        with self._lock:
            self._known[namespace] = (answer, now)
        return answer

    def cached(self, namespace: str) -> bool:
        """The last answer, without asking (for logging filters, which must not block on the network)."""
        with self._lock:
            known = self._known.get(namespace)
        return known is not None and known[0] and time.monotonic() - known[1] < self.ttl * 12


def annotate(
    info: KindInfo | ConfigKindInfo, namespace: str, name: str, annotations: dict[str, str | None]
) -> None:
    body = {"metadata": {"annotations": annotations}}
    api = _custom_objects()
    if info.scope == "Namespaced":
        api.patch_namespaced_custom_object(
            info.group, VERSION, namespace, info.plural, name, body, field_manager=FIELD_MANAGER
        )
    else:
        api.patch_cluster_custom_object(
            info.group, VERSION, info.plural, name, body, field_manager=FIELD_MANAGER
        )


def patch(info: KindInfo | ConfigKindInfo, namespace: str, name: str, body: dict[str, Any]) -> None:
    """Apply a kopf-style patch ({"status": ..., "metadata": ...}) outside a kopf handler: the object's
    part first, then the status through the /status subresource (JSON merge patch both). In that order a
    reader that sees the status never sees metadata the same patch removed (the create-pending marker
    goes with the status that records the create; an admission webhook on the object can make the
    object's write the slower of the two)."""
    api = _custom_objects()
    rest = {k: v for k, v in body.items() if k != "status"}
    if rest:
        if info.scope == "Namespaced":
            api.patch_namespaced_custom_object(
                info.group, VERSION, namespace, info.plural, name, rest, field_manager=FIELD_MANAGER
            )
        else:
            api.patch_cluster_custom_object(
                info.group, VERSION, info.plural, name, rest, field_manager=FIELD_MANAGER
            )
    if "status" in body:
        if info.scope == "Namespaced":
            api.patch_namespaced_custom_object_status(
                info.group,
                VERSION,
                namespace,
                info.plural,
                name,
                {"status": body["status"]},
                field_manager=FIELD_MANAGER,
            )
        else:
            api.patch_cluster_custom_object_status(
                info.group,
                VERSION,
                info.plural,
                name,
                {"status": body["status"]},
                field_manager=FIELD_MANAGER,
            )


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


def list_cluster_objects(info: KindInfo) -> list[dict[str, Any]]:
    """Every object of `info`'s kind in every namespace (who still uses an AWSAccount being deleted)."""
    answer = _custom_objects().list_cluster_custom_object(info.group, VERSION, info.plural)
    return [dict(item) for item in answer.get("items", [])]


def list_page(
    info: KindInfo, namespace: str, token: str, limit: int = 500
) -> tuple[list[dict[str, Any]], str]:
    """One page of `info`'s objects (in `namespace`, or the whole cluster when ""), from `token` on: the
    items and the token of the next page ("" at the end)."""
    api = _custom_objects()
    more = {"limit": limit, "_continue": token} if token else {"limit": limit}
    if namespace:
        answer = api.list_namespaced_custom_object(info.group, VERSION, namespace, info.plural, **more)
    else:
        answer = api.list_cluster_custom_object(info.group, VERSION, info.plural, **more)
    return [dict(item) for item in answer.get("items", [])], str(
        (answer.get("metadata") or {}).get("continue") or ""
    )


def read_namespace(name: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """A namespace's (labels, annotations); None when it does not exist."""
    from kubernetes.client.exceptions import ApiException

    try:
        ns = _api("core").read_namespace(name)
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


def create_event(namespace: str, event: dict[str, Any]) -> None:
    """Create one core/v1 Event."""
    _api("core").create_namespaced_event(namespace, event, field_manager=FIELD_MANAGER)


def patch_event(namespace: str, name: str, patch: dict[str, Any]) -> bool:
    """Patch an Event (a repeat's count and lastTimestamp); False when it no longer exists."""
    from kubernetes.client.exceptions import ApiException

    try:
        _api("core").patch_namespaced_event(
            name,
            namespace,
            patch,
            field_manager=FIELD_MANAGER,
            _content_type="application/merge-patch+json",
        )
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True
