"""spec.outputs on a real API server: the real operator (`awsop run`, kopf) against kube-apiserver, moto in a
process of its own, the real kubectl. Server-side apply, field managers and managedFields are the real
server's own, so this is where sharing a ConfigMap with another manager is judged.

The test server has no garbage collector: awsop deletes a target it created itself when the object goes
(the ownerReference it also sets is for clusters where the collector runs first, e.g. a namespace
deletion), and these tests assert that deletion."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from e2elib import Kubectl, Operator, eventually, moto_process, operator_env
from realserver import REPO, RealApiServer

from awsop.operator.embedded import free_port

pytestmark = pytest.mark.apiserver
NS = "outputs"


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with moto_process(tmp_path_factory.mktemp("moto-outputs")) as moto:
        yield moto


@pytest.fixture(scope="module")
def kube(real_apiserver: RealApiServer, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(real_apiserver.kubeconfig, tmp_path_factory.mktemp("kubectl-outputs")).install_crds(NS)


@pytest.fixture(scope="module")
def operator(kube: Kubectl, aws: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    env = operator_env(kube.kubeconfig, aws.env(), free_port())
    op = Operator(env, tmp_path_factory.mktemp("operator-outputs") / "awsop.log", ["-n", NS]).start()
    yield op
    op.stop()


def sqs(aws: Any) -> Any:
    return boto3.client(
        "sqs", region_name="us-east-1", endpoint_url=aws.url, aws_access_key_id="x", aws_secret_access_key="x"
    )


def ready(kube: Kubectl, kind: str, name: str) -> bool:
    cond = kube.condition(kind, name, NS, "Ready")
    return bool(cond and cond["status"] == "True")


def config_map(kube: Kubectl, name: str) -> dict[str, Any] | None:
    proc = kube.run("get", "configmap", name, "-n", NS, "-o", "json", "--show-managed-fields", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def managers(obj: dict[str, Any]) -> dict[str, set[str]]:
    """manager -> data keys it owns (managedFields)."""
    out: dict[str, set[str]] = {}
    for entry in obj["metadata"].get("managedFields") or []:
        keys = {k[2:] for k in ((entry.get("fieldsV1") or {}).get("f:data") or {})}
        out.setdefault(entry["manager"], set()).update(keys)
    return out


def example_in_namespace() -> str:
    docs = list(yaml.safe_load_all((REPO / "examples" / "worker-outputs.yaml").read_text()))
    for doc in docs:
        doc["metadata"]["namespace"] = NS
    return yaml.safe_dump_all(docs)


def test_example_targets_hold_the_values_once_ready_and_go_with_the_objects(
    kube: Kubectl, operator: Operator, aws: Any
) -> None:
    kube.apply(example_in_namespace())
    eventually(lambda: ready(kube, "queue", "worker-jobs") and ready(kube, "table", "worker-state"), 60)
    # written in the reconcile that found the resources Ready (before its status write)
    cm = config_map(kube, "worker-aws")
    assert cm is not None
    url = sqs(aws).get_queue_url(QueueName=f"{NS}-worker-jobs")["QueueUrl"]
    data = cm["data"]
    assert data["JOBS_QUEUE_URL"] == url
    assert data["JOBS_QUEUE_ARN"] == f"arn:aws:sqs:us-east-1:123456789012:{NS}-worker-jobs"
    assert data["STATE_TABLE_NAME"] == f"{NS}-worker-state"
    table = kube.get("table", "worker-state", "-n", NS)
    assert data["STATE_TABLE_STREAM_ARN"] == table["status"]["streamArn"]
    owned = managers(cm)
    assert owned["awsop/queue/worker-jobs"] == {"JOBS_QUEUE_URL", "JOBS_QUEUE_ARN"}
    assert owned["awsop/table/worker-state"] == {"STATE_TABLE_NAME", "STATE_TABLE_STREAM_ARN"}
    # awsop made it (whichever object came first): both objects own it
    assert sorted(r["name"] for r in cm["metadata"]["ownerReferences"]) == ["worker-jobs", "worker-state"]
    queue = kube.get("queue", "worker-jobs", "-n", NS)
    (entry,) = queue["status"]["outputs"]
    assert entry["kind"] == "ConfigMap" and entry["name"] == "worker-aws"
    assert entry["keys"] == ["JOBS_QUEUE_ARN", "JOBS_QUEUE_URL"]
    written = kube.condition("queue", "worker-jobs", NS, "OutputsWritten")
    assert written is not None and written["status"] == "True", written

    # steady state (after the first check turned Ready's reason from Created to UpToDate): drift checks,
    # every 2 s here, read the ConfigMap but write neither it nor the status
    eventually(
        lambda: (kube.condition("queue", "worker-jobs", NS, "Ready") or {}).get("reason") == "UpToDate"
    )
    queue = kube.get("queue", "worker-jobs", "-n", NS)
    versions = (
        config_map(kube, "worker-aws")["metadata"]["resourceVersion"],
        queue["metadata"]["resourceVersion"],
    )  # type: ignore[index]
    time.sleep(7)
    queue = kube.get("queue", "worker-jobs", "-n", NS)
    now = (
        config_map(kube, "worker-aws")["metadata"]["resourceVersion"],
        queue["metadata"]["resourceVersion"],
    )  # type: ignore[index]
    assert now == versions

    # the queue goes first: its keys leave, the table's stay (the ConfigMap is shared)
    kube.run("delete", "queue", "worker-jobs", "-n", NS, "--timeout=60s")
    cm = config_map(kube, "worker-aws")
    assert cm is not None and set(cm["data"]) == {"STATE_TABLE_NAME", "STATE_TABLE_STREAM_ARN"}
    assert all(r["kind"] != "Queue" for r in cm["metadata"].get("ownerReferences") or [])
    # the table goes: nothing else is in the ConfigMap and it was made for them, so awsop deletes it
    kube.run("delete", "table", "worker-state", "-n", NS, "--timeout=60s")
    assert config_map(kube, "worker-aws") is None


def test_configmap_of_another_manager_keeps_its_keys_and_labels(
    kube: Kubectl, operator: Operator, aws: Any
) -> None:
    kube.run(
        "apply",
        "--server-side",
        "--field-manager=helm",
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "app-config",
                    "namespace": NS,
                    "labels": {"app.kubernetes.io/name": "app"},
                },
                "data": {"LOG_LEVEL": "info", "FEATURE_X": "on"},
            }
        ),
    )
    kube.apply(
        f"""
