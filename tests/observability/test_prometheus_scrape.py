"""A real Prometheus scrapes the real operator during a short scenario on a real API server, and every
Grafana panel query and every alert expression is asked of it.

The operator (`awsop run`, kopf) runs against the `real_apiserver` with moto's server in a process of its
own. Its SQS calls go through a small proxy (`AWS_ENDPOINT_URL_SQS`) that answers every 4th request with
SQS's throttling error, so the throttle and retry series exist (moto never throttles). The scenario gives
every state a series: Ready buckets and a queue, one bucket whose drift is corrected, one whose drift is
only reported (Drifted), one Stalled (its AWS name belongs to another owner), one paused, a queue waiting
for a dead-letter queue that never comes (a retryable error at every attempt) and a Report TagPolicy the
objects break. Event-driven drift is on: its queue and rule are made in moto, which has no CloudTrail,
so no event ever arrives (the "events stopped" state). Prometheus scrapes every second and evaluates the
alert rules.

Each query must be valid PromQL (Prometheus answers 400 otherwise) and return series with a number;
where the scenario makes the value certain (e.g. one Stalled object) the value is checked too. Nothing
here may return nothing: a query that did would be a panel that stays empty while its metric has data.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from bench.benchlib import moto_process
from e2e.e2elib import REPO, Kubectl, Operator, eventually, operator_env
from promlib import (
    DashboardQuery,
    PrometheusServer,
    alert_rules,
    binary,
    dashboard_label_queries,
    dashboard_queries,
    prometheus,
    values,
)
from realserver import RealApiServer

from awsop.operator.embedded import free_port

pytestmark = [pytest.mark.apiserver, pytest.mark.prometheus]

SCRAPE_SECONDS = 1
# Grafana's $__rate_interval is max($__interval + scrape interval, 4 x scrape interval); with a 1 s scrape
# and a short time range that is 4-5 s. 10 s keeps a few samples in every window despite scrape jitter.
RATE_INTERVAL = "10s"
THROTTLE_EVERY = 4  # every 4th SQS request is throttled: 25% of SQS attempts, every call still succeeds
OTHER_OWNER = "another-cluster/shop/assets"


class ThrottlingProxy:
    """Forwards SQS requests (JSON protocol) to moto, except every `THROTTLE_EVERY`th, which gets SQS's
    throttling answer (HTTP 400, `RequestThrottled`) without reaching moto."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.sqs_requests = 0
        self.throttled = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            def do_POST(self) -> None:
                proxy.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _throttle(self, request: BaseHTTPRequestHandler) -> bool:
        if not request.headers.get("X-Amz-Target", "").startswith("AmazonSQS."):
            return False
        with self.lock:
            self.sqs_requests += 1
            if self.sqs_requests % THROTTLE_EVERY:
                return False
            self.throttled += 1
            return True

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if self._throttle(request):
            # SQS's own answer on its JSON protocol (the query-compatible header names the code)
            payload = json.dumps({"__type": "com.amazonaws.sqs#RequestThrottled", "message": "Rate exceeded"})
            status = 400
            headers = {
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-query-error": "RequestThrottled;Sender",
            }
        else:
            forwarded = {
                k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
            }
            upstream = urllib.request.Request(
                self.upstream + request.path, data=body or None, headers=forwarded, method=request.command
            )
            try:
                with urllib.request.urlopen(upstream, timeout=30) as rsp:
                    status, payload, headers = rsp.status, rsp.read(), dict(rsp.headers)
            except urllib.error.HTTPError as exc:
                status, payload, headers = exc.code, exc.read(), dict(exc.headers)
        request.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                request.send_header(key, value)
        body_out = payload.encode() if isinstance(payload, str) else payload
        request.send_header("Content-Length", str(len(body_out)))
        request.end_headers()
        request.wfile.write(body_out)

    def __enter__(self) -> ThrottlingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def manifests(ns: str) -> str:
    def bucket(name: str, spec: str, annotations: str = "") -> str:
        return (
            f"apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"{annotations}spec:\n  tags: {{team: obs}}\n{spec}---\n"
        )

    def queue(name: str, spec: str = "") -> str:
        return (
            f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"spec:\n  tags: {{team: obs}}\n{spec}---\n"
        )

    policy = (
        f"apiVersion: awsop.io/v1alpha1\nkind: TagPolicy\nmetadata:\n  name: {ns}-owner\nspec:\n"
        f"  namespaceSelector:\n    matchLabels:\n      kubernetes.io/metadata.name: {ns}\n"
        "  required:\n  - key: owner\n  enforcement: Report\n---\n"
    )
    return (
        policy
        + bucket("corrected", "  versioning: Enabled\n  driftPolicy: Correct\n")
        + bucket("reported", "  versioning: Enabled\n  driftPolicy: Report\n")
        + bucket("taken", f"  name: {ns}-taken\n")
        + bucket("paused", "", '  annotations: {awsop.io/paused: "true"}\n')
        + queue("work", "  visibilityTimeoutSeconds: 45\n")
        + queue("orphan", "  deadLetterQueue:\n    ref: {name: missing}\n    maxReceiveCount: 3\n")
    )


