"""The Helm chart on a real API server.

Every values set the chart tests render (`tests/chart/test_chart_render.py` CASES, the sharded ones of
`test_chart_shards.py`) is rendered with
`helm template --kube-version 1.31.0 --include-crds` and applied server-side: the real server checks what no
schema file does (CEL cost of the CRDs, RBAC objects, webhook configuration, admission). Then the operator
runs with the chart's ServiceAccount (a token from the TokenRequest API, nothing more) and reconciles and
deletes every kind: a permission the chart forgets shows up as a Forbidden in its log.

CRDs of other projects that some values sets use (Prometheus operator, cert-manager) are installed as
schemaless stand-ins, only so their objects can be stored.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartlib import CHART, run_helm
from e2elib import REPO, Kubectl, Operator, eventually, moto_process, operator_env
from realserver import RealApiServer
from test_chart_render import CASES
from test_chart_shards import SHARD_CASES

from awsop.operator.embedded import free_port

pytestmark = pytest.mark.apiserver
KUBECTL = Path(sys.executable).parent / "kubectl"
KUBE_VERSION = "1.31.0"
FOREIGN_CRDS = {
    "monitoring.coreos.com": ["ServiceMonitor", "PodMonitor", "PrometheusRule"],
    "cert-manager.io": ["Certificate", "Issuer", "ClusterIssuer"],
}


def stand_in_crd(group: str, kind: str) -> dict[str, Any]:
    plural = kind.lower() + ("es" if kind.endswith("s") else "s")
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "scope": "Cluster" if kind.startswith("Cluster") else "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def render(release: str, namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    proc = run_helm(
        "template", release, str(CHART), "--namespace", namespace, "--include-crds",
        "--kube-version", KUBE_VERSION, values=values,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="module")
def kube(real_apiserver: RealApiServer, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    k = Kubectl(real_apiserver.kubeconfig, tmp_path_factory.mktemp("kubectl-cache"))
    stand_ins = [stand_in_crd(g, kind) for g, kinds in FOREIGN_CRDS.items() for kind in kinds]
    k.run("apply", "--server-side", "-f", "-", stdin="\n---\n".join(json.dumps(c) for c in stand_ins))
    k.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return k


_CRDS: list[dict[str, Any]] = []


def installed_crds(kube: Kubectl) -> list[dict[str, Any]]:
    """The chart's CRDs (rendered with its defaults), applied server-side once and Established."""
    if not _CRDS:
        docs = render("crds", "default", {})
        _CRDS.extend(d for d in docs if d["kind"] == "CustomResourceDefinition" and awsop_crd(d))
        kube.run("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(_CRDS))
        kube.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return _CRDS


def awsop_crd(doc: dict[str, Any]) -> bool:
    return str(doc["spec"]["group"]).endswith("awsop.io")


def cluster_scoped(doc: dict[str, Any]) -> bool:
    return doc["kind"] in {
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ClusterKopfPeering",
        "ClusterIssuer",
        "CustomResourceDefinition",
    }


ALL_CASES = {**CASES, **SHARD_CASES}  # every values set of the chart tests, sharded ones included


@pytest.mark.parametrize("case", list(ALL_CASES), ids=list(ALL_CASES))
def test_rendered_chart_applies_server_side(kube: Kubectl, case: str) -> None:
    slug = re.sub(r"[^a-z0-9]+", "-", case.lower()).strip("-")[:40]
    release, namespace = f"r-{slug}"[:40].rstrip("-"), f"chart-{slug}"[:50].rstrip("-")
    docs = render(release, namespace, ALL_CASES[case])
    namespaces = {
        namespace,
        *(d["metadata"].get("namespace") for d in docs if d["metadata"].get("namespace")),
    }
    for ns in sorted(n for n in namespaces if n):
        kube.run("create", "namespace", ns, check=False)
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition" and awsop_crd(d)]
    other_crds = [d for d in docs if d["kind"] == "CustomResourceDefinition" and not awsop_crd(d)]
    rest = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
    # awsop's CRDs do not depend on the values: applied (and Established) once for every case; the CRDs
    # some values bring (kopf's peering) first, then everything else
    assert crds == installed_crds(kube), "awsop's CRDs differ between values sets"
    if other_crds:
        kube.run(
            "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(other_crds)
        )
        kube.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    try:
        out = kube.run(
            "apply", "--server-side", "--force-conflicts", "--field-manager", "helm", "-f", "-",
            stdin=yaml.safe_dump_all(rest),
        )  # fmt: skip
        applied = [line for line in out.stdout.splitlines() if "serverside-applied" in line]
        assert len(applied) == len(rest), out.stdout
    finally:
        # cluster-scoped objects of this release would judge (webhooks) or grant (RBAC) beyond this test
        for doc in rest:
            if cluster_scoped(doc):
                kube.run("delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found", check=False)


# -- the operator with the chart's ServiceAccount -------------------------------------------------------

RELEASE, NAMESPACE, APP_NAMESPACE = "awsop", "awsop-system", "chart-sa"
EXAMPLES = ("bucket-basic.yaml", "queue-orders.yaml", "table-orders.yaml", "autoscaling-web.yaml")


def token_kubeconfig(kube: Kubectl, admin: Path, folder: Path) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount with a bound token."""
    token = kube.run("create", "token", RELEASE, "-n", NAMESPACE, "--duration", "2h").stdout.strip()
    config = yaml.safe_load(admin.read_text())
    config["users"] = [{"name": "awsop-sa", "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = "awsop-sa"
    path = folder / "sa-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def deployment_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: str(e["value"]) for e in env if "value" in e}


def example_objects() -> list[dict[str, Any]]:
    """Every kind, from the examples, moved into this test's namespace (names follow: <ns>-<name>)."""
    out = []
    for name in EXAMPLES:
        for doc in yaml.safe_load_all((REPO / "examples" / name).read_text()):
            if doc and doc["apiVersion"].split("/")[0].endswith("awsop.io"):
                doc["metadata"]["namespace"] = APP_NAMESPACE
                spec = doc.setdefault("spec", {})
                if doc["kind"] == "AutoScalingGroup":
                    spec.pop("name", None)
                if doc["kind"] == "Bucket":
                    spec["deletionPolicy"] = "Delete"
                out.append(doc)
    return out


@pytest.fixture(scope="module")
def chart_operator(
    kube: Kubectl, real_apiserver: RealApiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    folder = tmp_path_factory.mktemp("chart-operator")
    values = {"webhook": {"enabled": False}}
    docs = render(RELEASE, NAMESPACE, values)
    for ns in (NAMESPACE, APP_NAMESPACE):
        kube.run("create", "namespace", ns, check=False)
    kube.run("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(docs))
    kube.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kubeconfig = token_kubeconfig(kube, real_apiserver.kubeconfig, folder)
    with moto_process(folder) as aws:
        env = operator_env(kubeconfig, aws.env(), free_port())
        chart_env = deployment_env(docs)
        for key in ("AWSOP_METRICS_PORT", "AWSOP_METRICS_HOST", "AWSOP_WEBHOOK_ADDR", "AWSOP_WEBHOOK_HOST"):
            chart_env.pop(key, None)
        env.update({k: v for k, v in chart_env.items() if k.startswith("AWSOP_")})
        env.update(AWSOP_RESYNC_SECONDS="5", AWSOP_MIN_RESYNC_SECONDS="1", AWSOP_MAX_BACKOFF_SECONDS="5")
        op = Operator(env, folder / "awsop.log", []).start()
        try:
            yield op
        finally:
            op.stop()
            for doc in docs:
                if cluster_scoped(doc) and doc["kind"] != "CustomResourceDefinition":
                    kube.run(
                        "delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found", check=False
                    )


def ready(kube: Kubectl, obj: dict[str, Any]) -> bool:
    got = kube.get(obj["kind"].lower(), obj["metadata"]["name"], "-n", APP_NAMESPACE)
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in got.get("status", {}).get("conditions", [])
    )


def test_operator_with_chart_service_account_reconciles_and_deletes_every_kind(
    kube: Kubectl, chart_operator: Operator
) -> None:
    objects = example_objects()
    assert {o["kind"] for o in objects} >= {"Bucket", "Queue", "Table", "LaunchTemplate", "AutoScalingGroup"}
    kube.apply(yaml.safe_dump_all(objects))
    for obj in objects:
        eventually(lambda o=obj: ready(kube, o), timeout=90, what=f"{obj['kind']} {obj['metadata']['name']}")
    for obj in reversed(objects):
        kube.run("delete", obj["kind"].lower(), obj["metadata"]["name"], "-n", APP_NAMESPACE, "--wait=false")
    for obj in objects:
        eventually(
            lambda o=obj: (
                kube.run(
                    "get", o["kind"].lower(), o["metadata"]["name"], "-n", APP_NAMESPACE, check=False
                ).returncode
                != 0
            ),
            timeout=120,
            what=f"{obj['kind']} {obj['metadata']['name']} deleted",
        )
    log = chart_operator.log_path.read_text(errors="replace")
    forbidden = [line for line in log.splitlines() if re.search(r"Forbidden|\b403\b", line)]
    assert not forbidden, "\n".join(forbidden[:20])
    # the token really is the ServiceAccount's, and it really is limited by the chart's RBAC
    sa = f"--as=system:serviceaccount:{NAMESPACE}:{RELEASE}"
    for verb, resource in (("create", "deployments"), ("delete", "namespaces"), ("create", "clusterroles")):
        allowed = kube.run("auth", "can-i", verb, resource, "-n", APP_NAMESPACE, sa, check=False)
        assert allowed.stdout.strip() == "no", f"{verb} {resource}: {allowed.stdout}"
    allowed = kube.run(
        "auth", "can-i", "patch", "queues.sqs.awsop.io/status", "-n", APP_NAMESPACE, sa, check=False
    )
    assert allowed.stdout.strip() == "yes", allowed.stdout
