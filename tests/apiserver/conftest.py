"""The real-server tests reuse the chart tests' helm helpers and the e2e harness (plain modules)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent / "chart", HERE.parent / "e2e"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
