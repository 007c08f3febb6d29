"""The Prometheus tier (pytest marker `prometheus`): promtool and a real Prometheus server.

Where the binaries are missing the tests skip with one line saying why; with CI=true a skipped Prometheus
test is a failure (CI installs them with `make tools`), so a green CI cannot hide it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from promlib import MARKER
from realserver import ci


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and item.get_closest_marker(MARKER) and ci():
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: a Prometheus test was skipped under CI=true (`make tools` installs "
            f"Debian's prometheus package): {report.longrepr}"
        )
