"""Every AWS call carries one user agent, built once per process: botocore's SDK, OS and language
components, then awsop's own (`user_agent_extra`; event-driven drift relies on the operator's token).
botocore would otherwise rebuild it twice per request, an eighth of a call's CPU."""

from __future__ import annotations

from typing import Any

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.aws import AwsClients, AwsConfig, base_user_agent


def test_every_call_sends_the_agent_built_once_with_awsops_tokens_last(aws: EmbeddedAws) -> None:
    config = AwsConfig(
        default_region="us-east-1", default_rate_limit=0, user_agent_extra="awsop/0.1 awsop-x/y"
    )
    sqs = AwsClients(config).client("sqs", "us-east-1")
    sent: list[str] = []

    def keep(request: Any, **_: Any) -> None:
        agent = request.headers["User-Agent"]
        sent.append(agent.decode() if isinstance(agent, bytes) else agent)

    sqs.meta.events.register("before-send.sqs", keep)
    sqs.create_queue(QueueName="agent")
    for _ in range(2):
        sqs.list_queues()
    agent = base_user_agent()
    assert agent.startswith("Boto3/") and "lang/python#" in agent and " os/" in agent
    assert len(sent) == 3 and len(set(sent)) == 1
    assert sent[0].startswith(f"{agent} ") and sent[0].endswith(" awsop/0.1 awsop-x/y")
    # nothing rebuilt per request: no per-call feature or config components
    assert not {"m", "cfg"} & {part.split("/")[0] for part in sent[0].split()}
    assert base_user_agent() is agent  # built once per process
