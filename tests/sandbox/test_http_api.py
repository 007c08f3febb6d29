"""REST semantics over raw HTTP: watches, 410 Gone, bookmarks, error shapes, patches, concurrency."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from conftest import BUCKETS, Http, Kubectl, bucket

from awsop.sandbox.kubeapi import KubeAPIServer

CMS = "/api/v1/namespaces/default/configmaps"


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"},
    }


def test_watch_from_resource_version_streams_added_modified_deleted(http: Http) -> None:
    _, listed, _ = http("GET", CMS)
    since = listed["metadata"]["resourceVersion"]
    http("POST", CMS, _cm("one"))
    http("PATCH", f"{CMS}/one", {"data": {"k": "w"}}, content_type="application/merge-patch+json")
    http("DELETE", f"{CMS}/one")
    events = http.watch(f"{CMS}?watch=true&resourceVersion={since}&timeoutSeconds=1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "one"),
        ("MODIFIED", "one"),
        ("DELETED", "one"),
    ]
    assert events[1]["object"]["data"] == {"k": "w"}
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(since)


def test_watch_without_resource_version_starts_with_the_current_state_then_live_events(http: Http) -> None:
    http("POST", CMS, _cm("existing"))

    def later() -> None:
        time.sleep(0.5)
        http("POST", CMS, _cm("fresh"))

    thread = threading.Thread(target=later)
    thread.start()
    events = http.watch(f"{CMS}?watch=1&timeoutSeconds=2")
    thread.join()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "existing"),
        ("ADDED", "fresh"),
    ]


def test_watch_with_too_old_resource_version_answers_410_gone() -> None:
    with KubeAPIServer(history_size=3) as server:
        http = Http(server.url)
        for i in range(6):
            http("POST", CMS, _cm(f"cm-{i}"))
        events = http.watch(f"{CMS}?watch=true&resourceVersion=2&timeoutSeconds=1")
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith("too old resource version: 2")


def test_watch_sends_bookmarks_and_initial_events_end_marker() -> None:
    with KubeAPIServer(bookmark_interval=0.5) as server:
        http = Http(server.url)
        http("POST", CMS, _cm("one"))
        events = http.watch(
            f"{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
            "&allowWatchBookmarks=true&timeoutSeconds=2"
        )
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert [e["type"] for e in events[2:]] and {e["type"] for e in events[2:]} == {"BOOKMARK"}


def test_label_selector_watch_reports_objects_leaving_and_entering_the_selection(http: Http) -> None:
    since = http("GET", CMS)[1]["metadata"]["resourceVersion"]
    http("POST", CMS, _cm("sel", tier="web"))
    http(
        "PATCH",
        f"{CMS}/sel",
        {"metadata": {"labels": {"tier": "db"}}},
        content_type="application/merge-patch+json",
    )
    http(
        "PATCH",
        f"{CMS}/sel",
        {"metadata": {"labels": {"tier": "web"}}},
        content_type="application/merge-patch+json",
    )
    events = http.watch(f"{CMS}?watch=true&resourceVersion={since}&labelSelector=tier%3Dweb&timeoutSeconds=1")
    assert [e["type"] for e in events] == ["ADDED", "DELETED", "ADDED"]


@pytest.mark.parametrize(
    ("method", "path", "code", "reason", "message"),
    [
        ("GET", f"{CMS}/nope", 404, "NotFound", 'configmaps "nope" not found'),
        (
            "GET",
            "/apis/s3.test.awsop.io/v1alpha1/namespaces/default/buckets/nope",
            404,
            "NotFound",
            'buckets.s3.test.awsop.io "nope" not found',
        ),
        (
            "GET",
            "/apis/nothing.io/v1/things",
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
        (
            "PUT",
            CMS,
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
        (
            "POST",
            f"{CMS}/x",
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
    ],
)
def test_errors_are_kubernetes_status_objects(
    bucket_crd: dict[str, Any], http: Http, method: str, path: str, code: int, reason: str, message: str
) -> None:
    status, body, _ = http(method, path, {} if method in ("PUT", "POST") else None)
    assert status == code
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert (body["code"], body["reason"], body["message"]) == (code, reason, message)


def test_create_twice_is_already_exists_and_generate_name_makes_unique_names(http: Http) -> None:
    assert http("POST", CMS, _cm("dup"))[0] == 201
    status, body, _ = http("POST", CMS, _cm("dup"))
    assert (status, body["reason"], body["message"]) == (
        409,
        "AlreadyExists",
        'configmaps "dup" already exists',
    )
    generated = {"metadata": {"generateName": "gen-"}, "data": {}}
    names = {http("POST", CMS, generated)[1]["metadata"]["name"] for _ in range(3)}
    assert len(names) == 3 and all(n.startswith("gen-") and len(n) == 9 for n in names)


def test_put_with_stale_resource_version_is_409_and_fresh_one_succeeds(
    bucket_crd: dict[str, Any], http: Http
) -> None:
    _, created, _ = http("POST", BUCKETS, json.loads(bucket()))
    http(
        "PATCH",
        f"{BUCKETS}/photos",
        {"metadata": {"labels": {"x": "y"}}},
        content_type="application/merge-patch+json",
    )
    created["spec"]["name"] = "renamed"
    status, body, _ = http("PUT", f"{BUCKETS}/photos", created)
    assert (status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on buckets.s3.test.awsop.io "photos": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    fresh = http("GET", f"{BUCKETS}/photos")[1]
    fresh["spec"]["name"] = "renamed"
    status, updated, _ = http("PUT", f"{BUCKETS}/photos", fresh)
    assert status == 200 and updated["metadata"]["generation"] == 2
    del fresh["metadata"]["resourceVersion"]
    status, body, _ = http("PUT", f"{BUCKETS}/photos", fresh)
    assert status == 422 and "metadata.resourceVersion" in body["message"]


def test_json_patch_test_operation_failure_is_422_like_kopf_expects(
    bucket_crd: dict[str, Any], http: Http
) -> None:
    http("POST", BUCKETS, json.loads(bucket()))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]},
    ]
    status, body, _ = http("PATCH", f"{BUCKETS}/photos", ops, content_type="application/json-patch+json")
    assert status == 422 and body["kind"] == "Status"
    current = http("GET", f"{BUCKETS}/photos")[1]["metadata"]["resourceVersion"]
    ops[0]["value"] = current
    status, body, _ = http("PATCH", f"{BUCKETS}/photos", ops, content_type="application/json-patch+json")
    assert status == 200 and body["metadata"]["finalizers"] == ["x/y"]


def test_strategic_merge_patch_is_415_for_custom_resources_and_works_for_core(
    bucket_crd: dict[str, Any], http: Http
) -> None:
    http("POST", BUCKETS, json.loads(bucket()))
    smp = "application/strategic-merge-patch+json"
    status, body, _ = http("PATCH", f"{BUCKETS}/photos", {"spec": {"versioning": True}}, content_type=smp)
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")
    http("POST", CMS, {**_cm("smp"), "metadata": {"name": "smp", "finalizers": ["a/b"]}})
    status, body, _ = http(
        "PATCH", f"{CMS}/smp", {"metadata": {"finalizers": ["c/d"]}, "data": {"n": "1"}}, content_type=smp
    )
    assert status == 200
    assert body["metadata"]["finalizers"] == ["a/b", "c/d"]
    assert body["data"] == {"k": "v", "n": "1"}


def test_table_output_has_printer_columns(bucket_crd: dict[str, Any], kubectl: Kubectl, http: Http) -> None:
    kubectl.apply(bucket())
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table, _ = http("GET", BUCKETS, accept=accept)
    assert status == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Region", "Ready", "Age"]
    assert table["rows"][0]["cells"][:3] == ["photos", "eu-west-1", None]


def test_python_kubernetes_client_get_list_patch(bucket_crd: dict[str, Any], kubeconfig: Any) -> None:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    custom = client.CustomObjectsApi(api_client)
    args = ("s3.test.awsop.io", "v1alpha1", "default", "buckets")
    custom.create_namespaced_custom_object(*args, json.loads(bucket()))
    assert custom.get_namespaced_custom_object(*args, "photos")["spec"]["region"] == "eu-west-1"
    custom.patch_namespaced_custom_object_status(*args, "photos", {"status": {"bucketArn": "arn:x"}})
    custom.patch_namespaced_custom_object(*args, "photos", {"spec": {"versioning": True}})
    listed = custom.list_namespaced_custom_object(*args, label_selector="team=media")
    assert [i["status"]["bucketArn"] for i in listed["items"]] == ["arn:x"]
    assert listed["items"][0]["metadata"]["generation"] == 2
    core = client.CoreV1Api(api_client)
    assert "default" in [ns.metadata.name for ns in core.list_namespace().items]
    api_client.close()


def test_annotations_over_256_kib_are_422_like_the_real_server(http: Http) -> None:
    big = _cm("annotated")
    big["metadata"]["annotations"] = {"a": "x" * 200_000, "b": "y" * 62_143}  # 262,145 bytes with keys
    status, body, _ = http("POST", CMS, big)
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'ConfigMap "annotated" is invalid: metadata.annotations: Too long: must have at most 262144 bytes'
    )
    big["metadata"]["annotations"]["b"] = "y" * 62_142  # exactly the limit
    assert http("POST", CMS, big)[0] == 201
    status, body, _ = http(
        "PATCH",
        f"{CMS}/annotated",
        {"metadata": {"annotations": {"c": "z"}}},
        content_type="application/merge-patch+json",
    )
    assert (status, body["details"]["causes"][0]["field"]) == (422, "metadata.annotations")


def test_events_in_a_terminating_namespace_are_403_namespace_terminating(http: Http) -> None:
    http("POST", "/api/v1/namespaces", {"metadata": {"name": "leaving"}})
    http(
        "POST",
        "/api/v1/namespaces/leaving/configmaps",
        {**_cm("held"), "metadata": {"name": "held", "finalizers": ["x.io/hold"]}},
    )
    http("DELETE", "/api/v1/namespaces/leaving")
    event = {
        "metadata": {"generateName": "awsop-"},
        "involvedObject": {"kind": "ConfigMap", "name": "held", "namespace": "leaving"},
        "reason": "Deleted",
        "message": "bye",
        "type": "Normal",
    }
    status, body, _ = http("POST", "/api/v1/namespaces/leaving/events", event)
    assert (status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        "events is forbidden: unable to create new content in namespace leaving "
        "because it is being terminated"
    )
    assert body["details"]["causes"] == [
        {
            "reason": "NamespaceTerminating",
            "message": "namespace leaving is being terminated",
            "field": "metadata.namespace",
        }
    ]
