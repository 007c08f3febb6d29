"""Loading manifests for the CLI: files, folders, multi-document YAML, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from awsop.operator.manifests import ManifestError, load, load_policy_inputs
from awsop.reconcilers.bucket import BucketSpec
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.tag_policy import Subject, evaluate

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))

BUCKET = """\
apiVersion: s3.awsop.io/v1alpha1
kind: Bucket
metadata:
  name: {name}
  namespace: team-a
  generation: 4
  annotations:
    awsop.io/plan-only: "true"
spec:
  versioning: Enabled
"""


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_multi_document_file_keeps_awsop_objects_in_order(tmp_path: Path) -> None:
    text = "\n---\n".join(
        [
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a",
            BUCKET.format(name="first"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b",
            "",
            BUCKET.format(name="second"),
        ]
    )
    manifests = load([write(tmp_path / "all.yaml", text)])
    assert [m.ref.name for m in manifests] == ["first", "second"]
    first = manifests[0]
    assert first.ref.kind == "Bucket"
    assert first.ref.namespace == "team-a"
    assert first.ref.generation == 4
    assert first.annotations == {"awsop.io/plan-only": "true"}
    assert isinstance(first.spec, BucketSpec)
    assert first.spec.versioning == "Enabled"
    assert first.source.endswith("all.yaml#1")


def test_folder_is_read_recursively_in_name_order(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", BUCKET.format(name="b"))
    write(tmp_path / "a.yml", BUCKET.format(name="a"))
    write(tmp_path / "nested" / "c.yaml", BUCKET.format(name="c"))
    write(tmp_path / "README.md", BUCKET.format(name="ignored"))
    assert [m.ref.name for m in load([str(tmp_path)])] == ["a", "b", "c"]


def test_kubernetes_list_is_unpacked(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: s3.awsop.io/v1alpha1, kind: Bucket, metadata: {name: x}, spec: {}}\n"
        "- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n"
    )
    (manifest,) = load([write(tmp_path / "list.yaml", text)])
    assert manifest.ref.name == "x"
    assert manifest.ref.namespace == "default"


def test_bucket_with_wrong_api_version_is_rejected(tmp_path: Path) -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n---\n"
    text += "kind: Bucket\napiVersion: example.com/v1\n"
    path = write(tmp_path / "other.yaml", text)
    with pytest.raises(ManifestError) as info:
        load([path])
    assert "Bucket must have apiVersion s3.awsop.io/v1alpha1, not example.com/v1" in str(info.value)


def test_other_kinds_only_yield_nothing(tmp_path: Path) -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n---\napiVersion: v1\nkind: Service\n"
    assert load([write(tmp_path / "other.yaml", text)]) == []


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        pytest.param("name: Not_Valid", "spec.name", id="name"),
        pytest.param("region: mars", "spec.region", id="region"),
        pytest.param("encryption: {algorithm: AES256, kmsKeyId: k}", "spec.encryption", id="encryption"),
        pytest.param("lifecycleRules: [{id: a}]", "spec.lifecycleRules.0", id="lifecycle-rule-index"),
        pytest.param(
            "cors: [{allowedMethods: [PATCH], allowedOrigins: ['*']}]",
            "spec.cors.0.allowedMethods.0",
            id="cors",
        ),
        pytest.param("versoning: Enabled", "spec.versoning", id="typo"),
    ],
)
def test_invalid_spec_names_file_object_and_field(tmp_path: Path, spec: str, path: str) -> None:
    head = "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata:\n  name: bad\n  namespace: ns\n"
    text = f"{head}spec:\n  {spec}\n"
    source = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ManifestError) as info:
        load([source])
    message = str(info.value)
    assert message.startswith(f"{source}#0: Bucket ns/bad: ")
    assert f"{path}:" in message


def test_missing_metadata_name_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nspec: {}\n")
    with pytest.raises(ManifestError, match=r"without metadata\.name"):
        load([path])


def test_broken_yaml_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "kind: [unclosed\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load([path])


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file or directory"):
        load([str(tmp_path / "nope.yaml")])


def test_examples_folder_loads() -> None:
    assert EXAMPLES, "examples/*.yaml missing"
    manifests = load([str(REPO / "examples")])
    documents = sum(  # AWS objects; configuration kinds (AWSAccount) are read separately
        len([d for d in yaml.safe_load_all(p.read_text()) if d and d.get("kind") in KINDS]) for p in EXAMPLES
    )
    assert len(manifests) == documents


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_loads(example: Path) -> None:
    if example.name == "tag-policy.yaml":
        (policy,) = load_policy_inputs([str(example)]).policies
        assert policy.name == "org-tags"
        return
    manifests = load([str(example)])
    assert manifests
    assert all(m.info.kind in KINDS and m.ref.name for m in manifests)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        pytest.param(
            "apiVersion: s3.awsop.io/v1alpha1\nmetadata: {name: x}\nspec: {}\n", "no kind", id="no-kind"
        ),
        pytest.param(
            "apiVersion: s3.awsop.io/v1alpha1\nkind: Buckett\nmetadata: {name: x}\n",
            "kind 'Buckett' is not an awsop kind",
            id="unknown-kind",
        ),
    ],
)
def test_document_of_our_api_group_without_a_known_kind_is_never_skipped(
    tmp_path: Path, doc: str, reason: str
) -> None:
    """Beside a valid object it used to be skipped silently."""
    path = write(tmp_path / "mixed.yaml", BUCKET.format(name="good") + "---\n" + doc)
    with pytest.raises(ManifestError) as info:
        load([path])
    assert str(info.value) == (
        f"{path}#1: apiVersion s3.awsop.io/v1alpha1 with {reason}; known kinds: Bucket (s3.awsop.io/v1alpha1)"
    )


def test_every_invalid_document_is_reported_in_one_run(tmp_path: Path) -> None:
    head = "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata:\n  name: {name}\n  namespace: ns\n"
    first = write(
        tmp_path / "a.yaml",
        head.format(name="one") + "spec:\n  versoning: Enabled\n  region: mars\n"
        "---\n"
        + BUCKET.format(name="fine")
        + "---\n"
        + head.format(name="two")
        + "spec:\n  name: Bad_Name\n",
    )
    second = write(tmp_path / "b.yaml", "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nspec: {}\n")
    with pytest.raises(ManifestError) as info:
        load([str(tmp_path)])
    problems = info.value.problems
    assert [p.split(": ")[0] for p in problems] == [f"{first}#0", f"{first}#0", f"{first}#2", f"{second}#0"]
    assert problems[0].startswith(f"{first}#0: Bucket ns/one: spec.")
    assert any("spec.versoning:" in p for p in problems[:2]) and any(
        "spec.region:" in p for p in problems[:2]
    )
    assert problems[2].startswith(f"{first}#2: Bucket ns/two: spec.name: ")
    assert problems[3] == f"{second}#0: Bucket without metadata.name"
    assert str(info.value).startswith("4 problems:\n")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_complies_with_the_example_tag_policy(example: Path) -> None:
    """examples/README.md: every example carries `team` and `cost-center` as tag-policy.yaml requires."""
    policies = load_policy_inputs([str(REPO / "examples")]).policies
    for manifest in load([str(example)]):
        subject = Subject(
            manifest.info.kind,
            manifest.ref.namespace,
            manifest.ref.name,
            manifest.spec.tags or {},
            management_policy=manifest.spec.management_policy,
        )
        verdict = evaluate(policies, subject)
        assert verdict.compliant, f"{example.name}: {verdict.message()}"