apiVersion: sqs.awsop.io/v1alpha1
kind: Queue
metadata: {{name: shared, namespace: {NS}}}
spec:
  outputs:
    - to: {{configMap: app-config}}
      values: {{SHARED_QUEUE_URL: url, SHARED_QUEUE_NAME: name}}
    - to: {{secret: app-secret}}
      values: {{SHARED_QUEUE_ARN: arn}}
"""
    )
    eventually(lambda: ready(kube, "queue", "shared"), 60)
    cm = config_map(kube, "app-config")
    assert cm is not None
    url = sqs(aws).get_queue_url(QueueName=f"{NS}-shared")["QueueUrl"]
    assert cm["data"] == {
        "LOG_LEVEL": "info",
        "FEATURE_X": "on",
        "SHARED_QUEUE_URL": url,
        "SHARED_QUEUE_NAME": f"{NS}-shared",
    }
    assert cm["metadata"]["labels"] == {"app.kubernetes.io/name": "app"}
    assert not cm["metadata"].get("ownerReferences")  # awsop did not create it
    assert managers(cm)["helm"] == {"LOG_LEVEL", "FEATURE_X"}
    secret = kube.get("secret", "app-secret", "-n", NS)
    arn = base64.b64decode(secret["data"]["SHARED_QUEUE_ARN"]).decode()
    assert arn == f"arn:aws:sqs:us-east-1:123456789012:{NS}-shared"
    assert [r["kind"] for r in secret["metadata"]["ownerReferences"]] == ["Queue"]

    # a key leaves the spec: it leaves the ConfigMap, the rest stays
    kube.run(
        "patch", "queue", "shared", "-n", NS, "--type=json",
        "-p", json.dumps([{"op": "remove", "path": "/spec/outputs/0/values/SHARED_QUEUE_NAME"}]),
    )  # fmt: skip
    eventually(
        lambda: "SHARED_QUEUE_NAME" not in (config_map(kube, "app-config") or {"data": {"x": 1}})["data"]
    )
    cm = config_map(kube, "app-config")
    assert cm is not None and set(cm["data"]) == {"LOG_LEVEL", "FEATURE_X", "SHARED_QUEUE_URL"}

    # deleted: its keys leave the ConfigMap, which stays with helm's keys and labels; its Secret is deleted
    kube.run("delete", "queue", "shared", "-n", NS, "--timeout=60s")
    cm = config_map(kube, "app-config")
    assert cm is not None and cm["data"] == {"LOG_LEVEL": "info", "FEATURE_X": "on"}
    assert cm["metadata"]["labels"] == {"app.kubernetes.io/name": "app"}
    assert kube.run("get", "secret", "app-secret", "-n", NS, check=False).returncode != 0


def test_key_owned_by_another_manager_is_a_condition_and_an_event_not_a_blocked_reconcile(
    kube: Kubectl, operator: Operator
) -> None:
    kube.run(
        "apply", "--server-side", "--field-manager=argocd-controller", "-f", "-",
        stdin=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "taken", "namespace": NS},
                "data": {"QUEUE_URL": "https://example.invalid/not-this-one"},
            }
        ),
    )  # fmt: skip
    kube.apply(
        f"""
