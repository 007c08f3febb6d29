"""A Kubernetes API server for tests and demos — a sandbox, never a production API server.

It runs inside a test process (aiohttp on 127.0.0.1, plain HTTP, no authentication, no
persistence, no admission webhooks, no controllers besides namespace/CRD/garbage-collection
basics) and is faithful to what real clients use: discovery, CustomResourceDefinitions with
structural-schema validation, pruning, defaulting and CEL rules, the status subresource,
finalizers, resourceVersion concurrency, lists, watches with bookmarks and 410 Gone, selectors,
JSON/merge/strategic-merge patches and Table output for ``kubectl get``. It is enough for kubectl
1.37, kopf 1.45 and the kubernetes python client. See ``docs/sandbox.md`` for the known gaps.

    with KubeAPIServer() as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # kubectl --kubeconfig ..., kopf run --standalone -A ..., kubernetes client

Or as a process: ``python -P -m awsop.sandbox.kubeapi --port 8001 --kubeconfig ./kubeconfig``.
"""

from .api import Api, WriteOptions
from .server import KubeAPIServer, write_kubeconfig
from .store import Store

__all__ = ["Api", "KubeAPIServer", "Store", "WriteOptions", "write_kubeconfig"]
