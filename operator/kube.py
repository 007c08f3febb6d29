"""The few direct Kubernetes API writes that cannot wait for kopf's end-of-handler patch.

Used to record the create-pending annotation before a create call, so a crash between creating an AWS
resource and tagging it is recognised on the next reconcile (leak safety).
"""

from __future__ import annotations

import threading
from typing import Any

from awsop.reconcilers.kinds import VERSION, KindInfo

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


def annotate(info: KindInfo, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
    body = {"metadata": {"annotations": annotations}}
    api = _custom_objects()
    if info.scope == "Namespaced":
        api.patch_namespaced_custom_object(info.group, VERSION, namespace, info.plural, name, body)
    else:
        api.patch_cluster_custom_object(info.group, VERSION, info.plural, name, body)
