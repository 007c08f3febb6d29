"""The real Kubernetes API server tier (pytest marker `apiserver`).

`../shared/kube-apiserver/start.sh DIR` starts a real kube-apiserver with etcd on loopback. It is the
judge of how Kubernetes behaves (CEL cost limits, server-side apply, admission, RBAC), so tests that need
it take the `real_apiserver` fixture: one server per test worker, started on first use and stopped when the
worker ends; tests isolate their objects by namespace.

Where the kit is missing the tests skip with one line saying why; with CI=true and the kit present a
skipped real-server test is a failure, so a green CI cannot hide it. The terminal summary says how many
tests ran on the real server.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KIT = Path(os.environ.get("AWSOP_KUBE_APISERVER_KIT", REPO.parent / "shared" / "kube-apiserver"))
MARKER = "apiserver"


def kit_present() -> bool:
    return (KIT / "start.sh").is_file()


def ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class RealApiServer:
    """A running kube-apiserver: its folder, its admin kubeconfig and its URL."""

    folder: Path
    kubeconfig: Path

    @property
    def url(self) -> str:
        import yaml

        config = yaml.safe_load(self.kubeconfig.read_text())
        return str(config["clusters"][0]["cluster"]["server"])


def start(folder: Path) -> RealApiServer:
    proc = subprocess.run(
        ["bash", str(KIT / "start.sh"), str(folder)], capture_output=True, text=True, timeout=180
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kube-apiserver did not start:\n{proc.stdout}\n{proc.stderr}")
    return RealApiServer(folder, folder / "kubeconfig")


def stop(server: RealApiServer) -> None:
    """Stop a test server whose data is thrown away: SIGKILL first (on SIGTERM kube-apiserver drains for
    5-10 s, which the kit's stop.sh waits out, at the very end of every worker), then stop.sh clears up."""
    for name in ("kube-apiserver", "etcd"):
        try:
            pid = int((server.folder / "run" / f"{name}.pid").read_text())
            if name in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):  # gone already, or no pid recorded: stop.sh decides
            pass
    subprocess.run(["bash", str(KIT / "stop.sh"), str(server.folder)], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def real_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealApiServer]:
    """One real kube-apiserver for this worker (the same one for every test of the worker)."""
    if not kit_present():
        pytest.skip(f"no real API server kit at {KIT} (../shared/kube-apiserver): real-server tests skipped")
    server = start(tmp_path_factory.mktemp("kube-apiserver"))
    try:
        yield server
    finally:
        stop(server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if item.get_closest_marker(MARKER):
        report.user_properties.append((MARKER, True))  # counted by the summary (also across xdist workers)
    if report.skipped and item.get_closest_marker(MARKER) and ci() and kit_present():
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: a real-API-server test was skipped under CI=true although the kit is present "
            f"({KIT}): {report.longrepr}"
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = skipped = 0
    for key in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(key, []):
            marked = any(name == MARKER for name, _ in getattr(report, "user_properties", ()))
            if getattr(report, "when", "") not in ("call", "setup") or not marked:
                continue
            if report.when == "setup" and not report.skipped:
                continue
            if report.skipped:
                skipped += 1
            else:
                ran += 1
    if ran or skipped:
        where = "kube-apiserver v1.28.7" if kit_present() else "no kit"
        terminalreporter.write_line(
            f"real API server tier: {ran} tests ran on a real API server ({where}), {skipped} skipped",
            bold=True,
        )
