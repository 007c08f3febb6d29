"""kopf 1.45 as a subprocess against the sandbox: it must see CR events, patch status and post events."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import BUCKETS, VENV_BIN, Http, Kubectl, bucket

HANDLERS = """
import kopf

@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.watching.server_timeout = 5
    settings.persistence.finalizer = "test.awsop.io/kopf"

@kopf.on.create("s3.test.awsop.io", "v1alpha1", "buckets")
def created(spec, body, patch, **_):
    patch.status["bucketArn"] = "arn:aws:s3:::" + spec["name"]
    kopf.info(body, reason="Provisioned", message="bucket " + spec["name"] + " created")

@kopf.on.delete("s3.test.awsop.io", "v1alpha1", "buckets")
def deleted(name, **_):
    pass
"""


def _eventually(probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.mark.parametrize("scope", [["-A"], ["--namespace", "default"]], ids=["all-namespaces", "namespace"])
def test_kopf_handler_runs_and_writes_status_and_events(
    bucket_crd: dict[str, Any],
    kubectl: Kubectl,
    http: Http,
    kubeconfig: Path,
    tmp_path: Path,
    scope: list[str],
) -> None:
    handlers = tmp_path / "handlers.py"
    handlers.write_text(HANDLERS)
    log = (tmp_path / "kopf.log").open("w")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    proc = subprocess.Popen(
        [str(VENV_BIN / "kopf"), "run", "--standalone", *scope, str(handlers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        kubectl.apply(bucket())
        status = _eventually(lambda: http("GET", f"{BUCKETS}/photos")[1].get("status", {}).get("bucketArn"))
        assert status == "arn:aws:s3:::photos-bucket"
        obj = http("GET", f"{BUCKETS}/photos")[1]
        assert "test.awsop.io/kopf" in obj["metadata"]["finalizers"]
        assert "kopf.zalando.org/last-handled-configuration" in obj["metadata"]["annotations"]
        assert obj["metadata"]["generation"] == 1

        def provisioned() -> list[dict[str, Any]]:
            items = http("GET", "/api/v1/namespaces/default/events")[1]["items"]
            return [e for e in items if e.get("reason") == "Provisioned"]

        event = _eventually(provisioned)[0]
        assert (
            event["involvedObject"]["name"] == "photos" and event["message"] == "bucket photos-bucket created"
        )

        # Deletion goes through kopf's finalizer: the object disappears once the delete handler ran.
        kubectl.run("delete", "bucket", "photos", "--wait=false")
        _eventually(lambda: http("GET", f"{BUCKETS}/photos")[0] == 404)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "kopf.log").read_text()
    assert "Handler 'created' succeeded" in output, output
    assert "Handler 'deleted' succeeded" in output, output
    assert "Traceback" not in output, output
