"""Fixtures for the sandbox API server tests: a fresh server per test, the real kubectl, raw HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from awsop.sandbox.kubeapi import KubeAPIServer

VENV_BIN = Path(sys.executable).parent
KUBECTL = str(VENV_BIN / "kubectl")
MANIFESTS = Path(__file__).parent / "manifests"
BUCKETS = "/apis/s3.test.awsop.io/v1alpha1/namespaces/default/buckets"


@dataclass
class Kubectl:
    """Runs the real kubectl against the sandbox with its own kubeconfig and discovery cache."""

    kubeconfig: Path
    cache_dir: Path

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        cmd = [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-f", "-", *extra, stdin=manifest, check=check)


@dataclass
class Http:
    """Raw HTTP against the sandbox, returning (status, decoded JSON body, headers)."""

    url: str

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> tuple[int, Any, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", content_type)
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=10) as rsp:
                return rsp.status, json.loads(rsp.read() or b"null"), rsp.headers
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null"), exc.headers

    def watch(self, path: str, timeout: float = 5) -> list[dict[str, Any]]:
        """Read a whole (server-side time-limited) watch stream into a list of events."""
        with urllib.request.urlopen(self.url + path, timeout=timeout + 5) as rsp:
            return [json.loads(line) for line in rsp.read().decode().splitlines() if line.strip()]


@pytest.fixture
def server() -> Iterator[KubeAPIServer]:
    with KubeAPIServer(port=0) as srv:
        yield srv


@pytest.fixture
def kubeconfig(server: KubeAPIServer, tmp_path: Path) -> Path:
    return server.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig, tmp_path / "kube-cache")


@pytest.fixture
def http(server: KubeAPIServer) -> Http:
    return Http(server.url)


@pytest.fixture
def bucket_crd(kubectl: Kubectl) -> dict[str, Any]:
    """The test Bucket CRD, applied with kubectl; returns the CRD as the server reports it."""
    kubectl.run("apply", "-f", str(MANIFESTS / "bucket-crd.yaml"))
    return kubectl.json("get", "crd", "buckets.s3.test.awsop.io")


def bucket(
    name: str = "photos", *, bucket_name: str = "photos-bucket", region: str = "eu-west-1", **spec: Any
) -> str:
    """A Bucket manifest as YAML text (JSON is valid YAML)."""
    body = {
        "apiVersion": "s3.test.awsop.io/v1alpha1",
        "kind": "Bucket",
        "metadata": {"name": name, "labels": {"team": "media"}},
        "spec": {"name": bucket_name, "region": region, **spec},
    }
    return json.dumps(body)
