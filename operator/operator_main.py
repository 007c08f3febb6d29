"""Starts the operator: logging, metrics/health server, kopf handlers, then kopf's event loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from . import accounts, handlers, metrics
from .runtime import build_engine
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
    engine, clients = build_engine(settings, listeners=[metrics.record_aws_call])
    handlers.Runtime.settings = settings
    handlers.Runtime.engine = engine
    handlers.Runtime.clients = {
        info.kind: info.make_client(clients) for info in handlers.served_kinds(settings)
    }
    registry = kopf.get_default_registry()
    handlers.register(settings, registry)
    if not settings.kinds or "AWSAccount" in settings.kinds:  # else: the operator's own credentials only
        handlers.Runtime.accounts = accounts.kube_directory(settings)
        accounts.AccountRuntime.directory = handlers.Runtime.accounts
        accounts.AccountRuntime.clients = clients
        accounts.AccountRuntime.settings = settings
        accounts.register(settings, registry)

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        handlers.configure(settings, handlers.Runtime.settings)
        metrics.Health.ready = True

    @kopf.on.cleanup(registry=registry)
    def cleanup(**_: Any) -> None:
        metrics.Health.ready = False

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
