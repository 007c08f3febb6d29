"""An HTTPS AdmissionReview endpoint for tests of admission webhooks (sandbox and real API server)."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from awsop.operator.webhook import self_signed

Answer = Callable[[dict[str, Any]], dict[str, Any]]


class Webhook:
    """An HTTPS AdmissionReview endpoint on 127.0.0.1 whose answer each test decides."""

    def __init__(self, folder: Path) -> None:
        ca, cert, key = self_signed(["127.0.0.1"])
        (folder / "tls.crt").write_bytes(cert)
        (folder / "tls.key").write_bytes(key)
        self.ca = base64.b64encode(ca).decode()
        self.reviews: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.answer: Answer = lambda request: {"allowed": True}
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.reviews.append(review)
                outer.paths.append(self.path)
                time.sleep(outer.delay)
                response = {"uid": review["request"]["uid"], **outer.answer(review["request"])}
                body = json.dumps(
                    {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/check"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def config(self, name: str = "check.test.awsop.io", **hook: Any) -> dict[str, Any]:
        webhook = {
            "name": name,
            "clientConfig": {"url": self.url, "caBundle": self.ca},
            "rules": [
                {
                    "apiGroups": ["s3.test.awsop.io"],
                    "apiVersions": ["v1alpha1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["buckets"],
                }
            ],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 2,
            **hook,
        }
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "test-webhooks"},
            "webhooks": [webhook],
        }
