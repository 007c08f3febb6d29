"""`make bench`: `awsop plan` of 300 and 1,000 mixed objects against moto behind a proxy that adds 30 ms to
every AWS call (a real region's round trip), with one worker and with the default pool.

The objects are made first by `awsop apply` straight against moto (rate limits off: setup, not measured);
each plan is a separate `awsop` process with default settings (rate limiter included), and must find
nothing to change. Budgets (issue 16): 300 objects under 8 s, 1,000 under 20 s at the default parallelism.
The machine's load average is printed with each figure: on a shared machine it moves them.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benchlib import moto_process
from latency_proxy import calls, latency_proxy

pytestmark = pytest.mark.bench
AWSOP = str(Path(sys.executable).parent / "awsop")
BUDGET = {300: 8.0, 1000: 20.0}
LATENCY = 0.030


def mixed(count: int) -> list[str]:
    """30 % Buckets (versioning, encryption, tags), 30 % Queues, 30 % Tables (point-in-time recovery),
    5 % LaunchTemplates and 5 % AutoScalingGroups that launch from them by reference."""
    share = count * 3 // 10
    small = (count - 3 * share) // 2
    docs = []
    for i in range(share):
        docs.append(
            f"apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata: {{name: b{i}, namespace: bench}}\n"
            "spec: {versioning: Enabled, encryption: {algorithm: AES256}, tags: {team: bench}}\n"
        )
        docs.append(
            f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {{name: q{i}, namespace: bench}}\n"
            "spec: {visibilityTimeoutSeconds: 60, tags: {team: bench}}\n"
        )
        docs.append(
            f"apiVersion: dynamodb.awsop.io/v1alpha1\nkind: Table\n"
            f"metadata: {{name: t{i}, namespace: bench}}\n"
            "spec: {partitionKey: {name: pk, type: S}, pointInTimeRecovery: {enabled: true}, "
            "tags: {team: bench}}\n"
        )
    for i in range(small):
        docs.append(
            f"apiVersion: ec2.awsop.io/v1alpha1\nkind: LaunchTemplate\n"
            f"metadata: {{name: lt{i}, namespace: bench}}\n"
            "spec: {imageId: ami-12345678, instanceType: t3.micro, tags: {team: bench}}\n"
        )
    for i in range(count - 3 * share - small):
        docs.append(
            f"apiVersion: autoscaling.awsop.io/v1alpha1\nkind: AutoScalingGroup\n"
            f"metadata: {{name: g{i}, namespace: bench}}\n"
            f"spec: {{launchTemplate: {{ref: {{name: lt{i % small}}}}}, minSize: 0, maxSize: 1, "
            "availabilityZones: [us-east-1a], tags: {team: bench}}\n"
        )
    assert len(docs) == count
    return docs


def awsop(args: list[str], env: dict[str, str]) -> tuple[int, float, float, str]:
    """Exit code, wall seconds, CPU seconds of the awsop process (user + system), the output's tail."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([AWSOP, *args], env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return done.returncode, seconds, cpu, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.timeout(1800)  # one worker plans 1,000 objects in minutes
@pytest.mark.parametrize("count", [300, 1000])
def test_bench_cli_plan_at_30ms(count: int, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    for index, doc in enumerate(mixed(count)):
        (folder / f"{index:04d}.yaml").write_text(doc)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWSOP_CLUSTER_ID": "bench",
        "AWSOP_DEFAULT_TAGS": "{}",
        "AWSOP_JOURNAL": str(tmp_path / "journal.json"),
    }
    with moto_process(tmp_path) as moto, latency_proxy(moto, LATENCY) as proxy:
        setup = {**env, "AWS_ENDPOINT_URL": moto, "AWSOP_DEFAULT_RATE_LIMIT": "0"}
        code, seconds, _, out = awsop(["apply", "-f", str(folder), "--parallelism", "16"], setup)
        assert code == 0, out
        print(f"BENCH cli setup: apply of {count} objects straight to moto: {seconds:.1f} s")
        measured = {**env, "AWS_ENDPOINT_URL": proxy}
        for parallelism in (16, 1):
            before, load = calls(proxy), os.getloadavg()[0]
            args = ["plan", "-f", str(folder), "--parallelism", str(parallelism)]
            code, seconds, cpu, out = awsop(args, measured)
            made, load = calls(proxy) - before, (load + os.getloadavg()[0]) / 2
            assert code == 0, out
            budget = f"; budget {BUDGET[count]:.0f} s" if parallelism == 16 else ""
            print(
                f"BENCH cli plan {count} objects, --parallelism {parallelism}, "
                f"{LATENCY * 1000:.0f} ms per call: "
                f"{seconds:.1f} s, {made} AWS calls ({made / count:.2f} per object, {made / seconds:.0f}/s), "
                f"awsop CPU {cpu:.1f} s{budget}; load average {load:.1f} on {os.cpu_count()} cores"
            )
