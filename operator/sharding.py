"""Shards: several operator Deployments split the namespaced objects between them by label selector.

Kubernetes does the distribution: each shard's watches carry its label selector, so the API server sends a
shard only its own objects (it never holds the others in memory), and an object whose labels stop
matching arrives as a deletion in the shard it leaves and as a new object in the shard it joins. awsop
adds no coordinator; what it adds here:

- every shard knows the whole list of shards (the chart renders it into each Deployment), so an object
  that several selectors match is served by the first of them only (`serves`); the others leave it alone
  and say so once, which makes a double-manage impossible while the shards agree on the list;
- cluster-scoped AWSAccount and TagPolicy objects are watched by every shard (every shard needs them to
  reconcile), but only the first shard writes their status and the account finalizer (`writes_status`);
  each shard publishes its own counts in `status.shards.<name>` and the first shard sums the entries of
  the shards it knows (`total`), dropping entries of shards that no longer exist.

Nothing here reads or writes AWS; it never imports the handlers.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import kopf

    from awsop.reconcilers.kinds import KindInfo

    from .settings import Settings

log = logging.getLogger("awsop")

SHARD_LABEL = "awsop.io/shard"  # the label the documented selectors use (any label works)

_KEY = r"(?:[a-z0-9A-Z.-]{1,253}/)?[a-z0-9A-Z](?:[-a-z0-9A-Z_.]{0,61}[a-z0-9A-Z])?"
_VALUE = r"(?:[a-z0-9A-Z](?:[-a-z0-9A-Z_.]{0,61}[a-z0-9A-Z])?)?"
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EQ = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")
_VALUE_ONLY = re.compile(rf"^{_VALUE}$")


@dataclass(frozen=True)
class Requirement:
    """One requirement of a label selector: `key op values` (op: in, notin, exists, !exists)."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "in":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # notin


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """Parse a Kubernetes label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k`; empty = everything).

    Raises ValueError naming the requirement that does not parse (`>`/`<` are not label selectors)."""
    requirements = []
    for part in _split(text):
        if (found := _SET.match(part)) is not None:
            values = [v.strip() for v in found.group(3).split(",")]
            bad = [v for v in values if not _VALUE_ONLY.match(v)]
            if not values or bad or values == [""]:
                raise ValueError(f"label selector {text!r}: bad value list in {part!r}")
            requirements.append(Requirement(found.group(1), found.group(2), frozenset(values)))
        elif (found := _EQ.match(part)) is not None:
            op = "notin" if found.group(2) == "!=" else "in"
            requirements.append(Requirement(found.group(1), op, frozenset([found.group(3)])))
        elif (found := _EXISTS.match(part)) is not None:
            requirements.append(Requirement(found.group(2), "!exists" if found.group(1) else "exists"))
        else:
            raise ValueError(f"label selector {text!r}: cannot read the requirement {part!r}")
    return tuple(requirements)


