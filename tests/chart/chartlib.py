"""Shared helpers for the chart tests (a plain module, so it never clashes with other conftest.py files)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "awsop"
HELM = Path(os.environ.get("HELM", str(REPO / ".tools" / "helm")))
RELEASE = "awsop"
NAMESPACE = "awsop-system"

# The metric names the operator exports (the lead's contract); histograms add _bucket/_sum/_count.
METRICS = {
    "awsop_reconcile_total": "counter",
    "awsop_reconcile_duration_seconds": "histogram",
    "awsop_aws_calls_total": "counter",
    "awsop_aws_retries_total": "counter",
    "awsop_aws_throttles_total": "counter",
    "awsop_aws_rate_limit": "gauge",
    "awsop_drift_detected_total": "counter",
    "awsop_drift_corrected_total": "counter",
    "awsop_resources": "gauge",
    "awsop_time_to_ready_seconds": "histogram",
    "awsop_tag_policy_violations": "gauge",
    "awsop_drift_events_received_total": "counter",
    "awsop_drift_events_total": "counter",
    "awsop_drift_events_covered_total": "counter",
    "awsop_drift_event_check_latency_seconds": "histogram",
    "awsop_drift_events_flowing": "gauge",
    "awsop_resync_period_seconds": "gauge",
}

# Kind -> (API group, plural, namespaced): the awsop kinds.
KINDS = {
    "Bucket": ("s3.awsop.io", "buckets", True),
    "Queue": ("sqs.awsop.io", "queues", True),
    "Table": ("dynamodb.awsop.io", "tables", True),
    "AutoScalingGroup": ("autoscaling.awsop.io", "autoscalinggroups", True),
    "LaunchTemplate": ("ec2.awsop.io", "launchtemplates", True),
    "TagPolicy": ("awsop.io", "tagpolicies", False),
    "AWSAccount": ("awsop.io", "awsaccounts", False),
}


def require_helm() -> Path:
    if not (HELM.is_file() and os.access(HELM, os.X_OK)):
        pytest.skip(f"helm binary not found at {HELM} (run `make tools` or set HELM=/path/to/helm)")
    return HELM


def run_helm(*args: str, values: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm with the values written to a file (no --set quoting surprises)."""
    helm = require_helm()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(helm), *args]
        if values is not None:
            path = Path(tmp) / "values.yaml"
            path.write_text(yaml.safe_dump(values))
            cmd += ["-f", str(path)]
        env = {**os.environ, "HELM_CACHE_HOME": tmp, "HELM_CONFIG_HOME": tmp, "HELM_DATA_HOME": tmp}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)


@functools.lru_cache(maxsize=64)
def _render(values_json: str) -> tuple[dict[str, Any], ...]:
    proc = run_helm(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds",
        values=json.loads(values_json),
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"helm template failed:\n{proc.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(proc.stdout) if doc)


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rendered manifests (hooks and crds/ included), cached per values."""
    return [json.loads(json.dumps(d)) for d in _render(json.dumps(values or {}, sort_keys=True))]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def env_of(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(docs)["env"]}
