"""What the operator benchmarks share: polling until a probe answers, and moto's server in a process of
its own (its CPU and memory are not the operator's)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from awsop.operator.embedded import free_port

BIN = Path(sys.executable).parent


def wait_for(
    probe: Callable[[], Any], timeout: float, what: str | Callable[[], str], interval: float = 0.5
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # while things converge
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    text = what() if callable(what) else what
    raise AssertionError(f"not within {timeout:.0f}s: {text} (last: {last!r})")


@contextmanager
def moto_process(folder: Path) -> Iterator[str]:
    """moto's server on a free port, its log in `folder`; yields its URL once it answers."""
    port = free_port()
    log = (folder / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as rsp:
            return bool(rsp.status == 200)

    try:
        wait_for(up, 30, "moto server", 0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