def _split(text: str) -> list[str]:
    """Requirements separated by the commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip() or parts:
        parts.append(current.strip())
    if any(not p for p in parts):
        raise ValueError(f"label selector {text!r}: empty requirement")
    return parts


def matches(selector: str, labels: Mapping[str, str] | None) -> bool:
    """Whether labels satisfy every requirement of the selector (the API server's rule)."""
    return all(r.matches(labels or {}) for r in parse_selector(selector))


# -- this process's shard ------------------------------------------------------------------------------


def sharded(settings: Settings) -> bool:
    return bool(settings.shard)


def own_selector(settings: Settings) -> str:
    """This shard's label selector ("" when unsharded or when the shard serves everything)."""
    return next((s.label_selector for s in settings.shards if s.name == settings.shard), "")


def owner_of(settings: Settings, labels: Mapping[str, str] | None) -> str | None:
    """The shard that serves an object with these labels: the first whose selector matches; None when
    no shard does (an object no shard serves)."""
    for shard in settings.shards:
        if matches(shard.label_selector, labels):
            return shard.name
    return None


def serves(settings: Settings, body: Mapping[str, Any]) -> bool:
    """Whether this process serves the object: always when unsharded; else when it is the first shard
    whose selector matches the object's labels."""
    if not settings.shard:
        return True
    labels = (body.get("metadata") or {}).get("labels") or {}
    return owner_of(settings, labels) == settings.shard


def writes_status(settings: Settings) -> bool:
    """Whether this process writes the status of cluster-scoped AWSAccount and TagPolicy objects (and the
    account-in-use finalizer): unsharded, or the first shard of the list."""
    return not settings.shard or settings.shards[0].name == settings.shard


def storage_prefix(settings: Settings, base: str) -> str:
    """Where this process keeps kopf's per-object records (last handled state, handler progress): `base`
    for the first shard (and unsharded: an upgrade to shards keeps them), `<shard>.<base>` for the
    others. Shards never share these records: a shard that sets an object aside (an overlap) would
    otherwise mark its handlers done for the shard that serves it, and an object that moves to another
    shard is new there (kopf runs its create handler, which finds the AWS resource and creates nothing)."""
    return base if writes_status(settings) else f"{settings.shard}.{base}"


def configure(settings: kopf.OperatorSettings, cfg: Settings, kinds: list[KindInfo]) -> None:
    """Give this shard's label selector to kopf for the namespaced kinds' list and watch requests (the
    API server then sends nothing else); AWSAccount, TagPolicy and namespaces stay unfiltered."""
    selector = own_selector(cfg)
    if not selector:
        return
    for info in kinds:
        if info.scope == "Namespaced":
            settings.watching.label_selectors[info.group, info.plural] = selector
    log.info("shard %s serves the objects matching %r", cfg.shard, selector)


# -- counts published per shard, summed by the status writer -----------------------------------------


def shard_entry(status: Mapping[str, Any] | None, shard: str) -> dict[str, Any]:
    """What `shard` last published in `status.shards` ({} when nothing)."""
    entries = (status or {}).get("shards") or {}
    entry = entries.get(shard) if isinstance(entries, Mapping) else None
    return dict(entry) if isinstance(entry, Mapping) else {}


def publish(patch: Any, status: Mapping[str, Any] | None, shard: str, counts: Mapping[str, int]) -> None:
    """Put this shard's counts into the status patch (`status.shards.<shard>`, a merge patch touches no
    other shard's entry), only when they differ from what the status shows."""
    if shard_entry(status, shard) != dict(counts):
        patch.setdefault("status", {}).setdefault("shards", {})[shard] = dict(counts)


def total(
    settings: Settings, status: Mapping[str, Any] | None, own: Mapping[str, int], key: str, patch: Any
) -> int:
    """The sum of `key` over the shards of the installation: this shard's own count, the others' from
    `status.shards`. Entries of shards that are not in the list any more are removed in `patch`."""
    entries = (status or {}).get("shards") or {}
    known = {s.name for s in settings.shards}
    for name in entries if isinstance(entries, Mapping) else {}:
        if name not in known:
            patch.setdefault("status", {}).setdefault("shards", {})[name] = None
    count = int(own.get(key, 0))
    for name in known - {settings.shard}:
        value = shard_entry(status, name).get(key, 0)
        count += int(value) if isinstance(value, int) else 0
    return count


RECHECK_SECONDS = 10.0  # how soon a shard looks again at a deletion an earlier shard serves


class Skips:
    """Objects this shard leaves to an earlier shard whose selector matches them too: said once per
    object (a warning), so an overlap of selectors is visible without a line per event."""

    def __init__(self) -> None:
        self._told: set[str] = set()

    def tell(self, settings: Settings, kind: str, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        if uid in self._told:
            return
        self._told.add(uid)
        owner = owner_of(settings, meta.get("labels") or {})
        log.warning(
            "%s %s/%s matches the selector of shard %s too, which comes first: shard %s leaves it alone",
            kind,
            meta.get("namespace", ""),
            meta.get("name", ""),
            owner,
            settings.shard,
        )


# -- coverage: objects that no shard, or several shards, select -----------------------------------------

COVERAGE_SECONDS = 600.0  # how often the first shard lists every object's labels to check coverage
COVERAGE_EXAMPLES = 10  # objects named per warning
PAGE = 500  # objects per list page: the check never holds more than one page


@dataclass
class Coverage:
    """What one pass over every object found: how many, and which match no shard or several."""

    objects: int = 0
    unserved: list[str] = field(default_factory=list)
    overlapping: list[str] = field(default_factory=list)


ListPage = Callable[["KindInfo", str, str], tuple[list[dict[str, Any]], str]]


def coverage(
    settings: Settings, kinds: list[KindInfo], namespaces: list[str], list_page: ListPage
) -> Coverage:
    """Every namespaced object of `kinds` (in `namespaces`, or the whole cluster when empty), page by page
    (`list_page(kind, namespace, continue_token) -> (items, next_token)`), judged against every shard."""
    found = Coverage()
    for info in kinds:
        if info.scope != "Namespaced":
            continue
        for namespace in namespaces or [""]:
            token = ""
            while True:
                items, token = list_page(info, namespace, token)
                for item in items:
                    meta = item.get("metadata") or {}
                    labels = meta.get("labels") or {}
                    owners = [s.name for s in settings.shards if matches(s.label_selector, labels)]
                    name = f"{info.kind} {meta.get('namespace', '')}/{meta.get('name', '')}"
                    found.objects += 1
                    if not owners:
                        found.unserved.append(name)
                    elif len(owners) > 1:
                        found.overlapping.append(f"{name} ({', '.join(owners)})")
                if not token:
                    break
    return found


def report(found: Coverage) -> None:
    """Warn about objects no shard serves and objects several selectors match (the first serves them)."""

    def shown(names: list[str]) -> str:
        more = len(names) - COVERAGE_EXAMPLES
        return ", ".join(names[:COVERAGE_EXAMPLES]) + (f" and {more} more" if more > 0 else "")

    if found.unserved:
        log.warning(
            "shards: %d of %d objects match no shard's label selector, so no shard serves them: %s",
            len(found.unserved),
            found.objects,
            shown(found.unserved),
        )
    if found.overlapping:
        log.warning(
            "shards: %d of %d objects match several shards' selectors (the first listed serves them, the "
            "others hold them in memory for nothing): %s",
            len(found.overlapping),
            found.objects,
            shown(found.overlapping),
        )
    if not found.unserved and not found.overlapping:
        log.info("shards: each of the %d objects is served by exactly one shard", found.objects)


class CoverageCheck:
    """The first shard's background check: soon after start (an upgrade that changed selectors restarts
    it), then every COVERAGE_SECONDS, it lists every object's labels page by page and reports objects no
    shard or several shards select. Other shards never run it (one lister per installation)."""

    def __init__(
        self,
        settings: Settings,
        kinds: list[KindInfo],
        list_page: ListPage,
        first_delay: float = 5.0,
        period: float = COVERAGE_SECONDS,
    ) -> None:
        self.settings, self.kinds, self.list_page = settings, kinds, list_page
        self.first_delay, self.period = first_delay, period
        self._stop = threading.Event()

    def start(self) -> None:
        if sharded(self.settings) and writes_status(self.settings):
            threading.Thread(target=self._run, name="shard-coverage", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        delay = self.first_delay
        while not self._stop.wait(delay):
            delay = self.period
            try:
                report(coverage(self.settings, self.kinds, list(self.settings.namespaces), self.list_page))
            except Exception as exc:  # the API is unreachable or the list is forbidden: try next period
                log.warning("shards: the coverage check could not list the objects: %s", exc)
