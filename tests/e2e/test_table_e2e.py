"""A Table through the real operator and kubectl: Reconciling while the table is not ACTIVE, then Ready;
two indexes added in one spec edit converge one step at a time; delete waits for deletion protection.

moto makes tables and indexes ACTIVE at once, so the operator here talks to moto through a small HTTP
proxy that reports what AWS reports for a few seconds after a change: a new table CREATING, a table
UPDATING with its new index CREATING and backfilling. Everything else passes through unchanged.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from e2elib import Kubectl, Operator, eventually, operator_env

from awsop.operator.embedded import free_port

NAMESPACE = "tables"
BUSY_SECONDS = 3.0

# the long table walk (creating, indexes in sequence, protection): on the real API server only
pytestmark = pytest.mark.backends("apiserver")


class TransitionProxy:
    """Forwards to moto; DynamoDB tables look CREATING/UPDATING for BUSY_SECONDS after a change."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.busy: dict[str, tuple[float, str, set[str]]] = {}  # table -> (until, status, new indexes)
        self.updates_while_busy: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                proxy.handle(self)

            def do_GET(self) -> None:
                proxy.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        target = request.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        sent = json.loads(body) if target and body else {}
        table = sent.get("TableName", "")
        if target == "UpdateTable":
            with self.lock:
                until, _status, _ = self.busy.get(table, (0.0, "", set()))
                if time.monotonic() < until:
                    self.updates_while_busy.append(table)  # what awsop must never do
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        upstream = urllib.request.Request(
            self.upstream + request.path, data=body or None, headers=headers, method=request.command
        )
        try:
            with urllib.request.urlopen(upstream, timeout=30) as rsp:
                status_code, payload, rsp_headers = rsp.status, rsp.read(), dict(rsp.headers)
        except urllib.error.HTTPError as exc:
            status_code, payload, rsp_headers = exc.code, exc.read(), dict(exc.headers)
        if status_code == 200 and target in ("CreateTable", "UpdateTable", "DescribeTable"):
            payload = self.rewrite(target, sent, payload)
            rsp_headers.pop("x-amz-crc32", None)  # the body changed; botocore checks it only when present
        request.send_response(status_code)
        for key, value in rsp_headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def rewrite(self, target: str, sent: dict[str, Any], payload: bytes) -> bytes:
        doc = json.loads(payload)
        table = sent["TableName"]
        with self.lock:
            if target == "CreateTable":
                self.busy[table] = (time.monotonic() + BUSY_SECONDS, "CREATING", set())
            elif target == "UpdateTable":
                created = {
                    u["Create"]["IndexName"]
                    for u in sent.get("GlobalSecondaryIndexUpdates", [])
                    if "Create" in u
                }
                self.busy[table] = (time.monotonic() + BUSY_SECONDS, "UPDATING", created)
            until, status, indexes = self.busy.get(table, (0.0, "", set()))
        if time.monotonic() >= until:
            return payload
        description = doc.get("Table") or doc.get("TableDescription") or {}
        description["TableStatus"] = status
        for index in description.get("GlobalSecondaryIndexes", []):
            if index["IndexName"] in indexes:
                index["IndexStatus"], index["Backfilling"] = "CREATING", True
        return json.dumps(doc).encode()

    def __enter__(self) -> TransitionProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def table_operator(
    kubectl: Kubectl, e2e_aws: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Operator, TransitionProxy]]:
    kubectl.run("create", "namespace", NAMESPACE, check=False)
    with TransitionProxy(e2e_aws.url) as proxy:
        # a long resync keeps the object's first drift check away from the create handler's reconciles
        aws_env = {**e2e_aws.env(), "AWS_ENDPOINT_URL": proxy.url}
        env = operator_env(kubectl.kubeconfig, aws_env, free_port(), AWSOP_RESYNC_SECONDS="600")
        op = Operator(env, tmp_path_factory.mktemp("table-operator") / "awsop.log", ["-n", NAMESPACE])
        op.start()
        yield op, proxy
        op.stop()


