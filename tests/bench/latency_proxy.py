"""An HTTP proxy in front of moto's server that adds a fixed latency to every AWS call, as a real region
does (about 30 ms here), and counts the calls it forwards, from outside the process that makes them.

Run as a process of its own (its CPU is neither the operator's nor the emulator's):

    python -P tests/bench/latency_proxy.py UPSTREAM_URL PORT DELAY_SECONDS

`latency_proxy(upstream, delay)` starts it on a free port (a context manager).
`GET /__proxy/stats` answers JSON: calls per operation (`service:Operation`), and for every create call
the AWS name it created (so a benchmark can tell an object created twice). `POST /__proxy/reset` clears
them.

Replay (`POST /__proxy/replay?on=1`, off with `on=0`): a read whose request (operation, path and
query, body) was answered before gets that answer again after the same delay, without asking moto. On AWS the
server's work is not done on the caller's machine; here moto shares its 2 cores with the program measured
and spends several milliseconds of CPU per call, so a benchmark of a read-only run (a no-op `awsop plan`)
can take the emulator's CPU out by replaying the answers an identical live run got. Writes, and reads not
seen before, always go to moto; `stats` counts `replayed` and `missed` reads.

Operation names: the `X-Amz-Target` of JSON protocols (SQS, DynamoDB), the `Action` of query
protocols (EC2, Auto Scaling), and for S3's REST protocol the method and the sub-resource
(`s3:PUT ?versioning`, `s3:PUT /` for CreateBucket).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

CREATES = {
    "s3:PUT /": "s3",
    "sqs:CreateQueue": "sqs",
    "dynamodb:CreateTable": "dynamodb",
    "ec2:CreateLaunchTemplate": "ec2",
    "autoscaling:CreateAutoScalingGroup": "autoscaling",
}
NAME_FIELDS = ("QueueName", "TableName", "LaunchTemplateName", "AutoScalingGroupName")
HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


def operation(request: web.Request, body: bytes) -> tuple[str, str]:
    """(`service:Operation`, the AWS name a create names, else "")."""
    target = request.headers.get("X-Amz-Target", "")
    auth = request.headers.get("Authorization", "")
    service = auth.split("Credential=", 1)[-1].split("/")[3] if "Credential=" in auth else "?"
    if target:
        op = f"{service}:{target.rsplit('.', 1)[-1]}"
        if op not in CREATES:
            return op, ""  # only a create's name is kept (parsing every body costs the proxy CPU)
        try:
            sent = json.loads(body or b"{}")
        except ValueError:
            sent = {}
        return op, next((str(sent[f]) for f in NAME_FIELDS if f in sent), "")
    if service != "s3" and request.method == "POST" and body:
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        op = f"{service}:{form.get('Action', ['?'])[0]}"
        return op, next((form[f][0] for f in NAME_FIELDS if f in form), "")
    parts = [p for p in request.path.split("/") if p]
    keys = sorted(request.query)
    if len(parts) <= 1 and not keys:
        return f"s3:{request.method} /", parts[0] if parts else ""
    return f"s3:{request.method} ?{'&'.join(keys)}", ""


def is_write(op: str) -> bool:
    service, _, name = op.partition(":")
    if service == "s3":
        return not name.startswith(("GET", "HEAD"))
    return not name.startswith(("Describe", "List", "Get", "Head"))


class Proxy:
    def __init__(self, upstream: str, delay: float) -> None:
        self.upstream, self.delay = upstream.rstrip("/"), delay
        self.calls: Counter[str] = Counter()
        self.created: dict[str, int] = Counter()
        self.session: ClientSession | None = None
        self.replay = False
        self.answers: dict[tuple[str, str, bytes], tuple[int, list[tuple[str, str]], bytes]] = {}
        self.replayed = self.missed = 0

    async def forward(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/__proxy/stats":
            counts = {"replayed": self.replayed, "missed": self.missed}
            return web.json_response({"calls": self.calls, "created": self.created, **counts})
        if request.path == "/__proxy/reset":
            self.calls.clear()
            self.created.clear()
            self.replayed = self.missed = 0
            return web.json_response({})
        if request.path == "/__proxy/replay":
            self.replay = request.query.get("on") == "1"
            return web.json_response({"replay": self.replay})
        assert self.session is not None
        body = await request.read()
        op, name = operation(request, body)
        self.calls[op] += 1
        if op in CREATES and name:
            self.created[f"{CREATES[op]}/{name}"] += 1
        await asyncio.sleep(self.delay)
        key = (op, request.rel_url.raw_path_qs, body) if not is_write(op) else None
        if key is not None and self.replay:
            if (answer := self.answers.get(key)) is not None:
                self.replayed += 1
                return web.Response(status=answer[0], body=answer[2], headers=answer[1])
            self.missed += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with self.session.request(
            request.method, self.upstream + request.rel_url.raw_path_qs, data=body, headers=headers
        ) as rsp:
            payload = await rsp.read()
            kept = [
                (k, v)
                for k, v in rsp.headers.items()
                if k.lower() not in HOP and k.lower() not in ("content-encoding", "server", "date")
            ]
            if key is not None:
                self.answers[key] = (rsp.status, kept, payload)
            out = web.Response(status=rsp.status, body=payload)
            for k, v in kept:
                out.headers[k] = v
            return out


async def main(upstream: str, port: int, delay: float) -> None:
    proxy = Proxy(upstream, delay)
    proxy.session = ClientSession(
        connector=TCPConnector(limit=256), timeout=ClientTimeout(total=120), auto_decompress=False
    )
    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_route("*", "/{tail:.*}", proxy.forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def summary(stats: dict[str, Any]) -> tuple[int, int]:
    """(reads, writes) in a stats answer."""
    calls: dict[str, int] = stats["calls"]
    writes = sum(n for op, n in calls.items() if is_write(op))
    return sum(calls.values()) - writes, writes


def replay(url: str, on: bool) -> None:
    """Answer reads seen before from the recorded answers (see the module's text), or stop."""
    with urllib.request.urlopen(f"{url}/__proxy/replay?on={int(on)}", data=b"", timeout=10) as rsp:
        rsp.read()


def stats(url: str, reset: bool = False) -> dict[str, Any]:
    """The proxy's stats (or reset them)."""
    path = "/__proxy/reset" if reset else "/__proxy/stats"
    with urllib.request.urlopen(url + path, timeout=10) as rsp:
        return json.loads(rsp.read())  # type: ignore[no-any-return]


def calls(url: str) -> int:
    """AWS calls passed on so far."""
    return sum(stats(url)["calls"].values())


@contextmanager
def latency_proxy(upstream: str, delay: float, log: Any = None) -> Iterator[str]:
    """The proxy in a process of its own on a free port; yields its URL once it answers."""
    from awsop.operator.embedded import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-P", __file__, upstream, str(port), str(delay)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                stats(url)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