@dataclass
class Scenario:
    prometheus: PrometheusServer
    operator: Operator
    proxy: ThrottlingProxy
    namespace: str


def ready(kubectl: Kubectl, kind: str, name: str, ns: str) -> bool:
    return (kubectl.condition(kind, name, ns, "Ready") or {}).get("status") == "True"


@pytest.fixture(scope="module")
def scenario(real_apiserver: RealApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    binary("prometheus")  # skip (or fail under CI) before starting anything
    kubectl = Kubectl(real_apiserver.kubeconfig, tmp_path_factory.mktemp("kubectl-cache"))
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    ns = f"obs-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", ns)
    folder = tmp_path_factory.mktemp("observability")
    with moto_process(folder) as moto_url, ThrottlingProxy(moto_url) as proxy:
        aws = {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }
        s3 = boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=moto_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=f"{ns}-taken")  # somebody else's: the Bucket `taken` must stall on it
        s3.put_bucket_tagging(
            Bucket=f"{ns}-taken", Tagging={"TagSet": [{"Key": "awsop.io/owner", "Value": OTHER_OWNER}]}
        )
        port = free_port()
        env = operator_env(
            real_apiserver.kubeconfig,
            {**aws, "AWS_ENDPOINT_URL_SQS": proxy.url},
            port,
            AWSOP_TAG_POLICY_STATUS_SECONDS="1",
            # moto has no CloudTrail: the event queue and rule are made, no event ever arrives (stopped)
            AWSOP_EVENT_DRIFT="true",
        )
        op = Operator(env, folder / "awsop.log", ["-n", ns])
        with prometheus(folder, [f"127.0.0.1:{port}"], SCRAPE_SECONDS) as prom:
            op.start()
            try:
                # the first scrape must see the series at 0 before the objects exist: a count first seen
                # at its final value has no increase for rate() (Ready can come within a second)
                at_least(prom, "count(awsop_time_to_ready_seconds_count)", 1)
                kubectl.apply(manifests(ns))
                for kind, name in (("bucket", "corrected"), ("bucket", "reported"), ("queue", "work")):
                    eventually(
                        lambda k=kind, n=name: ready(kubectl, k, n, ns), 45, what=f"{kind} {name} Ready"
                    )
                for name in ("corrected", "reported"):  # out-of-band changes, straight to AWS
                    s3.put_bucket_versioning(
                        Bucket=f"{ns}-{name}", VersioningConfiguration={"Status": "Suspended"}
                    )
                yield Scenario(prom, op, proxy, ns)
            finally:
                # the cluster-scoped policy goes while the operator runs; the namespace's objects stay
                # behind on this worker's API server (nothing else uses the namespace)
                kubectl.run("delete", "tagpolicy", f"{ns}-owner", "--timeout=30s", check=False)
                op.stop()


def at_least(prom: PrometheusServer, promql: str, minimum: float, timeout: float = 40) -> list[float]:
    """Wait until the query has a series whose value is at least `minimum` (the scrape is 1 s apart)."""
    return list(
        eventually(
            lambda: (v := values(prom.query(promql))) and max(v) >= minimum and v,
            timeout,
            0.5,
            what=f"{promql} >= {minimum}",
        )
    )


@pytest.fixture(scope="module")
def settled(scenario: Scenario) -> Scenario:
    """The scenario's every state has reached Prometheus: what the queries below are judged on."""
    prom = scenario.prometheus
    for condition in ("Ready", "Drifted", "Stalled", "Paused", "NotReady"):
        at_least(prom, f'max by (kind) (awsop_resources{{condition="{condition}"}})', 1)
    at_least(prom, 'awsop_drift_corrected_total{kind="Bucket", field="versioning"}', 1)
    at_least(prom, 'awsop_drift_detected_total{kind="Bucket", field="versioning"}', 2)
    at_least(prom, 'awsop_reconcile_total{kind="Queue", result="error"}', 2)
    at_least(prom, 'awsop_aws_throttles_total{service="sqs"}', 1)
    at_least(prom, 'awsop_aws_retries_total{service="sqs"}', 1)
    at_least(prom, "awsop_tag_policy_violations", 1)
    at_least(prom, 'awsop_resync_period_seconds{account="operator"}', 1)  # the event queue is made
    # the rates' windows hold samples from before and after the last of the events above
    at_least(
        prom, f'sum(increase(awsop_reconcile_total{{kind="Queue", result="error"}}[{RATE_INTERVAL}]))', 0.5
    )
    at_least(prom, f"min(count_over_time(awsop_drift_corrected_total[{RATE_INTERVAL}]))", 3)
    return scenario


