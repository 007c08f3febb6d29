"""Every example manifest, in any file and document order, converges with ONE `awsop apply` on a fresh
emulator, and the plan that follows is clean: the CLI orders dependencies named by AWS name (a bucket's
logging target, a group's launch template by name) like `ref` references, and a "dependency does not
exist yet" answer from AWS is tried again after the rest of the run."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from awsop.operator import cli

pytestmark = pytest.mark.aws

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def documents() -> list[str]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs.extend(yaml.safe_dump(d) for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
    return docs


@pytest.fixture(autouse=True)
def cli_env(aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWSOP_CLUSTER_ID", "examples")
    monkeypatch.setenv("AWSOP_JOURNAL", str(tmp_path / "journal.json"))
    monkeypatch.setenv("AWSOP_DEFAULT_TAGS", "{}")
    monkeypatch.setattr(cli, "RETRY_DELAY", 0.05, raising=False)


@pytest.mark.parametrize("order", ["files-reversed", "documents-reversed", "documents-shuffled"])
def test_examples_in_any_order_converge_with_one_apply(
    order: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if order == "files-reversed":  # the example files as they are, given last to first
        files = [f"-f={path}" for path in sorted(EXAMPLES.glob("*.yaml"), reverse=True)]
    else:
        docs = documents()
        assert len(docs) >= 15, "every example document"
        if order == "documents-reversed":
            docs.reverse()
        else:
            random.Random(order).shuffle(docs)
        folder = tmp_path / "manifests"
        folder.mkdir()
        for index, doc in enumerate(docs):  # one file per document: a folder is read in file-name order
            (folder / f"{index:03d}.yaml").write_text(doc)
        files = [f"-f={folder}"]
    code = cli.main(["plan", *files])
    out = capsys.readouterr()
    assert code == cli.EXIT_CHANGES, out.out + out.err
    code = cli.main(["apply", *files])
    out = capsys.readouterr()
    assert code == cli.EXIT_OK, out.out + out.err
    code = cli.main(["plan", *files])
    out = capsys.readouterr()
    assert code == cli.EXIT_OK, out.out + out.err
