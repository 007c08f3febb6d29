"""Builds the AWS client factory and the engine from the settings, once per process: for the operator
(through `runtime`) and for the CLI, which imports only this (not kopf: a plan starts faster).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from awsop.reconcilers.aws import AwsClients, AwsConfig, RateListener
from awsop.reconcilers.engine import Engine, EngineConfig
from awsop.reconcilers.events import user_agent_marker

from .settings import Settings


def build_engine(
    settings: Settings,
    listeners: list[Callable[[str, str, str], None]] | None = None,
    rate_listeners: list[RateListener] | None = None,
    operator: bool = False,
) -> tuple[Engine, AwsClients]:
    """`operator`: the running operator marks its calls in the user agent (CloudTrail records it), so
    event-driven drift skips them; the CLI's calls stay unmarked, so an `awsop apply` by hand is seen as
    a change like any other."""
    region = settings.default_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    clients = AwsClients(
        AwsConfig(
            default_region=region or "us-east-1",
            rate_limits=settings.rate_limits,
            default_rate_limit=settings.default_rate_limit,
            retry_mode=settings.aws_retry_mode,
            max_attempts=settings.aws_max_attempts,
            max_pool_connections=settings.http_pool_size,
            session_name=f"awsop-{settings.cluster_id}"[:64],
            # CloudTrail records it: event-driven drift skips the operator's own calls by it
            user_agent_extra=f"awsop/0.1 {user_agent_marker(settings.cluster_id)}"
            if operator
            else "awsop/0.1",
            lookup_account_id=True,
            # a shared description is never older than half a drift-check period
            batch_max_age=min(settings.batch_max_age_seconds, settings.resync_seconds / 2),
        ),
        listeners=listeners,
        rate_listeners=rate_listeners,
    )
    engine = Engine(
        clients,
        EngineConfig(
            cluster_id=settings.cluster_id,
            default_tags=settings.default_tags,
            deletion_policy_defaults=settings.deletion_policy_defaults,
            name_prefix={"Bucket": settings.bucket_name_prefix},
            create_window=settings.create_window_seconds,
        ),
    )
    return engine, clients
