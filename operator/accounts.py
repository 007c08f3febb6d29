"""AWSAccount in the operator: the directory objects resolve their account from, and the account handler.

kopf events keep an in-memory copy of every AWSAccount spec and of every namespace's labels and
annotations; a reconcile resolves its object's account from it. A cache miss reads the Kubernetes API
directly (right after a start the caches are still filling), so an object is never reconciled with the
operator's own credentials because its namespace's annotation had not been seen yet.

The AWSAccount handler assumes the role and asks GetCallerIdentity: status gets the account id, Ready
(AWS's reason when the role cannot be assumed) and the number of objects this process reconciles with
the account. Nothing here logs credentials; the account's session lives in the client factory.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import kopf
from pydantic import ValidationError

from awsop.reconcilers.account import (
    NOT_ALLOWED,
    AccountRef,
    AWSAccountSpec,
    ResolvedAccount,
    resolve_account,
)
from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.engine import ObjectRef
from awsop.reconcilers.errors import (
    AwsopError,
    RecoverableError,
    backoff_delay,
    classify,
    error_code,
    error_message,
)
from awsop.reconcilers.kinds import CONFIG_KINDS, VERSION, KindInfo

from . import kube, sharding
from .events import EventSink
from .manifests import format_validation_error
from .settings import Settings
from .status import F, T

log = logging.getLogger("awsop")
INFO = CONFIG_KINDS["AWSAccount"]
NamespaceMeta = tuple[dict[str, str], dict[str, str]]  # labels, annotations
GONE_REMEMBERED = 10_000  # uids of deleted objects remembered (a late drift check must not count them)


class AccountDirectory:
    """AWSAccount specs, namespace metadata and which object uses which account; thread-safe."""

    def __init__(
        self,
        require_account: bool = False,
        read_namespace: Callable[[str], NamespaceMeta | None] | None = None,
        read_account: Callable[[str], dict[str, Any] | None] | None = None,
        retry: Callable[[ObjectRef], None] | None = None,
    ) -> None:
        """`retry` asks for a new reconcile of an object that was denied its account, once a change to
        the account or the namespace may now allow it (a terminal denial is not retried otherwise).
        `users_changed` (set by the account checker) hears the name of every account whose users moved."""
        self.require_account = require_account
        self._retry = retry
        self.users_changed: Callable[[str], None] | None = None
        self._denied: dict[str, tuple[ObjectRef, str]] = {}  # uid -> (object, account) AccountNotAllowed
        self._read_namespace = read_namespace
        self._read_account = read_account
        self._accounts: dict[str, AWSAccountSpec] = {}
        self._deleted: dict[str, AWSAccountSpec] = {}  # last spec of deleted accounts, for deletions
        self._namespaces: dict[str, NamespaceMeta] = {}
        self._users: dict[str, tuple[str, str]] = {}  # object uid -> (account name, "Kind ns/name")
        # uids forgotten (deleted objects): a drift check that began before the deletion and resolves the
        # account after it must not count the object again (uids are never reused)
        self._gone: OrderedDict[str, None] = OrderedDict()
        self._ever_used: set[str] = set()  # accounts this process has seen a user of since it started
        self._lock = threading.Lock()

    def put_account(self, name: str, spec: AWSAccountSpec | None) -> None:
        with self._lock:
            if spec is None:
                gone = self._accounts.pop(name, None)
                if gone is not None:
                    self._deleted[name] = gone
                return
            changed = self._accounts.get(name) != spec
            self._accounts[name] = spec
            self._deleted.pop(name, None)
            again = [ref for ref, account in self._denied.values() if account == name] if changed else []
        self._ask_again(again)

    def put_namespace(self, name: str, meta: NamespaceMeta | None) -> None:
        with self._lock:
            if meta is None:
                self._namespaces.pop(name, None)
                return
            changed = self._namespaces.get(name) != meta
            self._namespaces[name] = meta
            again = [ref for ref, _ in self._denied.values() if ref.namespace == name] if changed else []
        self._ask_again(again)

    def _ask_again(self, refs: list[ObjectRef]) -> None:
        for ref in refs:
            if self._retry is not None:
                try:
                    self._retry(ref)
                except Exception as exc:  # the object may be gone; its next change reconciles it anyway
                    log.warning(
                        "%s %s/%s: reconcile not requested: %s", ref.kind, ref.namespace, ref.name, exc
                    )

    def resolve(
        self,
        namespace: str,
        account_ref: AccountRef | None,
        uid: str = "",
        deleting: bool = False,
        ref: ObjectRef | None = None,
    ) -> ResolvedAccount:
        """The account an object uses; a denial (never the operator's credentials) when unsure.

        An object being deleted may still use the last spec of an AWSAccount deleted while this process
        ran (its grants still apply), so deleting an account and its users together does not leave the
        users' finalizers stuck."""
        meta = self._namespace(namespace)
        if meta is None:
            return ResolvedAccount(
                denial=RecoverableError(
                    "NamespaceUnknown", f"namespace {namespace} could not be read: its account is not known"
                )
            )
        labels, annotations = meta
        name = account_ref.name if account_ref else annotations.get("awsop.io/account", "").strip()
        accounts: dict[str, AWSAccountSpec] = {}
        if name:
            try:
                spec = self._account(name)
            except AwsopError as exc:
                return ResolvedAccount(name=name, denial=exc)
            if spec is None and deleting:
                with self._lock:
                    spec = self._deleted.get(name)
            if spec is not None:
                accounts[name] = spec
        resolved = resolve_account(
            namespace, account_ref, annotations, labels, accounts, require_account=self.require_account
        )
        if uid:
            label = f"{ref.kind} {ref.namespace}/{ref.name}" if ref is not None else uid
            with self._lock:
                if uid in self._gone:
                    return resolved
                before = self._users.get(uid)
                if resolved.denial is None and resolved.name:
                    self._users[uid] = (resolved.name, label)
                    self._ever_used.add(resolved.name)
                else:
                    self._users.pop(uid, None)
                after = self._users.get(uid)
                if ref is not None and resolved.denial is not None and resolved.denial.reason == NOT_ALLOWED:
                    self._denied[uid] = (ref, resolved.name)
                else:
                    self._denied.pop(uid, None)
            self._moved(before, after)
        return resolved

    def forget(self, uid: str, gone: bool = True) -> None:
        """Stop counting the object. `gone`: deleted, never to be counted again (a late check of it must
        not count it); else it only left this shard and is counted again if it comes back."""
        with self._lock:
            before = self._users.pop(uid, None)
            self._denied.pop(uid, None)
            if gone:
                self._gone[uid] = None
            else:
                self._gone.pop(uid, None)
            while len(self._gone) > GONE_REMEMBERED:
                self._gone.popitem(last=False)
        self._moved(before, None)

    def _moved(self, before: tuple[str, str] | None, after: tuple[str, str] | None) -> None:
        """Tell the checker about the accounts whose users changed (outside the lock)."""
        if before == after or self.users_changed is None:
            return
        for entry in {before, after}:
            if entry is not None:
                self.users_changed(entry[0])

    def users_of(self, name: str) -> int:
        with self._lock:
            return sum(1 for account, _ in self._users.values() if account == name)

    def ever_used(self, name: str) -> bool:
        """Whether this process has counted a user of account `name` since it started."""
        with self._lock:
            return name in self._ever_used

    def user_names(self, name: str) -> list[str]:
        """The objects this process reconciles with account `name` ("Kind namespace/name"), sorted."""
        with self._lock:
            return sorted(label for account, label in self._users.values() if account == name)

    def uses(self, body: dict[str, Any], name: str) -> bool:
        """Whether the object `body` (of an AWS kind) uses account `name`: its spec.accountRef, else its
        namespace's awsop.io/account annotation (from the cache, else one read)."""
        ref = ((body.get("spec") or {}).get("accountRef") or {}).get("name")
        if ref:
            return bool(ref == name)
        namespace = (body.get("metadata") or {}).get("namespace") or ""
        meta = self._namespace(namespace)
        return meta is not None and meta[1].get("awsop.io/account", "").strip() == name

    def _namespace(self, namespace: str) -> NamespaceMeta | None:
        with self._lock:
            cached = self._namespaces.get(namespace)
        if cached is not None or self._read_namespace is None:
            return cached if cached is not None else ({}, {})
        try:
            meta = self._read_namespace(namespace)
        except Exception as exc:  # API unreachable: unknown, never "no annotation"
            log.warning("reading namespace %s failed: %s", namespace, exc)
            return None
        if meta is not None:
            self.put_namespace(namespace, meta)
        return meta

    def _account(self, name: str) -> AWSAccountSpec | None:
        with self._lock:
            cached = self._accounts.get(name)
        if cached is not None or self._read_account is None:
            return cached
        try:
            raw = self._read_account(name)
        except Exception as exc:
            raise RecoverableError("AccountUnknown", f"AWSAccount {name} could not be read: {exc}") from None
        if raw is None:
            return None
        try:
            spec = AWSAccountSpec.model_validate(raw.get("spec") or {})
        except ValidationError as exc:
            raise RecoverableError(
                "AccountInvalid", f"AWSAccount {name} is invalid: {format_validation_error(exc)}"
            ) from None
        self.put_account(name, spec)
        return spec


def kube_directory(settings: Settings) -> AccountDirectory:
    """The operator's directory: cache misses read the API through the kubernetes client; an object
    denied its account is asked to reconcile again (awsop.io/reconcile-requested-at) when its account or
    its namespace changes."""

    def retry(ref: ObjectRef) -> None:
        from awsop.reconcilers.kinds import KINDS

        stamp = f"account-change-{time.time():.0f}"
        kube.annotate(KINDS[ref.kind], ref.namespace, ref.name, {"awsop.io/reconcile-requested-at": stamp})

    return AccountDirectory(
        settings.require_account, kube.read_namespace, kube.read_cluster_object(INFO), retry
    )


# -- handlers ---------------------------------------------------------------------------------------


class AccountRuntime:
    """What the AWSAccount handlers share (set by the operator's start-up)."""

    directory: AccountDirectory
    clients: AwsClients
    settings: Settings
    event_condition: Callable[[str], dict[str, Any] | None] | None = None  # EventsArriving (event_drift.py)


def account_event(name: str, spec: Any, type: str | None, **_: Any) -> None:
    """Every AWSAccount event: keep the directory's copy current (deleted = forgotten)."""
    if type == "DELETED":
        AccountRuntime.directory.put_account(name, None)
        return
    try:
        AccountRuntime.directory.put_account(name, AWSAccountSpec.model_validate(dict(spec or {})))
    except ValidationError:
        AccountRuntime.directory.put_account(name, None)


def namespace_event(name: str, meta: Any, type: str | None, **_: Any) -> None:
    """Every namespace event: labels and annotations, for grants and the awsop.io/account annotation."""
    if type == "DELETED":
        AccountRuntime.directory.put_namespace(name, None)
        return
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    AccountRuntime.directory.put_namespace(name, (labels, annotations))


def check_account(
    name: str, body: Any, meta: Any, spec: Any, status: Any, patch: Any, retry: int = 0, **_: Any
) -> tuple[bool, float]:
    """Assume the account's role and ask who it is; write status. Returns (Ready, seconds until the next
    check): the check period when Ready, else the backoff of the error's class (long for AccessDenied)."""
    settings = AccountRuntime.settings
    generation = int(meta.get("generation") or 0)
    previous = dict(status or {})
    try:
        parsed = AWSAccountSpec.model_validate(dict(spec or {}))
    except ValidationError as exc:
        message = format_validation_error(exc)
        _status(patch, previous, generation, F, "InvalidSpec", message)
        raise kopf.PermanentError(f"invalid spec: {message}") from None
    AccountRuntime.directory.put_account(name, parsed)
    account = ResolvedAccount.of(name, parsed)
    directory = AccountRuntime.directory
    # a process that has counted no user of the account yet (just started, or a standby replica) keeps
    # the count it finds: the account checker follows the users from the first one on
    objects = directory.users_of(name) if directory.ever_used(name) else previous.get("objects", 0)
    if sharding.sharded(settings):  # the count is the sum of the shards' parts: the checker keeps it
        objects = previous.get("objects", 0)
    try:
        identity = AccountRuntime.clients.caller_identity(account)
    except Exception as exc:  # classified: an Access error waits long, anything else backs off
        error_class = classify(exc)
        reason = exc.reason if isinstance(exc, AwsopError) else error_code(exc)
        message = error_message(exc)
        _status(patch, previous, generation, F, reason, message, objects=objects)
        log.warning("AWSAccount %s: %s: %s", name, reason, message[:300])
        return False, backoff_delay(
            retry,
            error_class,
            cap=settings.max_backoff_seconds,
            access_delay=settings.access_denied_backoff_seconds,
        )
    message = f"assumed {parsed.role_arn} as {identity['Arn']}"
    events = AccountRuntime.event_condition(name) if AccountRuntime.event_condition else None
    _status(
        patch,
        previous,
        generation,
        T,
        "RoleAssumed",
        message,
        objects=objects,
        accountId=identity["Account"],
        arn=identity["Arn"],
        extra=[events] if events is not None and parsed.event_drift else [],
    )
    if identity["Account"] != account.account_id:
        log.warning(
            "AWSAccount %s: role ARN names %s, STS says %s", name, account.account_id, identity["Account"]
        )
    return True, settings.account_check_seconds


def _status(
    patch: Any,
    previous: dict[str, Any],
    generation: int,
    ready: str,
    reason: str,
    message: str,
    extra: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> None:
    """Ready (and the `extra` conditions, e.g. EventsArriving), each with its transition time."""
    from awsop.reconcilers.engine import now_rfc3339

    conditions = []
    for wanted in [{"type": "Ready", "status": ready, "reason": reason, "message": message}, *(extra or [])]:
        kind = wanted["type"]
        old: dict[str, Any] = next((c for c in previous.get("conditions", []) if c.get("type") == kind), {})
        changed = old.get("status") != wanted["status"]
        conditions.append(
            {
                **wanted,
                "message": str(wanted["message"])[:1024],
                "lastTransitionTime": now_rfc3339() if changed or not old else old.get("lastTransitionTime"),
                "observedGeneration": generation,
            }
        )
    new = {"observedGeneration": generation, "conditions": conditions, **fields}
    for key, value in new.items():
        if previous.get(key) != value:
            patch.status[key] = value
    if ready == T:
        patch.status["lastCheckTime"] = now_rfc3339()


ACCOUNT_FINALIZER = "awsop.io/account-in-use"
IN_USE = "InUse"
CLUSTER_LOOK_SECONDS = 5.0  # how often a deleted account with no known users lists the cluster for some


class AccountChecker:
    """One background thread that checks every AWSAccount when it appears or its spec changes, then every
    `account_check_seconds` (on the error's backoff while it fails), and keeps each account's users in
    its status and metadata within a second of a change:

    - `status.objects` (the OBJECTS column) follows the number of objects this process reconciles with
      the account, written only when the number changed (no status churn);
    - an account that objects use carries the finalizer `awsop.io/account-in-use`, so deleting it (for
      example with `kubectl delete` of a category) waits until no object uses it: meanwhile Ready is False
      with reason InUse naming the users, and an InUse Event says the same. The finalizer goes as soon as
      no object uses the account (deleted or not); before it goes for a deleted account, the objects of
      every kind in the cluster are listed once more (users another shard or the time before a restart
      may hide), unless the operator may not list them cluster-wide.

    A kopf handler per AWSAccount would put kopf's finalizer on every account: an account nobody uses
    should never block its own deletion (nor outlive an uninstalled operator)."""

    def __init__(
        self,
        settings: Settings,
        directory: AccountDirectory | None = None,
        events: EventSink | None = None,
        list_objects: Callable[[KindInfo], list[dict[str, Any]]] | None = None,
        write: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.events = events
        self._list_objects = list_objects if list_objects is not None else kube.list_cluster_objects
        self._write = write if write is not None else (lambda name, body: kube.patch(INFO, "", name, body))
        self._bodies: dict[str, dict[str, Any]] = {}
        self._due: dict[str, tuple[float, Any, int]] = {}  # name -> (when, generation checked, retry)
        self._dirty: set[str] = set()  # accounts whose users changed since the last round
        self._written: dict[str, dict[str, Any]] = {}  # what was last written per account (bodies lag)
        self._looked: dict[str, float] = {}  # deleted account -> when the cluster was last listed for it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if directory is not None:
            directory.users_changed = self.users_changed

    def seen(self, name: str, body: dict[str, Any] | None) -> None:
        with self._lock:
            if body is None:
                self._bodies.pop(name, None)
                self._due.pop(name, None)
                self._written.pop(name, None)
                self._looked.pop(name, None)
            else:
                self._bodies[name] = body
                self._dirty.add(name)

    def refresh(self, name: str) -> None:
        """Check (and write the status of) account `name` in the next round, e.g. when whether its events
        arrive changed."""
        with self._lock:
            _when, checked, retry = self._due.get(name, (0.0, None, 0))
            self._due[name] = (0.0, checked, retry)

    def users_changed(self, name: str) -> None:
        with self._lock:
            self._dirty.add(name)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="awsaccount-checker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.run_due(time.monotonic())

    def run_due(self, now: float) -> None:
        with self._lock:
            work = []
            deleting = []
            for name, body in self._bodies.items():
                if body.get("metadata", {}).get("deletionTimestamp"):
                    deleting.append((name, body))
                    continue
                generation = body.get("metadata", {}).get("generation")
                when, checked, retry = self._due.get(name, (0.0, None, 0))
                if generation != checked or now >= when:
                    work.append((name, body, retry if generation == checked else 0))
            dirty = [(n, b) for n, b in self._bodies.items() if n in self._dirty]
            self._dirty.clear()
        if not sharding.writes_status(self.settings):
            work, deleting = [], []  # the first shard checks roles and holds deleted accounts
        for name, body, retry in work:
            meta = body.get("metadata", {})
            patch = kopf.Patch()
            try:
                ready, delay = check_account(
                    name, body, meta, body.get("spec"), body.get("status"), patch, retry
                )
            except kopf.PermanentError:
                ready, delay = True, float("inf")  # invalid: nothing to do until the spec changes
            except Exception:  # never let one account stop the checks of the others
                log.exception("AWSAccount %s: check failed", name)
                ready, delay = False, self.settings.max_backoff_seconds
            with self._lock:
                self._due[name] = (now + delay, meta.get("generation"), 0 if ready else retry + 1)
            if patch:
                self._patch(name, dict(patch))
        for name, body in deleting:
            self._hold_while_used(name, body, now)
        for name, body in dirty:
            if not body.get("metadata", {}).get("deletionTimestamp"):
                self._follow_users(name, body)

    def _known(self, name: str, body: dict[str, Any]) -> tuple[Any, list[str]]:
        """The objects count and finalizers as last written by this process, else as the body has them."""
        with self._lock:
            written = dict(self._written.get(name, {}))
        objects = written.get("objects", (body.get("status") or {}).get("objects"))
        finalizers = written.get("finalizers", list(body.get("metadata", {}).get("finalizers") or []))
        return objects, list(finalizers)

    def _follow_users(self, name: str, body: dict[str, Any]) -> None:
        """status.objects and the in-use finalizer of an account that is not being deleted.

        A count of 0 counts only once this process has counted a user of the account: right after a
        start the objects are not resumed yet, and a standby replica (peering) reconciles none; neither
        may empty the column or drop the finalizer. (A deleted account is judged by listing the cluster.)"""
        if self.directory is None:
            return
        count = self.directory.users_of(name)
        used = self.directory.ever_used(name)
        patch: dict[str, Any] = {}
        if sharding.sharded(self.settings):
            total = self._sharded_count(name, body, count if used else None, patch)
            if total is None:
                self._send(name, patch)  # only this shard's part
                return
            count = total
        elif not count and not used:
            return
        objects, finalizers = self._known(name, body)
        if objects != count:
            patch.setdefault("status", {})["objects"] = count
        if count and ACCOUNT_FINALIZER not in finalizers:
            patch["metadata"] = {"finalizers": [*finalizers, ACCOUNT_FINALIZER]}
        elif not count and ACCOUNT_FINALIZER in finalizers:
            patch["metadata"] = {"finalizers": [f for f in finalizers if f != ACCOUNT_FINALIZER]}
        self._send(name, patch)

    def _send(self, name: str, patch: dict[str, Any]) -> None:
        shard = patch.pop("shard", None)
        if patch:
            self._patch(name, patch, shard=shard)

    def _sharded_count(
        self, name: str, body: dict[str, Any], own: int | None, patch: dict[str, Any]
    ) -> int | None:
        """With shards: publish this shard's count (`own`, None before it counted a user) in
        `status.shards`; the first shard gets the sum over the shards, the others None (they write
        neither `objects` nor the finalizer)."""
        status = body.get("status") or {}
        shard = self.settings.shard
        with self._lock:
            published = self._written.get(name, {}).get("shard")
        if own is not None and published != own:
            sharding.publish(patch, status, shard, {"objects": own})
            if patch:
                patch["shard"] = own  # remembered by _patch (bodies lag), never sent
        if not sharding.writes_status(self.settings):
            return None
        mine = own if own is not None else sharding.shard_entry(status, shard).get("objects", 0)
        return sharding.total(self.settings, status, {"objects": mine}, "objects", patch)

    def _hold_while_used(self, name: str, body: dict[str, Any], now: float) -> None:
        """A deleted account keeps its finalizer while objects use it, and says which."""
        if self.directory is None:
            return
        objects, finalizers = self._known(name, body)
        if ACCOUNT_FINALIZER not in finalizers:
            return  # nobody used it when it was deleted: the API server removes it
        # with shards, this process knows its own users only: the cluster is listed instead
        users = [] if sharding.sharded(self.settings) else self.directory.user_names(name)
        if not users:
            with self._lock:
                looked = self._looked.get(name)
                if looked is not None and now - looked < CLUSTER_LOOK_SECONDS:
                    return
                self._looked[name] = now
            try:
                users = self._cluster_users(name)
            except Exception as exc:  # unknown: keep the finalizer and look again
                log.warning("AWSAccount %s: its users could not be listed: %s", name, exc)
                return
        if not users:
            self._patch(name, {"metadata": {"finalizers": [f for f in finalizers if f != ACCOUNT_FINALIZER]}})
            log.info("AWSAccount %s: deleted and no longer in use: finalizer removed", name)
            return
        shown = ", ".join(users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
        message = (
            f"AWSAccount {name} is being deleted but {len(users)} objects still use it: {shown}; "
            "it stays until none does"
        )
        previous = dict(body.get("status") or {})
        patch = kopf.Patch()
        _status(patch, previous, int(body.get("metadata", {}).get("generation") or 0), F, IN_USE, message)
        status = {k: v for k, v in dict(patch).get("status", {}).items() if k != "lastCheckTime"}
        if objects != len(users) and len(users) == self.directory.users_of(name):
            status["objects"] = len(users)
        with self._lock:
            said = self._written.get(name, {}).get("message")
        if said == message:
            return  # told already (the body may lag behind the write)
        if status:
            self._patch(name, {"status": status}, message=message)
        else:
            with self._lock:
                self._written.setdefault(name, {})["message"] = message
        if self.events is not None:
            self.events.post(body, "Warning", IN_USE, message)

    def _cluster_users(self, name: str) -> list[str]:
        """The objects in the whole cluster that use account `name` (a Forbidden list counts none: the
        operator then knows only its own objects, which it has counted already)."""
        from kubernetes.client.exceptions import ApiException

        from awsop.reconcilers.kinds import KINDS

        assert self.directory is not None
        users = []
        for info in KINDS.values():
            try:
                items = self._list_objects(info)
            except ApiException as exc:
                if exc.status == 403:
                    continue
                raise
            for item in items:
                if self.directory.uses(item, name):
                    meta = item.get("metadata") or {}
                    users.append(f"{info.kind} {meta.get('namespace', '')}/{meta.get('name', '')}")
        return sorted(users)

    def _patch(
        self, name: str, body: dict[str, Any], message: str | None = None, shard: int | None = None
    ) -> None:
        try:
            self._write(name, body)
        except Exception as exc:
            log.warning("AWSAccount %s: status not written: %s", name, exc)
            return
        with self._lock:
            written = self._written.setdefault(name, {})
            if "objects" in body.get("status", {}):
                written["objects"] = body["status"]["objects"]
            if "finalizers" in body.get("metadata", {}):
                written["finalizers"] = list(body["metadata"]["finalizers"])
            if message is not None:
                written["message"] = message
            if shard is not None:
                written["shard"] = shard


def register(
    settings: Settings,
    registry: kopf.OperatorRegistry | None = None,
    directory: AccountDirectory | None = None,
    events: EventSink | None = None,
) -> AccountChecker:
    """Handlers for AWSAccount and namespace events, and the account checker (started with kopf)."""
    opts: dict[str, Any] = {"registry": registry} if registry is not None else {}
    resource = (INFO.group, VERSION, INFO.plural)
    checker = AccountChecker(settings, directory, events)

    def on_account(name: str, body: Any, spec: Any, type: str | None, **_: Any) -> None:
        account_event(name, spec, type)
        checker.seen(name, None if type == "DELETED" else copy.deepcopy(dict(body)))

    on_account.__name__ = "awsaccount_event"
    kopf.on.event(*resource, id="directory", **opts)(on_account)
    kopf.on.event("", "v1", "namespaces", id="directory", **opts)(namespace_event)
    kopf.on.startup(id="awsaccount-checker", **opts)(lambda **_: checker.start())
    kopf.on.cleanup(id="awsaccount-checker", **opts)(lambda **_: checker.stop())
    return checker
