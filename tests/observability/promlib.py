"""A real Prometheus for the tests: `promtool` and the `prometheus` server from Debian's `prometheus`
package (`make tools` installs it where the machine allows, see scripts/install-tools.sh).

The server runs as a child process of the test on 127.0.0.1 with a temporary config and storage folder,
and is stopped by the test (the Debian service is never started). What is checked against it comes from
the repo's own files: the alert rules (docs/observability/prometheus-rules.yaml, a PrometheusRule whose
`spec` is a plain rule-group file) and the Grafana dashboard's queries.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from awsop.operator.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "docs" / "observability"
RULES = OBSERVABILITY / "prometheus-rules.yaml"
RULES_TEST = OBSERVABILITY / "prometheus-rules.test.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
RULE_GROUPS_NAME = "awsop-rules.yaml"  # the name prometheus-rules.test.yaml loads
MARKER = "prometheus"


def binary(name: str) -> str:
    """The path of `promtool` or `prometheus`, or skip the test with one line saying why."""
    found = shutil.which(name) or shutil.which(name, path="/usr/bin")
    if not found:
        pytest.skip(
            f"{name} not installed (Debian package `prometheus`; `make tools` installs it as root): "
            "Prometheus tests skipped"
        )
    return found


def write_rule_groups(folder: Path) -> Path:
    """The PrometheusRule's `spec` as the plain rule-group file promtool and prometheus read."""
    spec = yaml.safe_load(RULES.read_text())["spec"]
    path = folder / RULE_GROUPS_NAME
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def alert_rules() -> list[dict[str, Any]]:
    spec = yaml.safe_load(RULES.read_text())["spec"]
    return [rule for group in spec["groups"] for rule in group["rules"] if "alert" in rule]


@dataclass(frozen=True)
class DashboardQuery:
    """One PromQL query of the dashboard: a panel target, or a template variable's label query."""

    panel: str
    expr: str

    def promql(self, rate_interval: str) -> str:
        """The query as Grafana sends it with `Kind = All`: `$kind` is the variable's allValue `.*` and
        `$__rate_interval` the window Grafana derives from the scrape interval."""
        return self.expr.replace("$__rate_interval", rate_interval).replace("$kind", ".*")


def dashboard_queries() -> list[DashboardQuery]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            legend = target.get("legendFormat", "")
            queries.append(DashboardQuery(f"{panel['title']} [{legend}]", target["expr"]))
    return queries


def dashboard_label_queries() -> list[tuple[str, str, str]]:
    """(variable, label, metric) of every `label_values(metric, label)` template variable."""
    found = []
    for var in json.loads(DASHBOARD.read_text())["templating"]["list"]:
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else ""
        if text.startswith("label_values("):
            metric, label = (p.strip() for p in text.removeprefix("label_values(").rstrip(")").split(","))
            found.append((var["name"], label, metric))
    return found


class PrometheusServer:
    """`prometheus` on a free loopback port, scraping `targets` every `scrape_seconds` and evaluating the
    awsop alert rules; its data and log live in `folder`."""

    def __init__(self, folder: Path, targets: list[str], scrape_seconds: int = 1) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scrape_seconds = scrape_seconds
        rules = write_rule_groups(folder)
        config = {
            "global": {
                "scrape_interval": f"{scrape_seconds}s",
                "scrape_timeout": f"{scrape_seconds}s",
                "evaluation_interval": f"{scrape_seconds}s",
            },
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "awsop", "static_configs": [{"targets": targets}]}],
        }
        self.config = folder / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> PrometheusServer:
        log = (self.folder / "prometheus.log").open("ab")
        self.proc = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"prometheus exited:\n{self.log()}"
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as rsp:
                    if rsp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        path = self.folder / "prometheus.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns `data`, raises AssertionError with Prometheus' error otherwise."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as rsp:
                body = json.loads(rsp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query: the result vector (Prometheus refuses invalid PromQL with a 400)."""
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", (promql, data["resultType"])
        return list(data["result"])


@contextmanager
def prometheus(folder: Path, targets: list[str], scrape_seconds: int = 1) -> Iterator[PrometheusServer]:
    server = PrometheusServer(folder, targets, scrape_seconds)
    try:
        yield server.start()
    finally:
        server.stop()


def values(series: list[dict[str, Any]]) -> list[float]:
    return [float(s["value"][1]) for s in series]
