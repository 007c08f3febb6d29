"""Every Table example applies on a fresh emulator, then plans nothing (exit 0): what AWS reports beyond
what the example declares is never drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from awsop.operator import cli

pytestmark = pytest.mark.aws

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("table-*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_table_example_applies_then_plans_nothing(aws: Any, example: Path) -> None:
    assert cli.main(["apply", "-f", str(example)]) == cli.EXIT_OK
    assert cli.main(["plan", "-f", str(example)]) == cli.EXIT_OK
