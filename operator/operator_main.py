"""Starts the operator: logging, metrics/health server, kopf handlers, then kopf's event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tempfile
from pathlib import Path
from typing import Any

import kopf

from awsop.reconcilers.aws import STARTING_RATES

from . import accounts, event_drift, handlers, kube, memory, metrics, sharding, webhook
from .runtime import Runtime, build_engine
from .settings import Settings


def run_operator(
    settings: Settings, namespaces: list[str] | None = None, all_namespaces: bool = False
) -> int:
    namespaces = list(namespaces or []) or list(settings.namespaces)
    kopf.configure(
        log_format={"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}[
            settings.log_format
        ]
    )
    # kopf logs every handler run at INFO (a line per object per drift tick): keep its object logs for
    # warnings; awsop logs one line per reconcile that did or found something.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("awsop").setLevel(logging.INFO)
    memory.lean_watch_events()  # bodies kept per object without managedFields (operator/memory.py)
    memory.debug_memory()  # AWSOP_DEBUG_MEMORY only
    engine, clients = build_engine(
        settings,
        listeners=[metrics.record_aws_call],
        rate_listeners=[metrics.record_rate_limit],
        operator=True,
    )
    kube.configure(settings.http_pool_size)
    runtime = Runtime(
        settings,
        engine,
        {info.kind: info.make_client(clients) for info in handlers.served_kinds(settings)},
    )
    metrics.initialise(runtime.clients)  # the served kinds' series exist before their first event
    _skip_events_in_terminating_namespaces(runtime)
    registry = kopf.get_default_registry()
    handlers.register(runtime, registry)
    cfg = settings
    checker: accounts.AccountChecker | None = None
    if not settings.kinds or "AWSAccount" in settings.kinds:  # else: the operator's own credentials only
        runtime.accounts = accounts.kube_directory(settings)
        accounts.AccountRuntime.directory = runtime.accounts
        accounts.AccountRuntime.clients = clients
        accounts.AccountRuntime.settings = settings
        checker = accounts.register(settings, registry, runtime.accounts, runtime.events)
    if settings.event_drift:  # CloudTrail events through a queue per (account, region): docs/event-drift.md
        drift = event_drift.EventDrift(
            settings,
            engine,
            runtime.objects,
            write_condition=lambda name, _: checker.refresh(name) if checker else None,
        )
        runtime.event_drift = drift
        accounts.AccountRuntime.event_condition = drift.condition_of
        kopf.on.startup(id="event-drift", registry=registry)(lambda **_: drift.start())
        kopf.on.cleanup(id="event-drift", registry=registry)(lambda **_: drift.stop())

    coverage = sharding.CoverageCheck(settings, handlers.served_kinds(settings), kube.list_page)
    kopf.on.startup(registry=registry, id="shard-coverage")(lambda **_: coverage.start())
    kopf.on.cleanup(registry=registry, id="shard-coverage")(lambda **_: coverage.stop())

    connections = memory.kopf_connection_limit(namespaces, clusterwide=not namespaces or all_namespaces)

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.ConnectionInfo | kopf.AiohttpSession | None:
        # the client's configuration is read in a thread; the session is built here, in kopf's loop
        info = as_awsop(await asyncio.to_thread(kopf.login_via_client, **kwargs))
        return memory.bounded_session(info, connections)  # type: ignore[no-any-return]

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        handlers.configure(settings, cfg, runtime.objects)
        webhook.configure(settings, cfg, Path(tempfile.gettempdir()) / "awsop-webhook")
        warm_up(runtime)
        metrics.Health.ready = True

    @kopf.on.cleanup(registry=registry)
    def cleanup(**_: Any) -> None:
        metrics.Health.ready = False

    @kopf.on.cleanup(registry=registry, id="background")
    async def stop_background(**_: Any) -> None:
        runtime.stop_background()

    server = metrics.serve(settings.metrics_host, settings.metrics_port) if settings.metrics_port else None
    logging.getLogger("awsop").info("awsop starting (cluster id %s)", settings.cluster_id)
    try:
        asyncio.run(
            kopf.operator(
                registry=registry,
                clusterwide=not namespaces or all_namespaces,
                namespaces=[] if all_namespaces else namespaces,
                standalone=not settings.peering,
                peering_name=settings.peering or None,
            )
        )
    finally:
        metrics.Health.alive = False
        if server is not None:
            server.shutdown()
    return 0


def warm_up(runtime: Runtime) -> None:
    """Build the Kubernetes API client and the AWS clients of the served kinds before the first object
    arrives (kopf runs startup handlers before it starts watching). Built lazily, the first reconciles
    import the Kubernetes client's modules and load botocore's service models under the factories'
    locks, and every handler thread waits for that (seconds, on two cores). No AWS call is made, and a
    failure here only leaves the clients to be built on first use, as before."""
    try:
        kube.warm()
        services = {a.split(":")[0] for i in handlers.served_kinds(runtime.settings) for a in _actions(i)}
        for service in sorted(services & set(STARTING_RATES)):
            runtime.engine.clients.client(service)
    except Exception as exc:  # an optimisation: the first reconcile builds what is missing
        logging.getLogger("awsop").debug("warm-up incomplete: %s", exc)


def _actions(info: Any) -> list[str]:
    return [action for actions in info.iam_actions.values() for action in actions]


class _TerminatingNamespaceFilter(logging.Filter):
    """Keeps kopf from turning its object log lines into Events in a namespace being deleted (the API
    server refuses them with 403 NamespaceTerminating, and each refusal is logged as a failure)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    def filter(self, record: logging.LogRecord) -> bool:
        namespace = (getattr(record, "k8s_ref", None) or {}).get("namespace")
        return not (namespace and self.runtime.namespaces.cached(namespace))


def _skip_events_in_terminating_namespaces(runtime: Runtime) -> None:
    for handler in logging.getLogger("kopf.objects").handlers:
        if type(handler).__name__ == "K8sPoster":
            handler.addFilter(_TerminatingNamespaceFilter(runtime))


@dataclasses.dataclass(frozen=True)
class AwsopConnectionInfo(kopf.ConnectionInfo):
    """kopf's connection, identified as awsop: the API server names the field manager of a write after
    the client's User-Agent (up to the "/"), so kopf's own patches (finalizers, its annotations) and
    Events appear in managedFields as `awsop`, like the operator's other writes, not as `kopf`."""

    def as_http_headers(self) -> dict[str, str]:
        return {**super().as_http_headers(), "User-Agent": kube.USER_AGENT}


def as_awsop(info: kopf.ConnectionInfo | None) -> kopf.ConnectionInfo | None:
    """The credentials kopf's own login found, with awsop's User-Agent."""
    if info is None:
        return None
    return AwsopConnectionInfo(**{f.name: getattr(info, f.name) for f in dataclasses.fields(info)})
