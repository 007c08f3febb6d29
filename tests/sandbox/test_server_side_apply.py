"""Server-side apply of ConfigMap and Secret keys with field managers, the way spec.outputs uses it
(operator/outputs.py), run on the sandbox and on the real kube-apiserver alike: the sandbox must behave as
the real server does for every call awsop makes there (conflicts, pruning on apply, managedFields, JSON
patches guarded by resourceVersion, deletes with preconditions)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from awsop.operator import kube
from awsop.operator.outputs import ObjectIdentity, Report, TargetError, Targets, _export_one, _withdraw
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.model import Output
from awsop.sandbox.kubeapi import KubeAPIServer

STATUS = {"url": "https://sqs.example/q", "arn": "arn:aws:sqs:us-east-1:123456789012:q", "awsName": "q"}


@pytest.fixture(params=["sandbox", pytest.param("real", marks=pytest.mark.apiserver)])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Targets]:
    if request.param == "sandbox":
        sandbox = KubeAPIServer(host="127.0.0.1", port=0).start()
        kubeconfig = Path(sandbox.write_kubeconfig(tmp_path / "config"))
    else:
        sandbox = None
        kubeconfig = request.getfixturevalue("real_apiserver").kubeconfig
    from kubernetes.config import kube_config

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))  # read at import
    kube.configure(4)  # a fresh client for this server
    namespace = f"ssa-{uuid.uuid4().hex[:8]}"
    from kubernetes import client

    kube._api("core").create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    request.node.namespace = namespace
    yield Targets()
    kube.configure(4)
    if sandbox is not None:
        sandbox.stop()


def me(namespace: str, name: str = "orders") -> ObjectIdentity:
    return ObjectIdentity(KINDS["Queue"], namespace, name, str(uuid.uuid4()))


def output(target: dict[str, str], values: dict[str, str]) -> Output:
    return Output.model_validate({"to": target, "values": values})


def helm_config_map(api: Targets, namespace: str, data: dict[str, str]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app", "namespace": namespace, "labels": {"app": "web"}},
        "data": data,
    }
    api.apply("ConfigMap", namespace, "app", body, "helm")


def test_keys_join_a_configmap_of_another_manager_and_leave_it_again(
    server: Targets, request: pytest.FixtureRequest
) -> None:
    ns = request.node.namespace
    helm_config_map(server, ns, {"LOG_LEVEL": "info"})
    queue = me(ns)
    report = Report()
    _export_one(
        server, queue, output({"configMap": "app"}, {"Q_URL": "url", "Q_ARN": "arn"}), STATUS, set(), report
    )
    cm = server.get("ConfigMap", ns, "app")
    assert cm is not None
    assert cm["data"] == {"LOG_LEVEL": "info", "Q_URL": STATUS["url"], "Q_ARN": STATUS["arn"]}
    assert cm["metadata"]["labels"] == {"app": "web"} and not cm["metadata"].get("ownerReferences")
    owners = {e["manager"]: set(e["fieldsV1"].get("f:data", {})) for e in cm["metadata"]["managedFields"]}
    assert owners["awsop/queue/orders"] == {"f:Q_URL", "f:Q_ARN"} and owners["helm"] == {"f:LOG_LEVEL"}
    assert report.written == [
        {"kind": "ConfigMap", "name": "app", "keys": ["Q_ARN", "Q_URL"], "created": False}
    ]

    # Q_ARN leaves the spec: it leaves the ConfigMap
    _export_one(
        server, queue, output({"configMap": "app"}, {"Q_URL": "url"}), STATUS, {"Q_URL", "Q_ARN"}, Report()
    )
    assert server.get("ConfigMap", ns, "app")["data"] == {"LOG_LEVEL": "info", "Q_URL": STATUS["url"]}  # type: ignore[index]

    # the object is deleted: its keys leave, helm's ConfigMap stays as helm made it
    assert _withdraw(server, queue, "ConfigMap", "app", {"Q_URL"})
    cm = server.get("ConfigMap", ns, "app")
    assert (
        cm is not None and cm["data"] == {"LOG_LEVEL": "info"} and cm["metadata"]["labels"] == {"app": "web"}
    )


def test_a_key_another_manager_owns_is_a_conflict_not_an_overwrite(
    server: Targets, request: pytest.FixtureRequest
) -> None:
    ns = request.node.namespace
    helm_config_map(server, ns, {"Q_URL": "https://elsewhere"})
    with pytest.raises(TargetError) as info:
        _export_one(server, me(ns), output({"configMap": "app"}, {"Q_URL": "url"}), STATUS, set(), Report())
    assert info.value.reason == "OutputConflict"
    assert 'conflict with "helm"' in info.value.message and ".data.Q_URL" in info.value.message
    assert server.get("ConfigMap", ns, "app")["data"] == {"Q_URL": "https://elsewhere"}  # type: ignore[index]


def test_a_target_awsop_created_is_owned_by_its_writers_and_deleted_with_the_last(
    server: Targets, request: pytest.FixtureRequest
) -> None:
    ns = request.node.namespace
    first, second = me(ns, "first"), me(ns, "second")
    _export_one(server, first, output({"secret": "creds"}, {"A": "arn"}), STATUS, set(), Report())
    _export_one(server, second, output({"secret": "creds"}, {"B": "url"}), STATUS, set(), Report())
    secret = server.get("Secret", ns, "creds")
    assert secret is not None
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "A": STATUS["arn"],
        "B": STATUS["url"],
    }
    # awsop made it: the second writer co-owns it (a garbage collector deletes it after the last owner)
    assert [r["uid"] for r in secret["metadata"]["ownerReferences"]] == [first.uid, second.uid]
    # the creator goes first: the Secret still holds the other's key, so it stays, owned by the other
    _withdraw(server, first, "Secret", "creds", {"A"})
    secret = server.get("Secret", ns, "creds")
    assert secret is not None and set(secret["data"]) == {"B"}
    assert [r["uid"] for r in secret["metadata"]["ownerReferences"]] == [second.uid]
    # the last owner goes: nothing else is in it, so awsop deletes it
    _withdraw(server, second, "Secret", "creds", {"B"})
    assert server.get("Secret", ns, "creds") is None


def test_a_target_in_a_terminating_namespace_is_forbidden_with_a_reason(
    server: Targets, request: pytest.FixtureRequest
) -> None:
    ns = request.node.namespace
    # an object with a finalizer keeps the namespace Terminating (on a cluster and on the sandbox, whose
    # namespace controller would otherwise finish the deletion at once; the test kube-apiserver has none)
    held = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
    }
    kube._api("core").create_namespaced_config_map(ns, held)
    kube._api("core").delete_namespace(ns)
    with pytest.raises(TargetError) as info:
        _export_one(server, me(ns), output({"configMap": "late"}, {"Q_URL": "url"}), STATUS, set(), Report())
    assert info.value.reason == "OutputForbidden"
    assert "being terminated" in info.value.message
