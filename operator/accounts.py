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
from awsop.reconcilers.kinds import CONFIG_KINDS, VERSION

from . import kube
from .manifests import format_validation_error
from .settings import Settings
from .status import F, T

log = logging.getLogger("awsop")
INFO = CONFIG_KINDS["AWSAccount"]
NamespaceMeta = tuple[dict[str, str], dict[str, str]]  # labels, annotations


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
        the account or the namespace may now allow it (a terminal denial is not retried otherwise)."""
        self.require_account = require_account
        self._retry = retry
        self._denied: dict[str, tuple[ObjectRef, str]] = {}  # uid -> (object, account) AccountNotAllowed
        self._read_namespace = read_namespace
        self._read_account = read_account
        self._accounts: dict[str, AWSAccountSpec] = {}
        self._deleted: dict[str, AWSAccountSpec] = {}  # last spec of deleted accounts, for deletions
        self._namespaces: dict[str, NamespaceMeta] = {}
        self._users: dict[str, str] = {}  # object uid -> account name
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
            with self._lock:
                if resolved.denial is None and resolved.name:
                    self._users[uid] = resolved.name
                else:
                    self._users.pop(uid, None)
                if ref is not None and resolved.denial is not None and resolved.denial.reason == NOT_ALLOWED:
                    self._denied[uid] = (ref, resolved.name)
                else:
                    self._denied.pop(uid, None)
        return resolved

    def forget(self, uid: str) -> None:
        with self._lock:
            self._users.pop(uid, None)
            self._denied.pop(uid, None)

    def users_of(self, name: str) -> int:
        with self._lock:
            return sum(1 for account in self._users.values() if account == name)

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
    objects = AccountRuntime.directory.users_of(name)
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
    **fields: Any,
) -> None:
    from awsop.reconcilers.engine import now_rfc3339

    old: dict[str, Any] = next((c for c in previous.get("conditions", []) if c.get("type") == "Ready"), {})
    changed = old.get("status") != ready
    condition = {
        "type": "Ready",
        "status": ready,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": now_rfc3339() if changed or not old else old.get("lastTransitionTime"),
        "observedGeneration": generation,
    }
    new = {"observedGeneration": generation, "conditions": [condition], **fields}
    for key, value in new.items():
        if previous.get(key) != value:
            patch.status[key] = value
    if ready == T:
        patch.status["lastCheckTime"] = now_rfc3339()


class AccountChecker:
    """One background thread that checks every AWSAccount when it appears or its spec changes, then every
    `account_check_seconds` (on the error's backoff while it fails).

    A kopf daemon per AWSAccount would put a finalizer on it, and a configuration object should never
    block its own deletion (nor outlive an uninstalled operator)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._bodies: dict[str, dict[str, Any]] = {}
        self._due: dict[str, tuple[float, Any, int]] = {}  # name -> (when, generation checked, retry)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seen(self, name: str, body: dict[str, Any] | None) -> None:
        with self._lock:
            if body is None:
                self._bodies.pop(name, None)
                self._due.pop(name, None)
            else:
                self._bodies[name] = body

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
            for name, body in self._bodies.items():
                generation = body.get("metadata", {}).get("generation")
                when, checked, retry = self._due.get(name, (0.0, None, 0))
                if generation != checked or now >= when:
                    work.append((name, body, retry if generation == checked else 0))
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
                try:
                    kube.patch(INFO, "", name, dict(patch))
                except Exception as exc:
                    log.warning("AWSAccount %s: status not written: %s", name, exc)


def register(settings: Settings, registry: kopf.OperatorRegistry | None = None) -> AccountChecker:
    """Handlers for AWSAccount and namespace events, and the account checker (started with kopf)."""
    opts: dict[str, Any] = {"registry": registry} if registry is not None else {}
    resource = (INFO.group, VERSION, INFO.plural)
    checker = AccountChecker(settings)

    def on_account(name: str, body: Any, spec: Any, type: str | None, **_: Any) -> None:
        account_event(name, spec, type)
        checker.seen(name, None if type == "DELETED" else copy.deepcopy(dict(body)))

    on_account.__name__ = "awsaccount_event"
    kopf.on.event(*resource, id="directory", **opts)(on_account)
    kopf.on.event("", "v1", "namespaces", id="directory", **opts)(namespace_event)
    kopf.on.startup(id="awsaccount-checker", **opts)(lambda **_: checker.start())
    kopf.on.cleanup(id="awsaccount-checker", **opts)(lambda **_: checker.stop())
    return checker
