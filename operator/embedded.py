"""Embedded AWS: moto's server on 127.0.0.1 inside this process, for `--embedded-aws`, the demo and tests.

It binds the loopback address only and sets the environment so every boto3 client in the process talks to
it with dummy credentials. It is an emulator: fine for demos and tests, never for real resources.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedAws:
    port: int = 0
    region: str = "us-east-1"
    _server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, set_env: bool = True) -> EmbeddedAws:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        self.port = self.port or free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        if set_env:
            os.environ.update(self.env())
        return self

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
