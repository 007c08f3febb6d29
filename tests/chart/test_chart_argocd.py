"""Argo CD health checks (docs/argocd): run the Lua scripts with real Lua, check the generated copies."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartlib import KINDS, REPO
from lupa import LuaRuntime

ARGOCD = REPO / "docs" / "argocd"
SOURCE = ARGOCD / "health.lua"
SCRIPTS = {
    kind: ARGOCD / "health" / f"{group}_{kind}" / "health.lua" for kind, (group, _, _) in KINDS.items()
}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("awsop_argocd_generate", ARGOCD / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _to_lua(lua: LuaRuntime, value: Any) -> Any:
    """JSON-like Python -> Lua values, the way Argo CD hands the object to the script."""
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def run_health(script: Path, obj: dict[str, Any]) -> dict[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(script.read_text())
    assert result is not None, "the script must return a table"
    out = dict(result.items())
    assert set(out) == {"status", "message"}, out
    assert out["status"] in {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
    return out


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason or type_,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": 2,
    }


BASE: dict[str, Any] = {
    "apiVersion": "s3.awsop.io/v1alpha1",
    "kind": "Bucket",
    "metadata": {"name": "b", "namespace": "ns", "generation": 2},
}


def obj(status: dict[str, Any] | None = None, generation: int = 2) -> dict[str, Any]:
    o = copy.deepcopy(BASE)
    o["metadata"]["generation"] = generation
    if status is not None:
        o["status"] = status
    return o


READY = cond("Ready", "True", "Available", "Bucket is ready")
SYNCED = cond("Synced", "True", "Synced", "")
NOT_DRIFTED = cond("Drifted", "False", "InSync")
NOT_STALLED = cond("Stalled", "False", "Ok")

SAMPLES: dict[str, tuple[dict[str, Any], str, str]] = {
    "no status": (obj(), "Progressing", "Waiting for status"),
    "empty status": (obj({}), "Progressing", "generation 2"),
    "stale observedGeneration": (
        obj({"observedGeneration": 1, "conditions": [READY, SYNCED]}, generation=2),
        "Progressing",
        "generation 2",
    ),
    "ready": (
        obj({"observedGeneration": 2, "conditions": [READY, SYNCED, NOT_DRIFTED, NOT_STALLED]}),
        "Healthy",
        "Bucket is ready",
    ),
    "creating": (
        obj(
            {
                "observedGeneration": 2,
                "conditions": [cond("Ready", "False", "Creating", "creating the bucket")],
            }
        ),
        "Progressing",
        "creating the bucket",
    ),
    "no conditions yet": (obj({"observedGeneration": 2}), "Progressing", "Waiting for Ready"),
    "stalled": (
        obj(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "False", "Stalled", "x"),
                    cond("Stalled", "True", "InvalidSpec", "bucket name already taken"),
                ],
            }
        ),
        "Degraded",
        "bucket name already taken",
    ),
    "stalled beats drifted": (
        obj(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Stalled", "True", "Terminal", "boom"),
                    cond("Drifted", "True", "Drift", "d"),
                ],
                "drift": [{"path": "spec.versioning", "desired": "Enabled", "actual": "Suspended"}],
            }
        ),
        "Degraded",
        "boom",
    ),
    "drifted": (
        obj(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "False", "Drifted", "drift detected"),
                    cond("Drifted", "True", "DriftDetected", "2 fields differ"),
                    SYNCED,
                ],
                "drift": [
                    {
                        "path": "spec.versioning",
                        "desired": "Enabled",
                        "actual": "Suspended",
                        "detectedAt": "t",
                    },
                    {"path": "spec.tags.env", "desired": "prod", "actual": None, "detectedAt": "t"},
                ],
            }
        ),
        "Degraded",
        "Drifted from AWS: spec.versioning, spec.tags.env",
    ),
    "drifted without drift list": (
        obj(
            {
                "observedGeneration": 2,
                "conditions": [cond("Drifted", "True", "DriftDetected", "2 fields differ")],
            }
        ),
        "Degraded",
        "2 fields differ",
    ),
    "paused": (
        obj(
            {
                "observedGeneration": 2,
                "conditions": [READY, cond("Synced", "False", "Paused", "awsop.io/paused is set")],
            }
        ),
        "Suspended",
        "awsop.io/paused is set",
    ),
    "paused before observing the latest spec": (
        obj(
            {
                "observedGeneration": 1,
                "conditions": [READY, cond("Synced", "False", "Paused", "awsop.io/paused is set")],
            }
        ),
        "Suspended",
        "awsop.io/paused is set",
    ),
    "waiting for a referenced object": (
        obj(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond(
                        "Ready",
                        "False",
                        "DependencyNotReady",
                        "waiting for Queue orders-dlq (deadLetterQueue)",
                    ),
                    cond(
                        "Synced",
                        "False",
                        "DependencyNotReady",
                        "waiting for Queue orders-dlq (deadLetterQueue)",
                    ),
                    cond("Stalled", "False", "NotStalled", ""),
                    cond(
                        "Reconciling",
                        "True",
                        "DependencyNotReady",
                        "waiting for Queue orders-dlq (deadLetterQueue)",
                    ),
                ],
            }
        ),
        "Progressing",
        "waiting for Queue orders-dlq",
    ),
    "not synced for another reason": (
        obj(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "False", "Error", "AccessDenied on PutBucketTagging"),
                    cond("Synced", "False", "AccessDenied", "AccessDenied on PutBucketTagging"),
                ],
            }
        ),
        "Progressing",
        "AccessDenied on PutBucketTagging",
    ),
    "table creating": (
        obj(
            {
                "observedGeneration": 2,
                "tableStatus": "CREATING",
                "conditions": [
                    cond("Ready", "False", "TableCreating", "created Table t; waiting: table t is CREATING"),
                    SYNCED,
                    cond(
                        "Reconciling",
                        "True",
                        "TableCreating",
                        "created Table t; waiting: table t is CREATING",
                    ),
                ],
            }
        ),
        "Progressing",
        "waiting: table t is CREATING",
    ),
    "multi-step change under way": (
        obj(
            {
                "observedGeneration": 2,
                "conditions": [
                    cond("Ready", "False", "IndexNotActive", "waiting"),
                    SYNCED,
                    NOT_DRIFTED,
                    NOT_STALLED,
                    cond(
                        "Reconciling",
                        "True",
                        "IndexNotActive",
                        "waiting: index gsi-a is CREATING (step 1 of 2: creating index gsi-a); "
                        "next: creating index gsi-b",
                    ),
                ],
            }
        ),
        "Progressing",
        "step 1 of 2: creating index gsi-a",
    ),
}


@pytest.mark.parametrize("kind", list(SCRIPTS))
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_health(kind: str, sample: str) -> None:
    script = SCRIPTS[kind]
    assert script.is_file(), f"{script} missing (run python docs/argocd/generate.py)"
    o, status, message = SAMPLES[sample]
    o = {**o, "kind": kind}
    result = run_health(script, o)
    assert result["status"] == status
    assert message in result["message"]


def test_every_kind_uses_the_one_script() -> None:
    source = SOURCE.read_text()
    for script in SCRIPTS.values():
        assert script.read_text() == source, f"{script} differs from docs/argocd/health.lua"
    assert sorted(p.parent.name for p in (ARGOCD / "health").glob("*/health.lua")) == sorted(
        p.parent.name for p in SCRIPTS.values()
    )


def test_generated_files_are_up_to_date() -> None:
    generator = _generator()
    assert [(g, k) for g, k in generator.KINDS] == [(g, k) for k, (g, _, _) in KINDS.items()]
    assert generator.stale() == [], "run python docs/argocd/generate.py"


def test_argocd_values_snippet_holds_the_scripts() -> None:
    values = yaml.safe_load((ARGOCD / "argocd-cm-values.yaml").read_text())
    cm = values["configs"]["cm"]
    expected = {f"resource.customizations.health.{group}_{kind}" for kind, (group, _, _) in KINDS.items()}
    assert set(cm) == expected
    for kind, script in SCRIPTS.items():
        group = KINDS[kind][0]
        assert cm[f"resource.customizations.health.{group}_{kind}"] == script.read_text()
