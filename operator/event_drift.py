"""Event-driven drift in the operator: which objects manage which AWS names, one consumer per event
queue, and the nudge that makes the drift scheduler check an object now.

With `AWSOP_EVENT_DRIFT=true`, every (account, region) that objects use (the operator's own credentials,
or an AWSAccount with `spec.eventDrift: true`) gets a channel (reconcilers/events.py: an SQS queue and an
EventBridge rule awsop owns). A manager thread makes and re-checks the channels and writes a heartbeat tag
on each queue (its CloudTrail event proves that events arrive); a consumer thread per channel long-polls
its queue, maps each CloudTrail event to the objects that manage the named resource (`ResourceIndex`, fed
by every reconcile) and asks for a drift check. Events within `DEBOUNCE_SECONDS` of the first give one
check; awsop's own calls, resources no object manages and malformed messages are counted and deleted,
never retried. While events arrive, the periodic check of the channel's objects lengthens to
`event_drift_resync_seconds`; when the queue or rule is missing or no event came for
`event_drift_silence_seconds`, the normal period applies again and the AWSAccount's `EventsArriving`
condition says why.

It never writes to AWS for an object (a check is the engine's: reads only unless driftPolicy Correct)
and never calls kopf.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from awsop.reconcilers.account import ResolvedAccount
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, Outcome
from awsop.reconcilers.errors import error_code
from awsop.reconcilers.events import (
    Channel,
    ChannelError,
    EventChannels,
    MalformedEvent,
    is_own,
    parse_event,
    resource_keys,
)
from awsop.reconcilers.sqs_queue import NOT_FOUND_CODES

from . import metrics
from .runtime import ObjectRegistry, ObjectState
from .settings import Settings

log = logging.getLogger("awsop")

DEBOUNCE_SECONDS = 1.0
"""Events for one object within this long of the first give one check."""
COVERED_MARGIN_SECONDS = 2.0
"""An event this much older than the start of the object's last event-driven check was seen by it
(CloudTrail's eventTime has whole seconds; one more second for clock skew)."""
RETRY_SECONDS = 10.0
"""A channel that could not be made or read is tried again this soon (growing to the heartbeat period)."""
ChannelKey = tuple[str, str]  # (AWSAccount name, "" for the operator's own credentials; region)
ConditionWriter = Callable[[str, dict[str, Any]], None]


class ResourceIndex:
    """(account, region) -> (kind, AWS name or id) -> object uids, kept current by every reconcile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[ChannelKey, dict[tuple[str, str], set[str]]] = {}
        self._by_uid: dict[str, tuple[ChannelKey, tuple[tuple[str, str], ...]]] = {}
        self._accounts: dict[ChannelKey, ResolvedAccount | None] = {}

    def record(
        self, uid: str, kind: str, account: ResolvedAccount | None, region: str, names: list[str]
    ) -> None:
        key = ((account.name if account else ""), region)
        entries = tuple(sorted({(kind, n) for n in names if n}))
        with self._lock:
            if self._by_uid.get(uid) == (key, entries):
                self._accounts[key] = account
                return
            self._drop(uid)
            self._by_uid[uid] = (key, entries)
            self._accounts[key] = account
            names_of = self._names.setdefault(key, {})
            for entry in entries:
                names_of.setdefault(entry, set()).add(uid)

    def forget(self, uid: str) -> None:
        with self._lock:
            self._drop(uid)

    def _drop(self, uid: str) -> None:
        old = self._by_uid.pop(uid, None)
        if old is None:
            return
        key, entries = old
        names_of = self._names.get(key, {})
        for entry in entries:
            users = names_of.get(entry, set())
            users.discard(uid)
            if not users:
                names_of.pop(entry, None)
        if not names_of:
            self._names.pop(key, None)
            self._accounts.pop(key, None)

    def lookup(self, key: ChannelKey, kind: str, name: str) -> set[str]:
        with self._lock:
            return set(self._names.get(key, {}).get((kind, name), ()))

    def channel_of(self, uid: str) -> ChannelKey | None:
        with self._lock:
            entry = self._by_uid.get(uid)
            return entry[0] if entry else None

    def in_use(self) -> dict[ChannelKey, ResolvedAccount | None]:
        """The (account, region) pairs objects use now, with the account they resolved."""
        with self._lock:
            return dict(self._accounts)


@dataclass
class ChannelState:
    """One channel in this process: its AWS side, its consumer and what it has seen."""

    key: ChannelKey
    account: ResolvedAccount | None
    channel: Channel | None = None
    reason: str = "Starting"
    message: str = "making the event queue and rule"
    last_event: float | None = None  # monotonic time the last event (any) arrived
    next_ensure: float = 0.0
    failures: int = 0
    heartbeat_at: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class EventDrift:
    """The manager: channels per (account, region) in use, their consumers, and the nudges."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        objects: ObjectRegistry,
        write_condition: ConditionWriter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.objects = objects
        self.index = ResourceIndex()
        self.channels_aws = EventChannels(engine, shard=settings.shard)
        self.write_condition = write_condition
        self.clock = clock
        self.session_name = engine.clients.config.session_name
        self._lock = threading.Lock()
        self._nudges = threading.Lock()  # guards the objects' event_* fields (ObjectState)
        self._channels: dict[ChannelKey, ChannelState] = {}
        self._conditions: dict[str, dict[str, Any]] = {}  # account name -> last condition told
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checks = 0  # event-driven checks started in this process (tests and logs)

    # -- what the handlers call ---------------------------------------------------------------------

    def record(self, uid: str, kind: str, account: ResolvedAccount | None, outcome: Outcome) -> None:
        """After a reconcile: the names and ids AWS knows the object's resource by."""
        plan = outcome.plan
        if not uid or not plan.aws_name or not plan.region:
            return
        if account is not None and account.denial is not None:
            return
        names = [plan.aws_name, str(outcome.status.get("id") or "")]
        self.index.record(uid, kind, account, plan.region, names)

    def forget(self, uid: str) -> None:
        self.index.forget(uid)

    def period(self, uid: str, default: float) -> float:
        """The object's periodic check interval: long while its channel brings events."""
        key = self.index.channel_of(uid)
        if key is None or not self.flowing(key):
            return default
        return max(default, self.settings.event_drift_resync_seconds)

    def take(self, state: ObjectState) -> float | None:
        """Called with the object's lock held when its event-driven check starts: clears the request and
        returns the (wall) time of the earliest event it answers."""
        with self._nudges:
            first = state.event_time
            state.event_due = None
            state.event_time = None
            state.event_checked = time.time()
            self.checks += 1
        return first

    def checked(self, first_event: float | None) -> None:
        if first_event is not None:
            metrics.DRIFT_EVENT_LATENCY.observe(max(0.0, time.time() - first_event))

    # -- channels -----------------------------------------------------------------------------------

    def enabled(self, account: ResolvedAccount | None) -> bool:
        return self.settings.event_drift and (account is None or not account.name or account.event_drift)

    def flowing(self, key: ChannelKey) -> bool:
        """Whether events arrive on the channel of `key` (the periodic check may be long)."""
        with self._lock:
            state = self._channels.get(key)
            return state is not None and self._flowing(state, self.clock())

    def _flowing(self, state: ChannelState, now: float) -> bool:
        if state.reason != "EventsArriving" or state.last_event is None:
            return False
        return now - state.last_event < self.settings.event_drift_silence_seconds

    def state_of(self, key: ChannelKey) -> ChannelState | None:
        with self._lock:
            return self._channels.get(key)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="awsop-event-drift", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for state in self._channels.values():
                state.stop.set()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.run_once(start_consumers=True)
            except Exception:  # never let one round stop event-driven drift for good
                log.exception("event drift: round failed")

    def run_once(self, start_consumers: bool = False) -> None:
        """One round of the manager: make or re-check due channels, start consumers, publish state."""
        now = self.clock()
        wanted = {k: a for k, a in self.index.in_use().items() if self.enabled(a)}
        with self._lock:
            for key, account in wanted.items():
                if key not in self._channels:
                    self._channels[key] = ChannelState(key, account)
                else:
                    self._channels[key].account = account
            gone = [k for k in self._channels if k not in wanted]
            for key in gone:
                self._channels.pop(key).stop.set()  # the queue and rule stay in AWS (docs/event-drift.md)
            for state in self._channels.values():
                if state.reason == "EventsArriving" and not self._flowing(state, now):
                    # silence: the rule or the trail may be gone; look now, poll normally meanwhile
                    state.reason = "NoRecentEvents"
                    state.message = f"no event for {self.settings.event_drift_silence_seconds:.0f} s"
                    state.next_ensure = now
            due = [s for s in self._channels.values() if now >= s.next_ensure]
        for state in due:
            self.ensure(state)
            if start_consumers and state.channel is not None and state.thread is None:
                state.thread = threading.Thread(
                    target=self._consume, args=(state,), name=f"awsop-events-{state.key[1]}", daemon=True
                )
                state.thread.start()
        self.publish()
        with self._lock:
            beats = [s for s in self._channels.values() if s.channel is not None and now >= s.heartbeat_at]
        for state in beats:
            self.heartbeat(state)

    def ensure(self, state: ChannelState) -> None:
        """Make or check one channel (queue and rule)."""
        account = state.account
        region = state.key[1]
        clients = self.engine.clients
        try:
            account_id = clients.account_id(account) or ""
            if not account_id:
                raise ChannelError(
                    "AccountUnknown", "the account id is not known yet (sts:GetCallerIdentity)"
                )
            channel = self.channels_aws.ensure(region, account_id, ReconcileContext(account=account))
        except ChannelError as exc:
            self._failed(state, exc.reason, exc.message)
            return
        except Exception as exc:  # classified by AWS's code; the channel waits and is tried again
            self._failed(state, error_code(exc) or type(exc).__name__, str(exc)[:500])
            return
        now = self.clock()
        with self._lock:
            first = state.channel is None
            repaired = not first and bool(channel.writes)  # events were lost meanwhile
            state.channel = channel
            state.failures = 0
            # the queue and rule are read again hourly (the resync period), after a silence, and at once when
            # a receive finds the queue gone; the heartbeat proves the path in between
            state.next_ensure = now + self.settings.event_drift_resync_seconds
            if state.reason not in ("EventsArriving", "NoRecentEvents") or repaired:
                state.reason = "NoRecentEvents"
                state.message = (
                    f"the event queue or rule had changed and was put back ({', '.join(channel.writes)}); "
                    "no event since"
                    if repaired
                    else "the event queue and rule are ready; no event yet"
                )
                state.last_event = None

        if first or repaired:
            log.info(
                "event drift %s/%s: reading %s (rule %s)%s",
                state.key[0] or "operator",
                region,
                channel.queue_url,
                channel.rule_arn,
                f"; put back: {', '.join(channel.writes)}" if repaired else "",
            )

    def heartbeat(self, state: ChannelState) -> None:
        """Tag the queue with the time: its CloudTrail event proves that events arrive."""
        if state.channel is None:
            return
        try:
            self.channels_aws.heartbeat(state.channel, state.account)
        except Exception as exc:  # tried again next round; a missing heartbeat only shortens polling
            log.warning("event drift %s/%s: heartbeat not written: %s", state.key[0], state.key[1], exc)
            return
        state.heartbeat_at = self.clock() + self.settings.event_drift_heartbeat_seconds

    def _failed(self, state: ChannelState, reason: str, message: str) -> None:
        with self._lock:
            state.failures += 1
            delay = min(
                RETRY_SECONDS * 2 ** (state.failures - 1), self.settings.event_drift_heartbeat_seconds
            )
            state.next_ensure = self.clock() + delay
            state.reason, state.message = reason, message
            state.last_event = None
        log.warning(
            "event drift %s/%s: %s: %s", state.key[0] or "operator", state.key[1], reason, message[:300]
        )

    # -- consuming ----------------------------------------------------------------------------------

    def _consume(self, state: ChannelState) -> None:
        while not state.stop.is_set() and not self._stop.is_set():
            try:
                if not self.pump(state):
                    state.stop.wait(1.0)
            except Exception:
                log.exception("event drift %s/%s: consumer round failed", *state.key)
                state.stop.wait(RETRY_SECONDS)

    def pump(self, state: ChannelState, wait_seconds: int | None = None) -> bool:
        """One receive, its events handled and deleted; False when the queue could not be read."""
        channel = state.channel
        if channel is None:
            return False
        wait = self.settings.event_drift_wait_seconds if wait_seconds is None else wait_seconds
        try:
            messages = self.channels_aws.receive(channel, state.account, wait)
        except ClientError as exc:
            code = error_code(exc)
            if code in NOT_FOUND_CODES:
                self._missing(state)
            else:
                self._failed(state, code or "ReceiveFailed", f"receiving from {channel.queue_url}: {exc}")
            return False
        if not messages:
            return True
        handles = [handle for handle, _ in messages]
        self.handle(state, [body for _, body in messages])
        self.channels_aws.delete(channel, state.account, handles)
        return True

    def _missing(self, state: ChannelState) -> None:
        with self._lock:
            state.reason = "QueueMissing"
            state.message = "the event queue was deleted: awsop makes it again"
            state.last_event = None
            state.next_ensure = self.clock()  # the manager's next round makes it again
        log.warning(
            "event drift %s/%s: event queue missing; making it again",
            state.key[0] or "operator",
            state.key[1],
        )

    def handle(self, state: ChannelState, bodies: list[str]) -> None:
        """Map each message to objects and nudge them; every message is consumed (never retried)."""
        for body in bodies:
            metrics.DRIFT_EVENTS_RECEIVED.inc()
            try:
                event = parse_event(body)
            except MalformedEvent as exc:
                metrics.DRIFT_EVENTS.labels("malformed").inc()
                log.warning("event drift %s/%s: malformed message deleted: %s", *state.key, exc)
                continue
            self._arrived(state)
            if is_own(event, self.engine.config.cluster_id, self.session_name):
                metrics.DRIFT_EVENTS.labels("own").inc()
                continue
            uids = {
                uid
                for key in resource_keys(event)
                for uid in self.index.lookup(state.key, key.kind, key.name)
            }
            if not uids:
                metrics.DRIFT_EVENTS.labels("unmanaged").inc()
                continue
            metrics.DRIFT_EVENTS.labels("matched").inc()
            stamp = event.time.timestamp() if event.time is not None else time.time()
            for uid in uids:
                self.nudge(uid, stamp)

    def _arrived(self, state: ChannelState) -> None:
        with self._lock:
            state.last_event = self.clock()
            state.reason, state.message = "EventsArriving", "CloudTrail events arrive"

    def nudge(self, uid: str, event_time: float) -> None:
        """Ask for a check of the object `DEBOUNCE_SECONDS` from the first event (later ones join it), unless
        the object's last event-driven check started after the change."""
        if uid not in self.objects:
            return
        state = self.objects.get(uid)
        with self._nudges:  # not the object's lock: a check may hold that for seconds
            if state.event_checked is not None and event_time + COVERED_MARGIN_SECONDS <= state.event_checked:
                metrics.DRIFT_EVENTS_COVERED.inc()
                return
            if state.event_due is None:
                state.event_due = self.clock() + DEBOUNCE_SECONDS
            state.event_time = min(state.event_time or event_time, event_time)
        self.objects.wake(uid)

    # -- status and metrics -------------------------------------------------------------------------

    def condition_of(self, account: str) -> dict[str, Any] | None:
        """The EventsArriving condition of an AWSAccount (None when event-driven drift is not on for it)."""
        with self._lock:
            states = [s for k, s in self._channels.items() if k[0] == account]
        if not states:
            return None
        flowing = [s for s in states if self.flowing(s.key)]
        if len(flowing) == len(states):
            regions = ", ".join(sorted(s.key[1] for s in states))
            return {
                "type": "EventsArriving",
                "status": "True",
                "reason": "EventsArriving",
                "message": f"CloudTrail events arrive in {regions}",
            }
        worst = next(s for s in sorted(states, key=lambda s: s.key) if s not in flowing)
        reason = worst.reason if worst.reason != "EventsArriving" else "NoRecentEvents"
        message = (
            worst.message
            if reason != "NoRecentEvents" or worst.reason != "EventsArriving"
            else (f"no event for {self.settings.event_drift_silence_seconds:.0f} s")
        )
        return {
            "type": "EventsArriving",
            "status": "False",
            "reason": reason,
            "message": f"{worst.key[1]}: {message}; objects there are checked every "
            f"{self.settings.resync_seconds:.0f} s",
        }

    def publish(self) -> None:
        """Gauges per channel, and the AWSAccount conditions that changed."""
        with self._lock:
            keys = list(self._channels)
        for key in keys:
            label = key[0] or "operator"
            flowing = self.flowing(key)
            metrics.DRIFT_EVENTS_FLOWING.labels(label, key[1]).set(1 if flowing else 0)
            period = self.settings.resync_seconds
            if flowing:
                period = max(period, self.settings.event_drift_resync_seconds)
            metrics.RESYNC_PERIOD.labels(label, key[1]).set(period)
        for account in sorted({k[0] for k in keys if k[0]}):
            condition = self.condition_of(account)
            if condition is None or self._conditions.get(account) == condition:
                continue
            self._conditions[account] = condition
            if self.write_condition is not None:
                try:
                    self.write_condition(account, condition)
                except Exception as exc:
                    log.warning("AWSAccount %s: EventsArriving not written: %s", account, exc)
