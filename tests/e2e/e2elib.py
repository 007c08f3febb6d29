"""The e2e harness: the sandbox Kubernetes API (or a real cluster), moto's server, the real operator
(`awsop run`, i.e. kopf) as a process, and the real kubectl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from awsop.operator.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def eventually(
    probe: Callable[[], Any], timeout: float = 30.0, interval: float = 0.25, what: str = ""
) -> Any:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # a probe may fail while things converge
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s: {what or probe} (last: {last!r})")


@dataclass
class Kubectl:
    kubeconfig: Path
    cache_dir: Path
    namespace_controller: bool = True
    """False on the real test API server: no controller manager finishes a namespace deletion there."""

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        cmd = [
            str(BIN / "kubectl"),
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.cache_dir),
            *args,
        ]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def delete_namespace(self, namespace: str, timeout: float = 90) -> None:
        """Delete a namespace and wait until it is gone. Where no namespace controller runs (the real test
        API server), do its part: delete the awsop objects in it (their finalizers still run in the
        operator), then finalize the namespace."""
        if self.namespace_controller:
            self.run("delete", "namespace", namespace, f"--timeout={int(timeout)}s", timeout=timeout + 30)
            return
        self.run("delete", "namespace", namespace, "--wait=false")
        self.run(
            "delete", "aws", "--all", "-n", namespace, f"--timeout={int(timeout)}s", timeout=timeout + 30
        )
        body = json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace},
                "spec": {"finalizers": []},
            }
        )
        self.run("replace", "--raw", f"/api/v1/namespaces/{namespace}/finalize", "-f", "-", stdin=body)
        self.run("wait", "--for=delete", f"namespace/{namespace}", f"--timeout={int(timeout)}s")

    def get(self, *args: str) -> Any:
        return json.loads(self.run("get", *args, "-o", "json").stdout)

    def install_crds(self, *namespaces: str, timeout: int = 60) -> Kubectl:
        """awsop's CRDs (server-side apply, established) and the namespaces, which may exist already."""
        self.run("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
        self.run("wait", "--for=condition=Established", "crd", "--all", f"--timeout={timeout}s")
        for namespace in namespaces:
            self.run("create", "namespace", namespace, check=False)
        return self

    def apply(self, manifest: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-f", "-", stdin=manifest, check=check)

    def condition(self, kind: str, name: str, namespace: str, ctype: str) -> dict[str, Any] | None:
        obj = self.get(kind, name, "-n", namespace)
        for cond in obj.get("status", {}).get("conditions", []):
            if cond["type"] == ctype:
                return dict(cond)
        return None

    def events(self, namespace: str, name: str) -> list[tuple[str, str]]:
        items = self.get("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")[
            "items"
        ]
        return [(e.get("reason", ""), e.get("message", "")) for e in items]


@dataclass
class Operator:
    """`awsop run` as a process, logs to a file, health on its own port."""

    env: dict[str, str]
    log_path: Path
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    terminated: bool = False

    def start(self, timeout: float = 60) -> Operator:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(BIN / "awsop"), "run", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd="/",
        )
        port = self.env["AWSOP_METRICS_PORT"]

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as rsp:
                return rsp.status == 200

        eventually(ready, timeout, what="operator /readyz")
        return self

    def metrics(self) -> str:
        port = self.env["AWSOP_METRICS_PORT"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as rsp:
            return rsp.read().decode()

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a node dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self) -> None:
        """SIGTERM, once: the operator begins its graceful stop (`stop` waits for its end)."""
        if self.proc and self.proc.poll() is None and not self.terminated:
            self.terminated = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""


def operator_env(kubeconfig: Path, aws_env: dict[str, str], port: int, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWSOP_", "AWS_", "KUBECONFIG"))}
    env.update(aws_env)
    env.update(
        {
            "KUBECONFIG": str(kubeconfig),
            "AWSOP_CLUSTER_ID": "e2e",
            "AWSOP_RESYNC_SECONDS": "2",
            "AWSOP_MIN_RESYNC_SECONDS": "1",
            "AWSOP_METRICS_PORT": str(port),
            "AWSOP_METRICS_HOST": "127.0.0.1",
            "AWSOP_MAX_BACKOFF_SECONDS": "5",
        }
    )
    env.update(settings)
    return env


@dataclass
class MotoProcess:
    """moto's server in a process of its own: in-process moto servers share one backend, and other
    suites create and reset buckets there."""

    url: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }


@contextmanager
def moto_process(folder: Path) -> Iterator[MotoProcess]:
    port = free_port()
    log = (folder / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    aws = MotoProcess(f"http://127.0.0.1:{port}")

    def up() -> bool:
        with urllib.request.urlopen(f"{aws.url}/moto-api/", timeout=2) as rsp:
            return bool(rsp.status == 200)

    try:
        eventually(up, timeout=30, what="moto server")
        yield aws
    finally:
        proc.terminate()
        proc.wait(20)