apiVersion: sqs.awsop.io/v1alpha1
kind: Queue
metadata: {{name: conflicted, namespace: {NS}}}
spec:
  visibilityTimeoutSeconds: 45
  outputs:
    - to: {{configMap: taken}}
"""
    )

    def failed() -> dict[str, Any] | None:
        cond = kube.condition("queue", "conflicted", NS, "OutputsWritten")
        return cond if cond and cond["status"] == "False" else None

    cond = eventually(failed, 60)
    assert cond["reason"] == "OutputConflict" and "QUEUE_URL" in cond["message"], cond
    assert ready(kube, "queue", "conflicted")  # the AWS side is done and reported as such
    cm = config_map(kube, "taken")
    assert cm is not None and cm["data"] == {"QUEUE_URL": "https://example.invalid/not-this-one"}
    assert any(reason == "OutputConflict" for reason, _ in kube.events(NS, "conflicted"))
    kube.run("delete", "queue", "conflicted", "-n", NS, "--timeout=60s")
    assert config_map(kube, "taken") == cm or config_map(kube, "taken")["data"] == cm["data"]  # type: ignore[index]


def test_launch_template_new_default_version_reaches_its_key(kube: Kubectl, operator: Operator) -> None:
    template = """
apiVersion: ec2.awsop.io/v1alpha1
kind: LaunchTemplate
metadata: {{name: web, namespace: {ns}}}
spec:
  imageId: ami-12c6146b
  instanceType: {itype}
  outputs:
    - to: {{configMap: web-template}}
      values: {{TEMPLATE_ID: id, TEMPLATE_VERSION: defaultVersion}}
"""
    kube.apply(template.format(ns=NS, itype="t3.micro"))
    eventually(lambda: ready(kube, "launchtemplate", "web"), 60)
    cm = config_map(kube, "web-template")
    status = kube.get("launchtemplate", "web", "-n", NS)["status"]
    assert cm is not None and cm["data"] == {"TEMPLATE_ID": status["id"], "TEMPLATE_VERSION": "1"}
    kube.apply(template.format(ns=NS, itype="t3.small"))

    def new_version() -> bool:
        status = kube.get("launchtemplate", "web", "-n", NS)["status"]
        return bool(status.get("defaultVersion") == 2 and ready(kube, "launchtemplate", "web"))

    eventually(new_version, 60)
    cm = config_map(kube, "web-template")
    assert cm is not None and cm["data"]["TEMPLATE_VERSION"] == "2"
    kube.run("delete", "launchtemplate", "web", "-n", NS, "--timeout=60s")
    assert config_map(kube, "web-template") is None


@pytest.mark.parametrize("kind", ["Bucket", "Queue", "Table", "LaunchTemplate", "AutoScalingGroup"])
def test_kubectl_explain_documents_every_output(kube: Kubectl, kind: str) -> None:
    from awsop.reconcilers.kinds import KINDS
    from awsop.reconcilers.outputs import default_key, output_names

    info = KINDS[kind]
    text = " ".join(kube.run("explain", f"{info.plural}.{info.group}.spec.outputs").stdout.split())
    for name in output_names(kind):
        assert f"{name}: " in text and default_key(kind, name) in text, (name, text)


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (
            "[{to: {configMap: c}, values: {URL: urll}}]",
            'spec.outputs[0].values.URL: Unsupported value: "urll"',
        ),
        ("[{to: {configMap: c}, values: {'BAD KEY': url}}]", "keys follow the ConfigMap key rules"),
        ("[{to: {configMap: c, secret: s}}]", "set exactly one of configMap or secret"),
        ("[{to: {configMap: c}}, {to: {configMap: c}}]", "each target may be listed only once"),
    ],
    ids=["unknown-output", "bad-key", "two-targets", "twice"],
)
def test_real_server_refuses_bad_outputs_naming_the_field(kube: Kubectl, outputs: str, message: str) -> None:
    manifest = (
        f"apiVersion: sqs.awsop.io/v1alpha1\nkind: Queue\nmetadata: {{name: bad, namespace: {NS}}}\n"
        f"spec:\n  outputs: {outputs}\n"
    )
    proc = kube.run("apply", "--dry-run=server", "-f", "-", stdin=manifest, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
