"""`awsop apply -f examples/` killed with SIGKILL at random points, then run again: the rerun converges
(exit 0, then plan exit 0) and no bucket is left without its owner tag.

The killed run is a forked child of this process running the CLI's `main` (the same code as the console
script, without three seconds of interpreter start-up per trial), against moto in a process of its own;
the journal of creates in flight is the child's only local state and is kept for the rerun.
"""

from __future__ import annotations

import os
import random
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from e2elib import REPO

from awsop.operator import cli
from awsop.reconcilers.tags import KIND_TAG, OWNER_TAG

TRIALS = 6
"""Kill points are stratified: trial i kills at a random point of the i-th sixth of the apply (from just
before the first create to the end), so the kills spread over the whole run however the seed falls, where
twelve uniform points could bunch. The printed (buckets existing, untagged) pairs show where they fell
(e.g. [(4, 4), (5, 5), (6, 0), (8, 0), (8, 0), (8, 0)]: amid the bucket creates, some made but not yet
tagged, and after the last bucket, in the queues and tables)."""


def expected_buckets() -> set[str]:
    """The buckets `apply -f examples/` makes in the default account: every managed Bucket example without
    an accountRef (its AWS name, or the default <namespace>-<name>)."""
    names = set()
    for path in (REPO / "examples").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "Bucket":
                continue
            spec, meta = doc.get("spec") or {}, doc["metadata"]
            if spec.get("managementPolicy") == "ObserveOnly" or spec.get("accountRef"):
                continue
            names.add(spec.get("name") or f"{meta.get('namespace', 'default')}-{meta['name']}")
    return names


EXPECTED = expected_buckets()


def _reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)


def _apply_in_child(journal: Path) -> int:
    """Fork a child running `awsop apply -f examples/`; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child: no pytest cleanup, no return
        code = 1
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            code = cli.main(["apply", "-f", str(REPO / "examples"), "--journal", str(journal)])
        finally:
            os._exit(code)
    return pid


def _tags(s3: Any, bucket: str) -> dict[str, str]:
    try:
        return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    except s3.exceptions.ClientError:
        return {}


@pytest.mark.slow
def test_apply_killed_at_random_points_then_rerun_converges_without_untagged_buckets(
    own_aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        **own_aws.env(),
        "AWSOP_CLUSTER_ID": "kill",
        "AWSOP_DEFAULT_TAGS": "{}",
        "AWSOP_DEFAULT_RATE_LIMIT": "0",  # unthrottled: the kill points spread over the AWS calls only
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWSOP_JOURNAL", raising=False)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=own_aws.url)

    # the children are forked from this process: the measured run starts as warm as the killed ones (the
    # service models parsed here, on one thread; a plan of the examples on an empty emulator exits 2)
    assert cli.main(["plan", "-f", str(REPO / "examples"), "--parallelism", "1"]) == cli.EXIT_CHANGES
    capsys.readouterr()
    _reset(own_aws.url)
    measure = tmp_path / "measure.json"
    started = time.monotonic()
    pid = _apply_in_child(measure)
    first_create = None
    while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if first_create is None and measure.exists():  # the mark written just before the first create
            first_create = time.monotonic() - started
        time.sleep(0.005)
    duration = time.monotonic() - started
    assert status[1] == 0, "an uninterrupted apply succeeds"
    assert first_create is not None, "an uninterrupted apply creates the example buckets"
    # kill points are spread over the AWS calls: from a little before the first create to the end
    earliest = max(0.0, first_create - 0.1)

    rng = random.Random(int(os.environ.get("AWSOP_KILL_SEED", "7")))
    left_after_kill: list[tuple[int, int]] = []  # per trial: buckets existing at the kill, untagged ones
    for trial in range(TRIALS):
        _reset(own_aws.url)
        journal = tmp_path / f"journal-{trial}.json"
        pid = _apply_in_child(journal)
        stratum = (duration - earliest) / TRIALS
        time.sleep(earliest + stratum * (trial + rng.random()))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        left = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        untagged = sum(1 for name in left if OWNER_TAG not in _tags(s3, name))
        left_after_kill.append((len(left), untagged))

        # this process forks the next trial's child: its own reruns stay on one thread (a process that
        # forks should not have run threads; one run hung in logging's lock after such a fork), while
        # the killed children run the default pool of workers
        rerun = ["--journal", str(journal), "--parallelism", "1"]
        assert cli.main(["apply", "-f", str(REPO / "examples"), *rerun]) == 0, (
            f"trial {trial}: {capsys.readouterr().out}"
        )
        assert cli.main(["plan", "-f", str(REPO / "examples"), *rerun]) == 0, (
            f"trial {trial}: {capsys.readouterr().out}"
        )
        buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert buckets == EXPECTED, f"trial {trial}"
        for name in buckets:
            tags = _tags(s3, name)
            assert tags.get(OWNER_TAG, "").startswith("kill/default/") and tags[KIND_TAG] == "Bucket", name
        capsys.readouterr()
    with capsys.disabled():
        print(
            f"\n{TRIALS} kill trials (apply {duration:.2f} s, first create at {first_create:.2f} s): "
            f"(buckets existing, untagged) at each kill {left_after_kill}, all recovered"
        )
