"""The CLI's local journal of creates in flight: what the create-pending mark (`createAttemptedAt`) is
to the operator.

`awsop apply` records "about to create <kind> <name> in <region> for <owner>" with the time, before the
create call, and removes the entry once the create is confirmed (a read-back showed our owner tag). A run
killed in between leaves the entry behind, so the next run on this machine recognises an untagged
resource created after that time as its own interrupted create instead of refusing it as AlreadyExists.

A create that starts an operation AWS finishes on its own (a DynamoDB import from S3) keeps its entry, with
the operation's record (`keep`), until a run sees the operation done: a second run follows that operation
instead of starting another, and a failed one is not started again for the same spec.

It must never: hold anything but these marks and records (no AWS state, no secrets), or be the reason a
resource is taken over - the engine only honours an entry for a resource created at or after the entry's time.
Updates are atomic (temporary file + rename) and serialised between concurrent runs by a lock file; lookups
take no lock (a rename replaces the whole file) and parse the file again only when it changed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENV = "AWSOP_JOURNAL"


def default_path() -> Path:
    """`$AWSOP_JOURNAL`, else `$XDG_STATE_HOME/awsop/creates.json` (XDG default: ~/.local/state)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "awsop" / "creates.json"


def key(kind: str, region: str, aws_name: str, owner: str) -> str:
    return f"{kind}/{region}/{aws_name}/{owner}"


class Journal:
    """Create marks keyed by kind, region, AWS name and owner; values carry the Unix time recorded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    def _current(self) -> dict[str, Any]:
        """The journal as it is now, for lookups. No lock: writers replace the file by rename, so a read
        sees one whole version. Parsed again only when the file changed (a plan of N objects looks up
        2 N entries in a file no one writes)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        version = (st.st_ino, st.st_mtime_ns, st.st_size)
        seen = self._seen
        if seen is not None and seen[0] == version:
            return seen[1]
        data = self._read()
        self._seen = (version, data)
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise JournalError(f"create journal {self.path} is unreadable: {exc}") from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)

    def pending(self, entry: str) -> float | None:
        """The time a create of `entry` was recorded and not yet confirmed, or None."""
        value = self._current().get(entry)
        return float(value["since"]) if isinstance(value, dict) and "since" in value else None

    def record(self, entry: str, what: str) -> None:
        """Mark a create as in flight; called right before the create request goes out. A mark already
        there keeps its time: a retried create (a throttle or a timeout after AWS made the resource)
        must still claim what the first attempt made, which AWS dates before the second mark."""
        with self._locked():
            data = self._read()
            found = data.get(entry)
            since = found.get("since") if isinstance(found, dict) else None
            data[entry] = {**(found if isinstance(found, dict) else {}), "object": what}
            data[entry]["since"] = since if isinstance(since, (int, float)) else time.time()
            self._write(data)

    def started(self, entry: str) -> dict[str, Any] | None:
        """The record of the operation a create of `entry` started and a later run must follow, or None."""
        value = self._current().get(entry)
        record = value.get("started") if isinstance(value, dict) else None
        return record if isinstance(record, dict) else None

    def keep(self, entry: str, what: str, record: dict[str, Any]) -> None:
        """Keep the entry, with the record of the operation its create started (see `started`)."""
        with self._locked():
            data = self._read()
            found = data.get(entry)
            value: dict[str, Any] = found if isinstance(found, dict) else {}
            data[entry] = {"since": value.get("since", time.time()), "object": what, "started": record}
            self._write(data)

    def clear(self, entry: str) -> None:
        if not self.path.exists():
            return
        with self._locked():
            data = self._read()
            if data.pop(entry, None) is not None:
                self._write(data)


class JournalError(Exception):
    pass
