"""Progress of a CLI run on a terminal: objects done of N, AWS calls made, throttles AWS answered.

Shown on stderr only, only on a terminal, and only once a run has lasted `after` seconds (a short run
prints nothing extra). Nothing here ever writes to stdout: `-o json` and piped output stay byte-clean.
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from awsop.reconcilers.aws import CallLog

SHOW_AFTER = 2.0
"""Seconds a run lasts before its progress appears."""


class _CallsColumn(ProgressColumn):
    def __init__(self, log: CallLog) -> None:
        super().__init__()
        self._log = log

    def render(self, task: Task) -> Text:
        calls, throttled = self._log.totals()
        return Text(f"{calls} AWS calls, {throttled} throttled", style="dim")


class RunProgress:
    """A context manager; `advance()` once per object done (from any thread)."""

    def __init__(
        self,
        console: Console,
        total: int,
        log: CallLog,
        verb: str,
        *,
        enabled: bool,
        after: float | None = None,
    ) -> None:
        self._console = console
        self._total = total
        self._log = log
        self._verb = verb
        self._enabled = enabled
        self._after = SHOW_AFTER if after is None else after
        self._lock = threading.Lock()
        self._done = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._timer: threading.Timer | None = None
        self._closed = False

    def __enter__(self) -> RunProgress:
        if self._enabled:
            self._timer = threading.Timer(self._after, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _show(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn(f"{self._verb}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("objects"),
                _CallsColumn(self._log),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )
            self._task = self._progress.add_task(self._verb, total=self._total, completed=self._done)
            self._progress.start()

    def advance(self) -> None:
        with self._lock:
            self._done += 1
            if self._progress is not None and self._task is not None:
                self._progress.update(self._task, completed=self._done)

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._progress is not None:
                self._progress.stop()
