"""How planned changes read in the CLI, Events and status."""

from __future__ import annotations

import pytest

from awsop.reconcilers.changes import Action, Change, Plan, render_value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(None, "(none)", id="none"),
        pytest.param(True, "true", id="true"),
        pytest.param(False, "false", id="false"),
        pytest.param("Enabled", "Enabled", id="string-unquoted"),
        pytest.param(0, "0", id="zero-is-not-none"),
        pytest.param("", "", id="empty-string"),
        pytest.param({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}', id="dict-sorted-compact"),
        pytest.param([], "[]", id="empty-list"),
    ],
)
def test_render_value(value: object, text: str) -> None:
    assert render_value(value) == text


def test_render_value_is_stable_for_dicts_in_any_order() -> None:
    assert render_value({"x": 1, "y": 2}) == render_value({"y": 2, "x": 1})


def test_long_values_are_truncated_to_the_limit() -> None:
    text = render_value("x" * 500)
    assert len(text) == 120
    assert text.endswith("...")
    assert render_value("x" * 120) == "x" * 120
    assert render_value({"k": "v" * 100}, limit=20) == '{"k":"vvvvvvvvvvv...'


def test_change_explain() -> None:
    assert Change("versioning", "Suspended", "Enabled").explain() == "versioning: Suspended -> Enabled"
    assert Change("policy", {"a": 1}, None, Action.UPDATE).explain() == 'policy: {"a":1} -> (none)'
    assert Change("", None, "my-bucket", Action.CREATE).explain() == "create my-bucket"
    assert Change("versioning", None, "Enabled", Action.CREATE).explain() == "versioning: (none) -> Enabled"


def make_plan() -> Plan:
    return Plan(
        "Bucket",
        "default",
        "data",
        "default-data",
        "us-east-1",
        "update",
        [
            Change("tags", {"team": "a"}, {"team": "b"}, Action.UPDATE, ("s3:PutBucketTagging",)),
            Change("cors", None, [], Action.CREATE),
            Change("policy", {"Statement": []}, None, Action.DELETE, ("s3:DeleteBucketPolicy",)),
        ],
    )


def test_plan_render_lines() -> None:
    assert make_plan().render() == [
        "Bucket default/data -> default-data (us-east-1): update",
        "  ~ tags: {team: a -> b}  [s3:PutBucketTagging]",
        "  + cors: (none) -> []",
        '  - policy: {"Statement":[]} -> (none)  [s3:DeleteBucketPolicy]',
    ]


def test_plan_render_header_carries_the_note() -> None:
    plan = Plan("Bucket", "ns", "b", "ns-b", "eu-west-1", "blocked", note="ObserveOnly")
    assert plan.render() == ["Bucket ns/b -> ns-b (eu-west-1): blocked (ObserveOnly)"]


def test_plan_as_dict() -> None:
    assert make_plan().as_dict() == {
        "kind": "Bucket",
        "namespace": "default",
        "name": "data",
        "awsName": "default-data",
        "region": "us-east-1",
        "account": "",
        "action": "update",
        "changes": [
            {
                "path": "tags",
                "action": "update",
                "actual": {"team": "a"},
                "desired": {"team": "b"},
                "calls": ["s3:PutBucketTagging"],
            },
            {"path": "cors", "action": "create", "actual": None, "desired": [], "calls": []},
            {
                "path": "policy",
                "action": "delete",
                "actual": {"Statement": []},
                "desired": None,
                "calls": ["s3:DeleteBucketPolicy"],
            },
        ],
        "calls": ["s3:PutBucketTagging", "s3:DeleteBucketPolicy"],
        "note": "",
    }


@pytest.mark.parametrize(
    ("verb", "has_changes"),
    [("create", True), ("update", True), ("delete", True), ("none", False), ("blocked", False)],
)
def test_plan_has_changes_follows_the_verb(verb: str, has_changes: bool) -> None:
    assert Plan("Bucket", "ns", "b", "ns-b", "us-east-1", verb).has_changes is has_changes
