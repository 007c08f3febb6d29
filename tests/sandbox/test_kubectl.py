"""The real kubectl 1.37 against the sandbox: CRDs, CR lifecycle, status, printing, patching."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from conftest import BUCKETS, Http, Kubectl, bucket


def test_crd_apply_reports_established_and_serves_the_resource(
    bucket_crd: dict[str, Any], http: Http
) -> None:
    conditions = {c["type"]: c["status"] for c in bucket_crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    status, resources, _ = http("GET", "/apis/s3.test.awsop.io/v1alpha1")
    assert status == 200
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name["buckets"]["shortNames"] == ["bkt"]
    assert by_name["buckets"]["categories"] == ["aws"]
    assert by_name["buckets/status"]["verbs"] == ["get", "patch", "update"]


def test_get_by_shortname_and_category_shows_printer_columns(
    bucket_crd: dict[str, Any], kubectl: Kubectl
) -> None:
    assert "created" in kubectl.apply(bucket()).stdout
    by_short = kubectl.run("get", "bkt").stdout.splitlines()
    assert by_short[0].split() == ["NAME", "REGION", "READY", "AGE"]
    assert by_short[1].split()[:2] == ["photos", "eu-west-1"]
    by_category = kubectl.run("get", "aws").stdout
    assert "photos" in by_category and "eu-west-1" in by_category


def test_reapply_with_changed_spec_bumps_generation_and_applies_defaults(
    bucket_crd: dict[str, Any], kubectl: Kubectl
) -> None:
    kubectl.apply(bucket())
    first = kubectl.json("get", "bucket", "photos")
    assert first["metadata"]["generation"] == 1
    assert first["spec"]["versioning"] is False  # schema default
    assert "configured" in kubectl.apply(bucket(bucket_name="photos-two")).stdout
    second = kubectl.json("get", "bucket", "photos")
    assert second["metadata"]["generation"] == 2
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert "unchanged" in kubectl.apply(bucket(bucket_name="photos-two")).stdout
    assert (
        kubectl.json("get", "bucket", "photos")["metadata"]["resourceVersion"]
        == second["metadata"]["resourceVersion"]
    )


def test_status_subresource_patch_keeps_generation_and_main_writes_ignore_status(
    bucket_crd: dict[str, Any], kubectl: Kubectl
) -> None:
    kubectl.apply(bucket())
    kubectl.run(
        "patch",
        "bucket",
        "photos",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"bucketArn":"arn:aws:s3:::photos-bucket","conditions":[{"type":"Ready","status":"True"}]}}',
    )
    obj = kubectl.json("get", "bucket", "photos")
    assert obj["status"]["bucketArn"] == "arn:aws:s3:::photos-bucket"
    assert obj["metadata"]["generation"] == 1
    assert kubectl.run("get", "bkt", "photos").stdout.splitlines()[1].split()[2] == "True"
    # A write to the main resource cannot change status, and /status cannot change spec.
    kubectl.run("patch", "bucket", "photos", "--type=merge", "-p", '{"status":{"bucketArn":"forged"}}')
    kubectl.run(
        "patch",
        "bucket",
        "photos",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"spec":{"name":"forged"}}',
    )
    obj = kubectl.json("get", "bucket", "photos")
    assert obj["status"]["bucketArn"] == "arn:aws:s3:::photos-bucket"
    assert obj["spec"]["name"] == "photos-bucket"


def test_label_annotate_patch_and_label_selectors(bucket_crd: dict[str, Any], kubectl: Kubectl) -> None:
    kubectl.apply(bucket("a"))
    kubectl.apply(bucket("b", bucket_name="b-bucket"))
    kubectl.run("label", "bucket", "a", "env=prod")
    kubectl.run("label", "bucket", "b", "env=dev")
    kubectl.run("annotate", "bucket", "a", "owner=me")
    kubectl.run("patch", "bucket", "b", "--type", "merge", "-p", '{"spec":{"versioning":true}}')

    def names(*selector: str) -> list[str]:
        return [i["metadata"]["name"] for i in kubectl.json("get", "buckets", *selector)["items"]]

    assert names("-l", "env=prod") == ["a"]
    assert names("-l", "env!=prod") == ["b"]
    assert names("-l", "env in (dev,qa)") == ["b"]
    assert names("-l", "env notin (dev)") == ["a"]
    assert names("-l", "team,!missing") == ["a", "b"]
    assert names("--field-selector", "metadata.name=b") == ["b"]
    a = kubectl.json("get", "bucket", "a")
    assert a["metadata"]["annotations"]["owner"] == "me"
    assert kubectl.json("get", "bucket", "b")["spec"]["versioning"] is True


def test_list_has_list_kind_and_resource_version(
    bucket_crd: dict[str, Any], kubectl: Kubectl, http: Http
) -> None:
    kubectl.apply(bucket())
    status, body, _ = http("GET", BUCKETS)
    assert status == 200
    assert body["kind"] == "BucketList"
    assert body["apiVersion"] == "s3.test.awsop.io/v1alpha1"
    assert int(body["metadata"]["resourceVersion"]) >= int(body["items"][0]["metadata"]["resourceVersion"])
    status, cluster_wide, _ = http("GET", "/apis/s3.test.awsop.io/v1alpha1/buckets")
    assert [i["metadata"]["namespace"] for i in cluster_wide["items"]] == ["default"]


def test_finalizer_marks_deletion_and_last_finalizer_removal_deletes(
    bucket_crd: dict[str, Any], kubectl: Kubectl
) -> None:
    kubectl.apply(bucket())
    kubectl.run(
        "patch",
        "bucket",
        "photos",
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":["test.awsop.io/hold"]}}',
    )
    kubectl.run("delete", "bucket", "photos", "--wait=false")
    marked = kubectl.json("get", "bucket", "photos")
    assert marked["metadata"]["deletionTimestamp"]
    adding = kubectl.run(
        "patch",
        "bucket",
        "photos",
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":["test.awsop.io/hold","x/y"]}}',
        check=False,
    )
    assert adding.returncode != 0 and "no new finalizers can be added" in adding.stderr
    kubectl.run(
        "patch", "bucket", "photos", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]'
    )
    gone = kubectl.run("get", "bucket", "photos", check=False)
    assert gone.returncode != 0
    assert 'buckets.s3.test.awsop.io "photos" not found' in gone.stderr


def test_stale_resource_version_update_is_a_conflict(
    bucket_crd: dict[str, Any], kubectl: Kubectl, tmp_path: Any
) -> None:
    kubectl.apply(bucket())
    stale = kubectl.json("get", "bucket", "photos")
    kubectl.run("label", "bucket", "photos", "moved=on")
    stale["spec"]["name"] = "other-name"
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(stale))
    result = kubectl.run("replace", "-f", str(path), check=False)
    assert result.returncode != 0
    assert "the object has been modified; please apply your changes to the latest version" in result.stderr


def test_kubectl_wait_for_condition_succeeds_after_status_patch_from_another_thread(
    bucket_crd: dict[str, Any], kubectl: Kubectl, http: Http
) -> None:
    kubectl.apply(bucket())

    def mark_ready() -> None:
        time.sleep(1.0)
        patch = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Done"}]}}
        http("PATCH", f"{BUCKETS}/photos/status", patch, content_type="application/merge-patch+json")

    thread = threading.Thread(target=mark_ready)
    started = time.monotonic()
    thread.start()
    result = kubectl.run("wait", "--for=condition=Ready", "bucket/photos", "--timeout=10s", timeout=20)
    thread.join()
    assert "condition met" in result.stdout
    assert time.monotonic() - started >= 1.0


def test_get_watch_prints_changes(bucket_crd: dict[str, Any], kubectl: Kubectl) -> None:
    kubectl.apply(bucket())

    def relabel() -> None:
        time.sleep(1.0)
        kubectl.run("label", "bucket", "photos", "step=two")

    thread = threading.Thread(target=relabel)
    thread.start()
    result = kubectl.run(
        "get", "bucket", "photos", "-w", "--request-timeout=3s", "--output-watch-events", check=False
    )
    thread.join()
    lines = [line.split()[:2] for line in result.stdout.splitlines()[1:]]
    assert ["ADDED", "photos"] in lines and ["MODIFIED", "photos"] in lines


def test_describe_shows_spec_and_events(bucket_crd: dict[str, Any], kubectl: Kubectl, http: Http) -> None:
    created = json.loads(kubectl.run("create", "-f", "-", "-o", "json", stdin=bucket()).stdout)
    event = {
        "metadata": {"generateName": "photos-"},
        "involvedObject": {
            "kind": "Bucket",
            "name": "photos",
            "namespace": "default",
            "uid": created["metadata"]["uid"],
            "apiVersion": "s3.test.awsop.io/v1alpha1",
        },
        "reason": "Provisioned",
        "message": "bucket is ready",
        "type": "Normal",
        "source": {"component": "test"},
    }
    status, posted, _ = http("POST", "/api/v1/namespaces/default/events", event)
    assert status == 201 and posted["metadata"]["name"].startswith("photos-")
    text = kubectl.run("describe", "bucket", "photos").stdout
    assert "photos-bucket" in text
    assert "Provisioned" in text and "bucket is ready" in text


def test_explain_uses_the_crd_schema(bucket_crd: dict[str, Any], kubectl: Kubectl) -> None:
    text = kubectl.run("explain", "bucket.spec.name").stdout
    assert "The S3 bucket name." in text


def test_core_kinds_create_apply_and_namespace_deletion(kubectl: Kubectl) -> None:
    kubectl.run("create", "namespace", "team-a")
    kubectl.run("create", "configmap", "settings", "-n", "team-a", "--from-literal=level=debug")
    kubectl.run("create", "secret", "generic", "creds", "-n", "team-a", "--from-literal=key=s3cret")
    kubectl.apply(
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied","namespace":"team-a"},'
        '"data":{"a":"1"}}'
    )
    kubectl.apply(
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied","namespace":"team-a"},'
        '"data":{"b":"2"}}'
    )
    assert kubectl.json("get", "cm", "applied", "-n", "team-a")["data"] == {"b": "2"}
    assert kubectl.json("get", "secret", "creds", "-n", "team-a")["data"] == {"key": "czNjcmV0"}
    assert (
        kubectl.json("get", "ns", "team-a")["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team-a"
    )
    kubectl.run("delete", "namespace", "team-a", "--timeout=10s")
    assert kubectl.run("get", "ns", "team-a", check=False).returncode != 0
    assert kubectl.run("get", "cm", "-A", "-o", "name").stdout.strip() == ""


def test_crd_deletion_removes_the_resource_and_its_objects(
    bucket_crd: dict[str, Any], kubectl: Kubectl, http: Http
) -> None:
    kubectl.apply(bucket())
    kubectl.run("delete", "crd", "buckets.s3.test.awsop.io", "--timeout=10s")
    status, body, _ = http("GET", BUCKETS)
    assert status == 404 and body["reason"] == "NotFound"
    assert "s3.test.awsop.io" not in json.dumps(http("GET", "/apis")[1])
