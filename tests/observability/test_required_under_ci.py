"""Without promtool the Prometheus tests skip with one line saying why; under CI=true that skip is a
failure, so a green CI cannot hide a missing Prometheus. Checked by running pytest on the rules tests with
promtool and prometheus hidden from PATH lookups."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from promlib import REPO

HIDE = """import shutil
_which = shutil.which
def which(name, *args, **kwargs):
    return None if name in ("promtool", "prometheus") else _which(name, *args, **kwargs)
shutil.which = which
"""


def run_rules_tests(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "hide_prometheus.py").write_text(HIDE)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER")}
    env.update(PYTHONPATH=str(tmp_path), CI=ci)
    return subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "hide_prometheus",
            "--basetemp",
            str(tmp_path / "run"),
            "-k",
            "promtool_check",
            "tests/observability/test_alert_rules.py",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_promtool_fails_under_ci(tmp_path: Path) -> None:
    """(Outside CI the same run ends `1 skipped` with that line: the skip itself is plain pytest.skip.)"""
    proc = run_rules_tests(tmp_path, "true")
    assert "1 failed" in proc.stdout, proc.stdout + proc.stderr
    assert "skipped under CI=true" in proc.stdout and "promtool not installed" in proc.stdout, proc.stdout
