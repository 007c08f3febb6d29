"""e2e fixtures. By default: the in-process sandbox API server. With `-m cluster` and KUBECONFIG set, the
same tests run against a real cluster (the operator still runs here, AWS is still moto on 127.0.0.1)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2elib import Kubectl, MotoProcess, Operator, moto_process, operator_env

from awsop.operator import webhook
from awsop.operator.embedded import free_port
from awsop.reconcilers.kinds import CONFIG_KINDS, KINDS, VERSION

BACKENDS = ("sandbox", "apiserver")
"""Every operator scenario runs on the sandbox (the embedded API server of `make demo`) and on a real
kube-apiserver (../shared/kube-apiserver), the judge where the two differ. A test marked
`@pytest.mark.backends("apiserver")` runs on the named backends only (the slow scale scenario)."""


def cluster_mode(config: pytest.Config) -> bool:
    """`-m cluster` with KUBECONFIG: the same tests against a real cluster, instead of both backends."""
    expr = config.getoption("-m") or ""
    return "cluster" in expr and "not cluster" not in expr


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        names = ["cluster"] if cluster_mode(metafunc.config) else list(BACKENDS)
        marker = metafunc.definition.get_closest_marker("backends")
        if marker is not None and not cluster_mode(metafunc.config):
            names = [n for n in names if n in marker.args]
        metafunc.parametrize("backend", names, scope="module", indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.cluster)  # `-m cluster` + KUBECONFIG: the same tests, a real cluster
            callspec = getattr(item, "callspec", None)
            if callspec is not None and callspec.params.get("backend") == "apiserver":
                item.add_marker(pytest.mark.apiserver)


@dataclass
class Backend:
    """One Kubernetes API with the AWS and the operator of its scenarios, started on first use and kept
    for the rest of the session (both backends live side by side, each with its own moto)."""

    name: str
    kubeconfig: Path
    kubectl: Kubectl
    aws: MotoProcess | None = None
    operator: Operator | None = None


class Backends:
    def __init__(self, request: pytest.FixtureRequest, tmp: pytest.TempPathFactory) -> None:
        self.request, self.tmp, self.stack = request, tmp, ExitStack()
        self.started: dict[str, Backend] = {}

    def get(self, name: str) -> Backend:
        if name not in self.started:
            self.started[name] = self._start(name)
        return self.started[name]

    def _start(self, name: str) -> Backend:
        if name == "cluster":
            if not os.environ.get("KUBECONFIG"):
                pytest.skip("the cluster marker needs KUBECONFIG pointing at a real cluster")
            kubeconfig, controllers = Path(os.environ["KUBECONFIG"]), True
        elif name == "apiserver":
            # no controller manager there: tests finish namespace deletions themselves (Kubectl)
            kubeconfig, controllers = self.request.getfixturevalue("real_apiserver").kubeconfig, False
        else:
            from awsop.sandbox.kubeapi import KubeAPIServer

            server = KubeAPIServer(host="127.0.0.1", port=0).start()
            self.stack.callback(server.stop)
            kubeconfig = Path(server.write_kubeconfig(self.tmp.mktemp("kube") / "config"))
            controllers = True
        k = Kubectl(kubeconfig, self.tmp.mktemp("kubectl-cache"), namespace_controller=controllers)
        k.install_crds("e2e", "crash", "tagpolicy", timeout=30)
        return Backend(name, kubeconfig, k)

    def aws(self, name: str) -> MotoProcess:
        backend = self.get(name)
        if backend.aws is None:
            backend.aws = self.stack.enter_context(moto_process(self.tmp.mktemp(f"moto-{name}")))
        return backend.aws

    def operator(self, name: str) -> Operator:
        backend = self.get(name)
        if backend.operator is None:
            backend.operator = start_operator(backend.kubectl, self.aws(name), self.tmp)
        return backend.operator

    def stop_operators(self) -> None:
        """Both backends' operators stop side by side: each drains its handlers and drift checks for
        seconds (about 10 s with the objects the scenarios leave), once per worker at its very end."""
        started = [b for b in self.started.values() if b.operator is not None]
        for backend in started:
            assert backend.operator is not None
            backend.operator.terminate()
        for backend in started:
            assert backend.operator is not None
            stop_operator(backend.kubectl, backend.operator)


@pytest.fixture(scope="session")
def backends(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    started = Backends(request, tmp_path_factory)
    with started.stack:
        try:
            yield started
        finally:  # before their API servers and AWS go
            started.stop_operators()


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """The Kubernetes API this module's scenarios run on (parametrized by pytest_generate_tests)."""
    return str(request.param)


@pytest.fixture(scope="module")
def kubeconfig(backends: Backends, backend: str) -> Path:
    return backends.get(backend).kubeconfig


@pytest.fixture(scope="module")
def kubectl(backends: Backends, backend: str) -> Kubectl:
    return backends.get(backend).kubectl


@pytest.fixture(scope="module")
def e2e_aws(backends: Backends, backend: str) -> MotoProcess:
    """The AWS of the operator e2e tests (one per backend, shared by its modules)."""
    return backends.aws(backend)


@pytest.fixture(scope="module")
def own_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoProcess]:
    """An AWS of this test module's own (bucket names are global: other modules use the same examples)."""
    with moto_process(tmp_path_factory.mktemp("moto-own")) as aws:
        yield aws


@pytest.fixture(scope="module")
def backend_own_aws(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoProcess]:
    """An AWS of this module's own for each backend it runs on (what one backend's run leaves in AWS must
    not meet the other's)."""
    with moto_process(tmp_path_factory.mktemp(f"moto-own-{backend}")) as aws:
        yield aws


@pytest.fixture(scope="module")
def operator(backends: Backends, backend: str) -> Operator:
    return backends.operator(backend)


def start_operator(
    kubectl: Kubectl, e2e_aws: MotoProcess, tmp_path_factory: pytest.TempPathFactory
) -> Operator:
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
    return op


def stop_operator(kubectl: Kubectl, op: Operator) -> None:
    op.stop()
    # at the end of the session the API server may be gone already (the real one stops with its worker)
    kubectl.run(
        "delete", "validatingwebhookconfiguration", WEBHOOK_CONFIGURATION, "--ignore-not-found", check=False
    )


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
