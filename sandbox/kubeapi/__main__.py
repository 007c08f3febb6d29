"""Run the sandbox API server as a process: ``python -P -m awsop.sandbox.kubeapi --port N --kubeconfig PATH``.

Prints the URL, optionally preloads manifests (CRDs first), and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .server import KubeAPIServer


def _manifests(paths: list[str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw)
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
            if path.is_dir()
            else [path]
        )
        for file in files:
            docs.extend(d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict))
    return sorted(docs, key=lambda d: d.get("kind") != "CustomResourceDefinition")


def _create(url: str, doc: dict[str, Any]) -> None:
    """POST one manifest (plural guessed from discovery, so any served kind works)."""
    api_version: str = doc["apiVersion"]
    base = f"{url}/api/{api_version}" if "/" not in api_version else f"{url}/apis/{api_version}"
    with urllib.request.urlopen(base) as rsp:
        resources = json.load(rsp)["resources"]
    entry = next(r for r in resources if r["kind"] == doc["kind"] and "/" not in r["name"])
    namespace = (doc.get("metadata") or {}).get("namespace") or "default"
    target = (
        f"{base}/namespaces/{namespace}/{entry['name']}" if entry["namespaced"] else f"{base}/{entry['name']}"
    )
    request = urllib.request.Request(
        target, data=json.dumps(doc).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request).close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -P -m awsop.sandbox.kubeapi", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the server to this path")
    parser.add_argument("--namespace", default="default", help="namespace of the kubeconfig context")
    parser.add_argument(
        "--load", action="append", default=[], help="YAML file or directory to create at start"
    )
    args = parser.parse_args(argv)

    server = KubeAPIServer(port=args.port).start()
    for doc in _manifests(args.load):
        _create(server.url, doc)
    if args.kubeconfig:
        server.write_kubeconfig(args.kubeconfig, namespace=args.namespace)
    print(server.url, flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
