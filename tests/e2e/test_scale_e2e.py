"""Many objects at once through the real operator: every Bucket is created exactly once and none is ever
Stalled (two reconciles of one object in flight at once would create twice or report the object's own
bucket as AlreadyExists)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from e2elib import BIN, Kubectl, MotoProcess, Operator, eventually, operator_env
from test_operator_e2e import bucket_manifest

from awsop.operator.embedded import free_port

OBJECTS = int(os.environ.get("AWSOP_E2E_SCALE_OBJECTS", "300"))
"""300 Buckets take the operator well over a resync period (20 s here) to create on a 2-core machine (about
45 s; 500 took 73 s and half the minutes of the suite's longest file), so drift checks of the first objects
fall due while most creates are still queued, the pile-up this scenario is about."""


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} ([0-9.e+]+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


@pytest.mark.slow
@pytest.mark.backends("apiserver")  # minutes long: on the real API server, the judge, only
def test_300_buckets_applied_at_once_are_created_once_each_and_never_stalled(
    kubectl: Kubectl, backend_own_aws: MotoProcess, tmp_path: Path
) -> None:
    kubectl.run("create", "namespace", "scale", check=False)
    env = operator_env(
        kubectl.kubeconfig,
        backend_own_aws.env(),
        free_port(),
        AWSOP_RESYNC_SECONDS="20",  # drift checks fall due while creates are still queued
        AWSOP_RATE_LIMITS='{"s3": 500}',
    )
    op = Operator(env, tmp_path / "awsop.log", ["-n", "scale"]).start()
    stalled: set[str] = set()
    ready: dict[str, bool] = {}
    # one `kubectl get --watch` sees every status write of every Bucket (a Stalled condition that a later
    # reconcile clears cannot slip between two polls), at a fraction of the CPU of listing all of them
    # every half second, which competed with the operator on two cores
    config = ["--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache_dir)]
    watch = subprocess.Popen(
        [str(BIN / "kubectl"), *config, "get", "buckets", "-n", "scale", "--watch", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def watch_conditions() -> None:
        assert watch.stdout is not None
        lines: list[str] = []
        for line in watch.stdout:  # pretty-printed objects, one after another
            lines.append(line)
            if line != "}\n":
                continue
            item, lines = json.loads("".join(lines)), []
            name = item["metadata"]["name"]
            conditions = item.get("status", {}).get("conditions", [])
            ready[name] = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
            for cond in conditions:
                if cond["type"] == "Stalled" and cond["status"] == "True":
                    stalled.add(f"{name}: {cond['reason']}")

    watcher = threading.Thread(target=watch_conditions, daemon=True)
    try:
        started = time.monotonic()
        manifests = "---\n".join(bucket_manifest(f"b{i:04d}", namespace="scale") for i in range(OBJECTS))
        watcher.start()
        kubectl.apply(manifests)

        def all_ready() -> bool:
            if sum(ready.values()) < OBJECTS:  # the watch's view; the API's own answer decides
                return False
            items = kubectl.get("buckets", "-n", "scale")["items"]
            ready_now = [
                i
                for i in items
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in i.get("status", {}).get("conditions", [])
                )
            ]
            return len(ready_now) == OBJECTS

        eventually(all_ready, timeout=600, interval=1, what=f"{OBJECTS} Buckets Ready")
        elapsed = time.monotonic() - started
        time.sleep(25)  # one more resync period: the drift checks of every object run once
        text = op.metrics()
        creates = metric(text, "awsop_aws_calls_total", operation="CreateBucket")
        terminal = metric(text, "awsop_reconcile_total", result="terminal")
        print(f"\n{OBJECTS} Buckets Ready in {elapsed:.0f} s; CreateBucket calls: {creates:.0f}")
        assert creates == OBJECTS, f"{creates} CreateBucket calls for {OBJECTS} Buckets"
        assert watcher.is_alive(), "the watch of the Buckets' conditions ended early"
        assert terminal == 0 and not stalled, sorted(stalled)[:20]
        log = op.log_path.read_text(errors="replace")
        assert "Connection pool is full" not in log
    finally:
        watch.kill()
        watch.wait(10)
        op.stop()
        _remove_buckets(kubectl)


def _remove_buckets(kubectl: Kubectl) -> None:
    """The API server is shared by the worker's later test files (no controller manager collects anything):
    the scenario's Buckets go, finalizers cleared in one replace of the list, so no later operator
    (the chart's, cluster-wide) finds them and reconciles them again."""
    found = kubectl.run("get", "buckets", "-n", "scale", "-o", "json", check=False)
    listed = json.loads(found.stdout or "{}")
    for item in listed.get("items", []):
        item["metadata"]["finalizers"] = []
    if listed.get("items"):
        kubectl.run("replace", "-f", "-", stdin=json.dumps(listed), check=False, timeout=120)
        kubectl.run("delete", "buckets", "--all", "-n", "scale", "--wait=false", check=False, timeout=120)
