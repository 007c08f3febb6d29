"""The sandbox against the real API server: the same requests, the same answers.

The sandbox (the embedded API server of `make demo`) imitates kube-apiserver; where the two differ, the
sandbox is wrong. Each case here sends one request to both and compares what a client sees (HTTP status,
Status reason, message, details), so a difference found once stays fixed.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from realserver import RealApiServer
from webhooklib import Answer, Webhook

from awsop.sandbox.kubeapi import KubeAPIServer

pytestmark = pytest.mark.apiserver
GROUP = "parity.test.awsop.io"
WIDGETS = f"/apis/{GROUP}/v1/namespaces/default/widgets"
CONFIGS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
OPEN_OBJECT = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                        },
                    }
                },
            }
        ],
    },
}


@dataclass
class Api:
    """Raw HTTP against one API server: (status, decoded JSON body)."""

    url: str
    context: ssl.SSLContext | None = None

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=15, context=self.context) as rsp:
                return rsp.status, json.loads(rsp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw or b"null")
            except ValueError:  # the real server's mux answers "404 page not found" for a group it does
                return exc.code, {"text": raw.decode(errors="replace")}  # not serve yet (CRD not Established)


def real_api(server: RealApiServer) -> Api:
    pki = server.folder / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return Api(server.url, context)


@pytest.fixture(scope="module")
def apis(real_apiserver: RealApiServer) -> Iterator[dict[str, Api]]:
    with KubeAPIServer(host="127.0.0.1", port=0) as sandbox:
        both = {"sandbox": Api(sandbox.url), "apiserver": real_api(real_apiserver)}
        for api in both.values():
            status, body = api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
            assert status in (201, 409), body
        for api in both.values():  # served once Established
            for _ in range(40):
                if api("GET", WIDGETS)[0] == 200:
                    break
                time.sleep(0.25)
        yield both


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    hook = Webhook(tmp_path_factory.mktemp("parity-webhook"))
    yield hook
    hook.server.shutdown()


def widget(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": 1}}


def seen_by_client(status: int, body: Any) -> tuple[Any, ...]:
    return (status, body.get("reason"), body.get("code"), body.get("message"), body.get("details"))


DENIALS: dict[str, Answer] = {
    "403 with message": lambda r: {
        "allowed": False,
        "status": {"code": 403, "message": "tag 'team' is missing"},
    },
    "422 with message": lambda r: {"allowed": False, "status": {"code": 422, "message": "spec: bad field"}},
    "no code, message": lambda r: {"allowed": False, "status": {"message": "no"}},
    "no code, no message": lambda r: {"allowed": False},
    "reason only": lambda r: {"allowed": False, "status": {"reason": "NotAllowed"}},
    "code 200 given": lambda r: {"allowed": False, "status": {"code": 200, "message": "odd"}},
}


@pytest.mark.parametrize("case", list(DENIALS), ids=list(DENIALS))
def test_webhook_denial_reaches_the_client_as_on_the_real_server(
    apis: dict[str, Api], webhook: Webhook, case: str
) -> None:
    webhook.answer = DENIALS[case]
    config = webhook.config("check.parity.awsop.io")
    config["metadata"]["name"] = "parity-webhooks"
    config["webhooks"][0]["rules"][0]["apiGroups"] = [GROUP]
    config["webhooks"][0]["rules"][0]["apiVersions"] = ["v1"]
    config["webhooks"][0]["rules"][0]["resources"] = ["widgets"]
    seen: dict[str, tuple[Any, ...]] = {}
    for name, api in apis.items():
        api("DELETE", f"{CONFIGS}/parity-webhooks")
        status, body = api("POST", CONFIGS, config)
        assert status == 201, body
        status, body = api("POST", WIDGETS, widget("denied"))
        seen[name] = seen_by_client(status, body)
        api("DELETE", f"{CONFIGS}/parity-webhooks")
    assert seen["sandbox"] == seen["apiserver"]