# What the scenario makes certain, by query: the value of at least one series must satisfy the check.
# Every other query must return at least one series with a number (NaN only where stated below).
EXPECTED: dict[str, Any] = {
    'sum(max by (kind) (awsop_resources{condition="Ready", kind=~"$kind"}))': lambda v: v >= 2,
    'sum(max by (kind) (awsop_resources{condition="Drifted", kind=~"$kind"}))': lambda v: v == 1,
    'sum(max by (kind) (awsop_resources{condition="Stalled", kind=~"$kind"}))': lambda v: v == 1,
    'sum(max by (kind) (awsop_resources{condition="Paused", kind=~"$kind"}))': lambda v: v == 1,
    'sum(max by (kind) (awsop_resources{condition="NotReady", kind=~"$kind"}))': lambda v: v == 1,
    # one correction, and one reported drift found again at every check: counted from their first one
    'sum by (kind, field) ((awsop_drift_detected_total{kind=~"$kind"} unless awsop_drift_detected_total'
    '{kind=~"$kind"} offset 1h) or increase(awsop_drift_detected_total{kind=~"$kind"}[1h]))': lambda v: (
        v >= 2
    ),
    'sum by (kind, field) ((awsop_drift_corrected_total{kind=~"$kind"} unless awsop_drift_corrected_total'
    '{kind=~"$kind"} offset 1h) or increase(awsop_drift_corrected_total{kind=~"$kind"}[1h]))': lambda v: (
        v >= 1
    ),
    'sum by (policy, kind, enforcement) (awsop_tag_policy_violations{kind=~"$kind"})': lambda v: v >= 1,
}


@pytest.mark.parametrize("query", dashboard_queries(), ids=lambda q: q.panel)
def test_dashboard_query_returns_series(settled: Scenario, query: DashboardQuery) -> None:
    promql = query.promql(RATE_INTERVAL)
    series = settled.prometheus.query(promql)  # invalid PromQL fails here (Prometheus answers 400)
    assert series, f"{query.panel}: no series for {promql}"
    numbers = [v for v in values(series) if not math.isnan(v)]
    assert numbers, f"{query.panel}: only NaN for {promql}: {series}"
    check = EXPECTED.get(query.expr)
    if check is not None:
        assert any(check(v) for v in numbers), f"{query.panel}: {promql} = {series}"


@pytest.mark.parametrize("variable", dashboard_label_queries(), ids=lambda v: v[0])
def test_dashboard_variable_lists_the_kinds(settled: Scenario, variable: tuple[str, str, str]) -> None:
    _, label, metric = variable
    found = settled.prometheus.api(f"label/{label}/values", **{"match[]": metric})
    assert {"Bucket", "Queue"} <= set(found), found


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_expression_returns_series(settled: Scenario, rule: dict[str, Any]) -> None:
    """Every alert's condition holds in the scenario (one Stalled bucket, one reported drift, a quarter
    of SQS attempts throttled, a queue failing every reconcile): the expression returns the series of the
    kind or service that causes it, and Prometheus evaluates the rule without error."""
    series = settled.prometheus.query(rule["expr"])
    expected = {
        "AwsopObjectsStalled": ("kind", "Bucket"),
        "AwsopPersistentDrift": ("kind", "Bucket"),
        "AwsopThrottling": ("service", "sqs"),
        "AwsopReconcileErrors": ("kind", "Queue"),
        "AwsopDriftEventsStopped": ("region", "us-east-1"),
    }[rule["alert"]]
    assert [s["metric"].get(expected[0]) for s in series] == [expected[1]], series

    def state() -> dict[str, Any] | None:
        groups = settled.prometheus.api("rules", type="alert")["groups"]
        found = next(r for g in groups for r in g["rules"] if r["name"] == rule["alert"])
        return found if found.get("alerts") else None

    loaded = eventually(state, 15, 0.5, what=f"{rule['alert']} pending in Prometheus")
    assert loaded["health"] == "ok", loaded
    assert loaded["query"] == rule["expr"].strip(), loaded
    assert [a["state"] for a in loaded["alerts"]] == ["pending"], loaded  # `for:` has not passed yet
    assert loaded["alerts"][0]["labels"][expected[0]] == expected[1]


def test_operator_metrics_scraped_as_up(settled: Scenario) -> None:
    up = settled.prometheus.query('up{job="awsop"}')
    assert values(up) == [1.0], up
    assert settled.proxy.throttled >= 1


def test_expected_values_are_dashboard_queries() -> None:
    """A renamed or edited panel query must not silently lose its value check."""
    assert set(EXPECTED) <= {q.expr for q in dashboard_queries()}
