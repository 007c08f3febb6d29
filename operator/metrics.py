"""Prometheus metrics and the health endpoints.

No per-object labels: cardinality stays bounded by kinds, services, operations and field paths. The
HTTP server serves /metrics, /healthz (the process is alive) and /readyz (the operator finished startup)
on one port.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import (
    Counter as PCounter,
)

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = PCounter(
    "awsop_reconcile",
    "Reconciles by kind and result (success|error|terminal|access).",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    "awsop_reconcile_duration_seconds",
    "Wall time of one reconcile, AWS calls included.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
AWS_CALLS = PCounter(
    "awsop_aws_calls",
    "AWS API calls by service, operation and outcome (ok|error|throttled).",
    ["service", "operation", "outcome"],
    registry=REGISTRY,
)
AWS_RETRIES = PCounter(
    "awsop_aws_retries", "AWS call attempts retried after a transient error.", ["service"], registry=REGISTRY
)
AWS_THROTTLES = PCounter(
    "awsop_aws_throttles", "AWS calls answered with throttling.", ["service"], registry=REGISTRY
)
AWS_RATE_LIMIT = Gauge(
    "awsop_aws_rate_limit",
    "AWS calls per second the adaptive rate limiter allows now, per account, region and service.",
    ["account", "region", "service"],
    registry=REGISTRY,
)
DRIFT_DETECTED = PCounter(
    "awsop_drift_detected", "Drift found, by kind and field path.", ["kind", "field"], registry=REGISTRY
)
DRIFT_CORRECTED = PCounter(
    "awsop_drift_corrected",
    "Drift put back to the spec, by kind and field path.",
    ["kind", "field"],
    registry=REGISTRY,
)
RESOURCES = Gauge(
    "awsop_resources",
    "Objects by kind and condition (Ready|NotReady|Drifted|Stalled|Paused).",
    ["kind", "condition"],
    registry=REGISTRY,
)
TIME_TO_READY = Histogram(
    "awsop_time_to_ready_seconds",
    "From object creation to its first Ready.",
    ["kind"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)

TAG_POLICY_VIOLATIONS = Gauge(
    "awsop_tag_policy_violations",
    "Objects currently violating a TagPolicy, by policy, kind and enforcement (Deny|Warn|Report).",
    ["policy", "kind", "enforcement"],
    registry=REGISTRY,
)

DRIFT_EVENTS_RECEIVED = PCounter(
    "awsop_drift_events_received",
    "CloudTrail events read from awsop's event queues (event-driven drift).",
    registry=REGISTRY,
)
DRIFT_EVENTS = PCounter(
    "awsop_drift_events",
    "CloudTrail events by what became of them: matched (a check asked for), own (awsop's own call, "
    "skipped), unmanaged (no object manages the resource, dropped), malformed (logged and deleted).",
    ["result"],
    registry=REGISTRY,
)
DRIFT_EVENTS_COVERED = PCounter(
    "awsop_drift_events_covered",
    "Matched events older than the object's last event-driven check (it saw the change): no new check.",
    registry=REGISTRY,
)
DRIFT_EVENT_LATENCY = Histogram(
    "awsop_drift_event_check_latency_seconds",
    "From a change's CloudTrail eventTime (whole seconds) to the end of the drift check it caused.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
DRIFT_EVENTS_FLOWING = Gauge(
    "awsop_drift_events_flowing",
    "1 while CloudTrail events arrive on the event queue of an (account, region) in use, else 0.",
    ["account", "region"],
    registry=REGISTRY,
)
RESYNC_PERIOD = Gauge(
    "awsop_resync_period_seconds",
    "Periodic drift-check interval in force per (account, region) with event-driven drift on.",
    ["account", "region"],
    registry=REGISTRY,
)
EVENT_RESULTS = ("matched", "own", "unmanaged", "malformed")

CONDITION_LABELS = ("Ready", "NotReady", "Drifted", "Stalled", "Paused")
RESULT_LABELS = ("success", "error", "terminal", "access")


def initialise(kinds: Iterable[str]) -> None:
    """The per-kind reconcile series of the served kinds exist at 0 from startup. A counter or histogram
    born at its first event hides that event from rate()/increase(): the first failing reconcile of a
    kind, or the first objects of a kind to turn Ready, would never reach a dashboard or an alert."""
    for kind in kinds:
        for result in RESULT_LABELS:
            RECONCILES.labels(kind, result)
        RECONCILE_DURATION.labels(kind)
        TIME_TO_READY.labels(kind)
    for result in EVENT_RESULTS:
        DRIFT_EVENTS.labels(result)


def record_aws_call(service: str, operation: str, outcome: str) -> None:
    """Listener for `AwsClients`: counts calls, throttles and retries.

    A service's throttle and retry counters exist (at 0) from its first call: a counter born at 1 hides
    its first increase from rate()/increase(), so a service's first throttle would never reach a query."""
    AWS_THROTTLES.labels(service)
    AWS_RETRIES.labels(service)
    if operation == "__retry__":
        AWS_RETRIES.labels(service).inc()
        return
    AWS_CALLS.labels(service, operation, outcome).inc()
    if outcome == "throttled":
        AWS_THROTTLES.labels(service).inc()


def record_rate_limit(key: tuple[str, str, str], rate: float) -> None:
    """Rate listener for `AwsClients`: the allowed rate of one (account, region, service)."""
    AWS_RATE_LIMIT.labels(*key).set(rate)


class ResourceCensus:
    """Which condition each live object is in, so `awsop_resources` is exact without per-object labels."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_uid: dict[str, tuple[str, str]] = {}
        self._kinds: set[str] = set()  # every kind seen, so its gauges drop to 0 when its last object goes

    def set(self, uid: str, kind: str, condition: str) -> None:
        with self._lock:
            self._by_uid[uid] = (kind, condition)
            self._publish()

    def forget(self, uid: str) -> None:
        with self._lock:
            self._by_uid.pop(uid, None)
            self._publish()

    def _publish(self) -> None:
        counts = Counter(self._by_uid.values())
        self._kinds.update(kind for kind, _ in counts)
        for kind in self._kinds:
            for condition in CONDITION_LABELS:
                RESOURCES.labels(kind, condition).set(counts.get((kind, condition), 0))


CENSUS = ResourceCensus()
_published_violations: set[tuple[str, str, str]] = set()
_violations_lock = threading.Lock()


def publish_tag_policy_violations(counts: Counter[tuple[str, str, str]]) -> None:
    """Set awsop_tag_policy_violations to `counts`; label sets that went away drop to 0."""
    with _violations_lock:
        for labels in _published_violations - set(counts):
            TAG_POLICY_VIOLATIONS.labels(*labels).set(0)
        for labels, count in counts.items():
            TAG_POLICY_VIOLATIONS.labels(*labels).set(count)
        _published_violations.update(counts)


class Health:
    alive = True
    ready = False


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._send(200 if Health.alive else 503, b"ok\n" if Health.alive else b"dead\n")
        elif path == "/readyz":
            self._send(200 if Health.ready else 503, b"ready\n" if Health.ready else b"starting\n")
        else:
            self._send(404, b"not found\n")

    def _send(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def serve(host: str, port: int) -> ThreadingHTTPServer:
    """Start the metrics/health server in a daemon thread."""
    server = ThreadingHTTPServer((host, port), _Handler)
    threading.Thread(target=server.serve_forever, name="awsop-metrics", daemon=True).start()
    return server
