"""`scripts/install-tools.sh ... prometheus` (run by `make tools` and `make test`): nothing to do when
promtool and prometheus are on PATH; without apt-get or without root it installs nothing, says why in
one line and succeeds (the Prometheus tests then skip, or fail under CI). Fake commands on a PATH of
their own stand in for apt-get and id, so no package is touched."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from promlib import REPO

SCRIPT = REPO / "scripts" / "install-tools.sh"


def fake(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run(path_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    for tool in ("head", "rm", "chmod"):
        found = shutil.which(tool)
        assert found
        (path_dir / tool).symlink_to(found)
    bash = shutil.which("bash")
    assert bash
    return subprocess.run(
        [bash, str(SCRIPT), str(tmp_path / "tools"), "python3", "prometheus"],
        env={"PATH": str(path_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_present_binaries_are_left_alone(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("promtool", "prometheus"):
        fake(bin_dir, name, "exit 0")
    fake(bin_dir, "apt-get", f"echo called >> {tmp_path}/apt-get.calls")
    fake(bin_dir, "id", "echo 0")
    proc = run(bin_dir, tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert not (tmp_path / "apt-get.calls").exists()


def test_without_apt_get_one_line_says_why(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake(bin_dir, "id", "echo 0")
    proc = run(bin_dir, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "prometheus not installed: no apt-get on this machine (Prometheus tests will skip)"
    ]


def test_without_root_apt_get_is_not_called(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake(bin_dir, "id", "echo 1000")
    fake(bin_dir, "apt-get", f"echo called >> {tmp_path}/apt-get.calls")
    proc = run(bin_dir, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1 and "apt-get needs root" in proc.stdout, proc.stdout
    assert not (tmp_path / "apt-get.calls").exists()
