"""`make demo` is a promise of the README: it must run to the end on a fresh machine."""

from __future__ import annotations

import subprocess
import sys

import pytest
from e2elib import REPO


@pytest.mark.slow
def test_demo_runs_to_the_end_and_stops_everything() -> None:
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "awsop.operator.demo"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "Demo finished" in out
    assert out.count("True    True     False") >= 3, (
        "kubectl get aws shows every example Ready, Synced, not Drifted"
    )
    assert "~ versioning: Suspended -> Enabled" in out, "the plan names the drifted field"
    assert "DriftCorrected" in out
    assert "awsop-example-access-logs    Delete + emptyOnDelete   -> deleted with its objects" in out
    assert "default-web   desired 4 (the autoscaler's, left alone)" in out
    assert "~ desiredCapacity: 1 -> 2" in out, "the plan names owned capacity moved out of band"
    parts = out[out.index("default-web in AWS") :]
    assert "scaling policies:  cpu-50 (TargetTrackingScaling, target 50)" in parts
    assert "scheduled actions: business-hours (0 8 * * 1-5 Europe/Berlin, minSize 2), night" in parts
    assert "lifecycle hooks:   drain (autoscaling:EC2_INSTANCE_TERMINATING)" in parts
    assert "warm pool:         Stopped, minSize 1" in parts
