"""`awsop plan` starts without the operator's machinery: importing kopf (and aiohttp) cost a loaded
2-core machine over a second of every CLI run."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_and_its_engine_factory_do_not_import_kopf() -> None:
    code = (
        "import sys, awsop.operator.cli as cli, awsop.operator.factory; "
        "cli._engine(cli.build_parser().parse_args(['plan', '-f', 'x'])); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kopf', 'aiohttp', 'kubernetes')))"
    )
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
