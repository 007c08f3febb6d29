"""The alert rules pass promtool: `promtool check rules` (syntax, PromQL, templates) and
`promtool test rules` with docs/observability/prometheus-rules.test.yaml, where every alert has input
series that fire it and series that must not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from promlib import RULES_TEST, alert_rules, binary, write_rule_groups


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.prometheus
def test_rules_pass_promtool_check(tmp_path: Path) -> None:
    path = write_rule_groups(tmp_path)
    proc = promtool("check", "rules", path.name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in proc.stdout, proc.stdout


@pytest.mark.prometheus
def test_alert_unit_tests_pass_promtool(tmp_path: Path) -> None:
    write_rule_groups(tmp_path)
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    proc = promtool("test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout, proc.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names, "no alert rules found"
    assert names - fires == set(), "alerts without a unit test that fires them"
    assert names - quiet == set(), "alerts without a unit test where they must not fire"
    assert (fires | quiet) - names == set(), "unit tests of alerts that do not exist"


@pytest.mark.prometheus
def test_promtool_test_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests compare what the rules produce: a test file expecting another value fails."""
    write_rule_groups(tmp_path)
    text = RULES_TEST.read_text()
    assert "throttled 10% of awsop's sqs calls" in text
    (tmp_path / "wrong.test.yaml").write_text(text.replace("throttled 10%", "throttled 11%"))
    proc = promtool("test", "rules", "wrong.test.yaml", cwd=tmp_path)
    assert proc.returncode != 0, proc.stdout
    assert "AwsopThrottling" in proc.stdout + proc.stderr
