"""e2e fixtures. By default: the in-process sandbox API server. With `-m cluster` and KUBECONFIG set, the
same tests run against a real cluster (the operator still runs here, AWS is still moto on 127.0.0.1)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2elib import BIN, REPO, Kubectl, Operator, eventually, operator_env

from awsop.operator import webhook
from awsop.operator.embedded import free_port
from awsop.reconcilers.kinds import CONFIG_KINDS, KINDS, VERSION


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.cluster)  # `-m cluster` + KUBECONFIG: the same tests, a real cluster


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Path]:
    real = request.config.getoption("-m") and "cluster" in request.config.getoption("-m")
    if real:
        if not os.environ.get("KUBECONFIG"):
            pytest.skip("the cluster marker needs KUBECONFIG pointing at a real cluster")
        yield Path(os.environ["KUBECONFIG"])
        return
    from awsop.sandbox.kubeapi import KubeAPIServer

    server = KubeAPIServer(host="127.0.0.1", port=0).start()
    path = server.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    yield Path(path)
    server.stop()


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    k = Kubectl(kubeconfig, tmp_path_factory.mktemp("kubectl-cache"))
    k.run("apply", "-f", str(REPO / "crds"))
    k.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=30s")
    for ns in ("e2e", "crash", "tagpolicy"):
        k.run("create", "namespace", ns, check=False)
    return k


@dataclass
class MotoProcess:
    """moto's server in a process of its own: in-process moto servers share one backend, and other
    suites create and reset buckets there."""

    url: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }


@contextmanager
def moto_process(folder: Path) -> Iterator[MotoProcess]:
    port = free_port()
    log = (folder / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    aws = MotoProcess(f"http://127.0.0.1:{port}")

    def up() -> bool:
        with urllib.request.urlopen(f"{aws.url}/moto-api/", timeout=2) as rsp:
            return bool(rsp.status == 200)

    try:
        eventually(up, timeout=30, what="moto server")
        yield aws
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="session")
def e2e_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoProcess]:
    """The AWS of the operator e2e tests."""
    with moto_process(tmp_path_factory.mktemp("moto")) as aws:
        yield aws


@pytest.fixture(scope="module")
def own_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoProcess]:
    """An AWS of this test module's own (bucket names are global: other modules use the same examples)."""
    with moto_process(tmp_path_factory.mktemp("moto-own")) as aws:
        yield aws


@pytest.fixture(scope="session")
def operator(
    kubectl: Kubectl, e2e_aws: MotoProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    env = operator_env(kubectl.kubeconfig, e2e_aws.env(), free_port())
    env["AWSOP_TAG_POLICY_STATUS_SECONDS"] = "1"
    namespaces = ["default", "e2e", "tagpolicy"]
    # the validating webhook with certificates from a folder and its configuration registered beside
    # the operator, as the chart does in a cluster: scoped to the operator's namespaces, so operators
    # that other tests start for namespaces of their own are not judged (nor slowed) by this one
    port = free_port()
    certs = tmp_path_factory.mktemp("webhook-certs")
    ca, crt, key = webhook.self_signed(["127.0.0.1"])
    (certs / "tls.crt").write_bytes(crt)
    (certs / "tls.key").write_bytes(key)
    env.update(
        AWSOP_WEBHOOK_PORT=str(port),
        AWSOP_WEBHOOK_ADDR="127.0.0.1",
        AWSOP_WEBHOOK_HOST="127.0.0.1",
        AWSOP_WEBHOOK_CERT_DIR=str(certs),
    )
    op = Operator(
        env,
        tmp_path_factory.mktemp("operator") / "awsop.log",
        [arg for ns in namespaces for arg in ("-n", ns)],
    )
    op.start()
    kubectl.apply(json.dumps(webhook_configuration(port, ca, namespaces)))
    yield op
    op.stop()
    kubectl.run("delete", "validatingwebhookconfiguration", WEBHOOK_CONFIGURATION, "--ignore-not-found")


WEBHOOK_CONFIGURATION = "awsop-e2e"


def webhook_configuration(port: int, ca: bytes, namespaces: list[str]) -> dict[str, Any]:
    """The chart's ValidatingWebhookConfiguration, pointing at a local operator: one webhook per kind
    (TagPolicy included), CREATE and UPDATE, failurePolicy Ignore, only in `namespaces`."""
    kinds = [*KINDS.values(), CONFIG_KINDS["TagPolicy"]]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_CONFIGURATION},
        "webhooks": [
            {
                "name": webhook.webhook_name(info.kind),
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Ignore",
                "timeoutSeconds": 10,
                "matchPolicy": "Equivalent",
                "rules": [
                    {
                        "apiGroups": [info.group],
                        "apiVersions": [VERSION],
                        "resources": [info.plural],
                        "operations": ["CREATE", "UPDATE"],
                        "scope": info.scope,
                    }
                ],
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}
                    ]
                },
                "clientConfig": {
                    "url": f"https://127.0.0.1:{port}/{webhook.handler_id(info.kind)}",
                    "caBundle": base64.b64encode(ca).decode(),
                },
            }
            for info in kinds
        ],
    }


@pytest.fixture
def s3(e2e_aws: MotoProcess):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=e2e_aws.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
