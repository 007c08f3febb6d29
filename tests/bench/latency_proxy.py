"""An HTTP proxy that holds every request for a fixed time before passing it to the emulator: the round
trip of a real AWS region (about 30 ms) in front of moto, for benchmarks of how the CLI overlaps calls.

Run as its own process (`latency_proxy(upstream, delay)`), so its CPU is neither the CLI's nor moto's.
`GET /__latency_proxy/count` answers the number of requests passed on so far (the AWS calls made).
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

COUNT_PATH = "/__latency_proxy/count"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


def serve(port: int, upstream: str, delay: float) -> None:
    target = urlparse(upstream)
    local = threading.local()
    lock = threading.Lock()
    count = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def _relay(self) -> None:
            if self.path == COUNT_PATH:
                body = str(count[0]).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            time.sleep(delay)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            for attempt in range(2):  # a kept-alive upstream connection may have been closed meanwhile
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    local.conn = None
                    if attempt:
                        raise
            with lock:
                count[0] += 1
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


@contextmanager
def latency_proxy(upstream: str, delay: float) -> Iterator[str]:
    """The proxy in a process of its own on a free port; yields its URL once it answers."""
    from awsop.operator.embedded import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-P", __file__, str(port), upstream, str(delay)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                calls(url)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def calls(url: str) -> int:
    with urllib.request.urlopen(f"{url}{COUNT_PATH}", timeout=5) as answer:
        return int(answer.read())


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