def manifest(spec: str) -> str:
    head = "apiVersion: dynamodb.awsop.io/v1alpha1\nkind: Table\nmetadata:\n  name: orders\n"
    return f"{head}  namespace: {NAMESPACE}\nspec:\n{spec}"


BASE = """  partitionKey: {name: pk, type: S}
  pointInTimeRecovery: {enabled: true}
  deletionProtection: true
  deletionPolicy: Delete
"""
INDEXES = """  globalSecondaryIndexes:
    - name: gsi-by-email
      partitionKey: {name: email, type: S}
    - name: gsi-by-sku
      partitionKey: {name: sku, type: S}
"""


def test_table_reconciling_while_not_active_then_ready_then_indexes_in_sequence_then_protected_delete(
    kubectl: Kubectl, e2e_aws: Any, table_operator: tuple[Operator, TransitionProxy]
) -> None:
    op, proxy = table_operator
    ddb = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=e2e_aws.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    kubectl.apply(manifest(BASE))

    def condition(ctype: str) -> dict[str, Any]:
        return kubectl.condition("table", "orders", NAMESPACE, ctype) or {}

    # 1. created but CREATING: Reconciling with what it waits for, not Ready
    eventually(lambda: condition("Reconciling").get("status") == "True", timeout=30, what="Reconciling=True")
    reconciling = condition("Reconciling")
    assert reconciling["reason"] == "TableCreating", (reconciling, op.log())
    assert "is CREATING" in reconciling["message"]
    assert condition("Ready").get("status") == "False"
    # 2. then Ready, with PITR written once the table was ACTIVE
    kubectl.run("wait", "--for=condition=Ready", "table/orders", "-n", NAMESPACE, "--timeout=60s")
    status = kubectl.get("table", "orders", "-n", NAMESPACE)["status"]
    assert status["tableStatus"] == "ACTIVE" and "progress" not in status
    pitr = ddb.describe_continuous_backups(TableName=f"{NAMESPACE}-orders")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    # 3. two indexes in one edit: step 1 of 2, wait for backfilling, step 2 of 2, Ready
    kubectl.apply(manifest(BASE + INDEXES))
    seen: set[str] = set()

    def both_indexes_ready() -> bool:
        obj = kubectl.get("table", "orders", "-n", NAMESPACE)
        progress = obj.get("status", {}).get("progress")
        if progress:
            seen.add(progress["currentStep"])
        ready = any(
            c["type"] == "Ready"
            and c["status"] == "True"
            and c.get("observedGeneration") == obj["metadata"]["generation"]
            for c in obj.get("status", {}).get("conditions", [])
        )
        return ready

    eventually(both_indexes_ready, timeout=90, interval=0.3, what="indexes added and Ready")
    indexes = ddb.describe_table(TableName=f"{NAMESPACE}-orders")["Table"]["GlobalSecondaryIndexes"]
    assert sorted(i["IndexName"] for i in indexes) == ["gsi-by-email", "gsi-by-sku"]
    assert "creating index gsi-by-email" in seen
    assert proxy.updates_while_busy == [], "an UpdateTable reached a table that was not ACTIVE"
    events = kubectl.events(NAMESPACE, "orders")
    assert (
        "StepStarted",
        "step 1 of 2: creating index gsi-by-email; next: creating index gsi-by-sku",
    ) in events

    # 4. delete with protection on: the object stays and says why; turning it off in the spec lets it go
    kubectl.run("delete", "table", "orders", "-n", NAMESPACE, "--wait=false")
    eventually(
        lambda: condition("Stalled").get("reason") == "DeletionProtectionOn",
        timeout=30,
        what="blocked delete",
    )
    assert f"{NAMESPACE}-orders" in ddb.list_tables()["TableNames"]
    kubectl.run(
        "patch",
        "table",
        "orders",
        "-n",
        NAMESPACE,
        "--type=merge",
        "-p",
        '{"spec": {"deletionProtection": false}}',
    )

    def gone() -> bool:
        return kubectl.run("get", "table", "orders", "-n", NAMESPACE, check=False).returncode != 0

    eventually(gone, timeout=90, what="object deleted after protection turned off")
    assert f"{NAMESPACE}-orders" not in ddb.list_tables()["TableNames"]
