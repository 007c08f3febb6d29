"""The chart with shards: one Deployment per shard, each with its own peering, pod label and
PodDisruptionBudget; the first keeps the unsharded Deployment's name and selector (1 -> N is an in-place
upgrade); every Deployment renders every operator setting, and the operator accepts each one's env."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
from chartlib import CHART, NAMESPACE, RELEASE, by_kind, render, run_helm
from test_chart_render import UNVALIDATED_GROUPS, _settings_fields

from awsop.operator import sharding
from awsop.operator.settings import Settings

SHARDS = [
    {"name": "main", "labelSelector": "awsop.io/shard notin (b,c)"},
    {"name": "b", "labelSelector": "awsop.io/shard in (b)"},
    {"name": "c", "labelSelector": "awsop.io/shard in (c)"},
]
# values sets with shards, also applied to the real API server (tests/apiserver/test_chart_real.py)
SHARD_CASES: dict[str, dict[str, Any]] = {
    "shards": {"shards": SHARDS},
    "shards HA": {"shards": SHARDS[:2], "replicaCount": 2},
    "shards namespace-scoped HA": {
        "shards": SHARDS[:2],
        "watchNamespaces": ["team-a"],
        "ha": {"enabled": True},
    },
}


def env(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: str(e.get("value", "")) for e in container["env"]}


@pytest.mark.parametrize("case", list(SHARD_CASES), ids=list(SHARD_CASES))
def test_sharded_chart_lints_and_matches_kubernetes_schemas(case: str) -> None:
    proc = run_helm("lint", str(CHART), "--strict", "--namespace", NAMESPACE, values=SHARD_CASES[case])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for doc in render(SHARD_CASES[case]):
        if doc["kind"] == "CustomResourceDefinition" or doc["apiVersion"].startswith(UNVALIDATED_GROUPS):
            continue
        kubernetes_validate.validate(doc, "1.31", strict=True)


@pytest.mark.parametrize("case", list(SHARD_CASES), ids=list(SHARD_CASES))
def test_one_deployment_per_shard_each_with_every_setting(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    values = SHARD_CASES[case]
    deployments = by_kind(render(values), "Deployment")
    names = [s["name"] for s in values["shards"]]
    assert [d["metadata"]["name"] for d in deployments] == [RELEASE] + [f"{RELEASE}-{n}" for n in names[1:]]
    fields = _settings_fields()
    assert fields is not None
    for deployment, name in zip(deployments, names, strict=True):
        rendered = env(deployment)
        missing = {f"AWSOP_{f.upper()}" for f in fields} - {"AWSOP_DEFAULT_REGION"} - set(rendered)
        assert not missing, f"{name}: settings not rendered: {missing}"
        assert rendered["AWSOP_SHARD"] == name
        assert json.loads(rendered["AWSOP_SHARDS"]) == values["shards"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["awsop.io/shard"] == name
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        for key, value in rendered.items():
            if key.startswith("AWSOP_"):
                monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.shard == name
        assert sharding.own_selector(settings) == next(
            s["labelSelector"] for s in values["shards"] if s["name"] == name
        )
    first, *others = deployments
    assert "awsop.io/shard" not in first["spec"]["selector"]["matchLabels"], (
        "the first shard keeps the unsharded selector (a Deployment's selector cannot change)"
    )
    assert all(d["spec"]["selector"]["matchLabels"]["awsop.io/shard"] for d in others)


def test_each_shard_has_its_own_peering_and_disruption_budget() -> None:
    docs = render(SHARD_CASES["shards HA"])
    peerings = by_kind(docs, "ClusterKopfPeering")
    assert sorted(p["metadata"]["name"] for p in peerings) == [RELEASE, f"{RELEASE}-b"]
    assert [env(d)["AWSOP_PEERING"] for d in by_kind(docs, "Deployment")] == [RELEASE, f"{RELEASE}-b"]
    budgets = by_kind(docs, "PodDisruptionBudget")
    assert [b["spec"]["selector"]["matchLabels"]["awsop.io/shard"] for b in budgets] == ["main", "b"]
    namespaced = render(SHARD_CASES["shards namespace-scoped HA"])
    assert sorted(
        (p["metadata"]["namespace"], p["metadata"]["name"]) for p in by_kind(namespaced, "KopfPeering")
    ) == [
        ("team-a", RELEASE),
        ("team-a", f"{RELEASE}-b"),
    ]


def test_default_values_render_one_unsharded_deployment() -> None:
    deployments = by_kind(render(), "Deployment")
    assert len(deployments) == 1 and deployments[0]["metadata"]["name"] == RELEASE
    rendered = env(deployments[0])
    assert (rendered["AWSOP_SHARD"], rendered["AWSOP_SHARDS"]) == ("", "[]")
    assert "awsop.io/shard" not in deployments[0]["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize(
    ("shards", "message"),
    [
        ([{"name": "a"}, {"name": "a"}], 'the name "a" is used twice'),
        ([{"name": "Bad_Name"}], "does not match pattern"),
        ([{"labelSelector": "x=y"}], "missing property 'name'"),
        ([{"name": "a", "namespaces": ["x"]}], "additional properties 'namespaces' not allowed"),
    ],
)
def test_bad_shards_are_refused_by_helm(shards: list[dict[str, Any]], message: str) -> None:
    proc = run_helm("template", RELEASE, str(CHART), values={"shards": shards})
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
