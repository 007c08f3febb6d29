"""Ownership and user tags: who wins, what is written, what counts as drift."""

from __future__ import annotations

import pytest

from awsop.reconcilers.tags import (
    KIND_TAG,
    OWNER_TAG,
    desired_tags,
    is_reserved,
    owner_value,
    tag_drift,
    tags_to_write,
    validate_tags,
)

OWNER = owner_value("prod", "team-a", "logs")


def test_owner_value_names_cluster_namespace_and_object() -> None:
    assert OWNER == "prod/team-a/logs"
    assert owner_value("staging", "team-a", "logs") != OWNER


@pytest.mark.parametrize(
    ("key", "reserved"),
    [
        ("aws:createdBy", True),
        ("AWS:createdBy", True),
        ("Aws:x", True),
        ("awsop.io/owner", False),
        ("team", False),
    ],
)
def test_only_the_aws_prefix_is_reserved(key: str, reserved: bool) -> None:
    assert is_reserved(key) is reserved


def test_user_tags_override_defaults_and_ownership_overrides_everything() -> None:
    tags = desired_tags(
        {"team": "a", "env": "prod", OWNER_TAG: "forged"},
        {"env": "dev", "managed-by": "awsop"},
        OWNER,
        "Bucket",
    )
    assert tags == {"env": "prod", "managed-by": "awsop", "team": "a", OWNER_TAG: OWNER, KIND_TAG: "Bucket"}


def test_aws_tags_from_defaults_or_user_are_never_desired() -> None:
    tags = desired_tags({"aws:user": "x"}, {"AWS:default": "y"}, OWNER, "Bucket")
    assert tags == {OWNER_TAG: OWNER, KIND_TAG: "Bucket"}


def test_no_user_tags_still_carries_ownership() -> None:
    assert desired_tags(None, {}, OWNER, "Bucket") == {OWNER_TAG: OWNER, KIND_TAG: "Bucket"}


DESIRED = {"team": "a", OWNER_TAG: OWNER, KIND_TAG: "Bucket"}
ACTUAL = {"team": "old", "cost-center": "42", "aws:cloudformation:stack-name": "s", OWNER_TAG: OWNER}


def test_authoritative_write_is_exactly_the_desired_set() -> None:
    assert tags_to_write(DESIRED, ACTUAL, authoritative=True) == DESIRED


def test_non_authoritative_write_keeps_foreign_tags_but_not_aws_tags() -> None:
    assert tags_to_write(DESIRED, ACTUAL, authoritative=False) == {**DESIRED, "cost-center": "42"}


def test_authoritative_drift_sees_foreign_tags() -> None:
    assert tag_drift(DESIRED, ACTUAL, authoritative=True) == {
        "team": "old",
        "cost-center": "42",
        OWNER_TAG: OWNER,
    }


def test_non_authoritative_drift_sees_only_managed_keys() -> None:
    assert tag_drift(DESIRED, ACTUAL, authoritative=False) == {"team": "old", OWNER_TAG: OWNER}


@pytest.mark.parametrize("authoritative", [True, False])
def test_in_sync_tags_show_no_drift_despite_aws_tags(authoritative: bool) -> None:
    actual = {**DESIRED, "aws:createdBy": "someone"}
    assert tag_drift(DESIRED, actual, authoritative) == DESIRED


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        pytest.param({"aws:x": "1"}, "aws: prefix is reserved", id="aws-prefix"),
        pytest.param({OWNER_TAG: "x"}, "set by awsop itself", id="owner"),
        pytest.param({KIND_TAG: "x"}, "set by awsop itself", id="kind"),
        pytest.param({"k" * 129: "v"}, "1-128 characters", id="long-key"),
        pytest.param({"": "v"}, "1-128 characters", id="empty-key"),
        pytest.param({"k": "v" * 257}, "longer than 256", id="long-value"),
        pytest.param({str(i): "" for i in range(49)}, "at most 48 tags", id="too-many"),
    ],
)
def test_validate_tags_reports_each_problem(tags: dict[str, str], problem: str) -> None:
    problems = validate_tags(tags)
    assert len(problems) == 1
    assert problem in problems[0]


def test_validate_tags_reports_every_problem_at_once() -> None:
    problems = validate_tags({"aws:x": "v" * 300, OWNER_TAG: "x"})
    assert len(problems) == 3


def test_valid_tags_have_no_problems() -> None:
    assert validate_tags({"k" * 128: "v" * 256, "team": "", "awsop.io/team": "x"}) == []
    assert validate_tags({str(i): "" for i in range(48)}) == []
