"""Every AwsClients of a process reads service models through one botocore loader: a model's JSON is
parsed once per process, not once per session (the CLI builds a session per run; the EC2 model alone is
about half a second of CPU)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.loaders import JSONFileLoader

from awsop.reconcilers.account import AWSAccountSpec, ResolvedAccount
from awsop.reconcilers.aws import AwsClients, AwsConfig


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model files botocore reads from disk from now on."""
    files: list[str] = []
    original = JSONFileLoader.load_file

    def load_file(self: JSONFileLoader, file_path: str) -> Any:
        files.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(JSONFileLoader, "load_file", load_file)
    return files


def test_a_second_set_of_clients_parses_no_service_model_again(parsed: list[str]) -> None:
    AwsClients(AwsConfig(default_region="us-east-1")).client("ec2")
    parsed.clear()
    again = AwsClients(AwsConfig(default_region="eu-west-1"))
    assert again.client("ec2").meta.region_name == "eu-west-1"
    assert parsed == [], "the second session parsed models the first one had parsed already"


def test_account_sessions_share_the_models_and_the_loader_paths_stay_put(parsed: list[str]) -> None:
    clients = AwsClients(AwsConfig(default_region="us-east-1"))
    clients.client("s3")
    loader = clients._session._session.get_component("data_loader")
    paths = list(loader.search_paths)
    parsed.clear()
    for n in range(5):
        role = f"arn:aws:iam::11111111111{n}:role/awsop"
        account = ResolvedAccount.of(f"a{n}", AWSAccountSpec(role_arn=role))
        clients.client("s3", account=account)
        AwsClients(AwsConfig(default_region="us-east-1")).client("s3")
    assert parsed == []
    assert loader.search_paths == paths, "each new session must not add the same folder again"
