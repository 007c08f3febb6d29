"""run_in_order: the CLI's worker pool starts an object only after its dependencies, never runs more than
`parallelism` at once, and with one worker is exactly the serial run."""

from __future__ import annotations

import random
import threading
import time

import pytest

from awsop.operator.parallel import run_in_order


class Recorder:
    """Work that takes a moment and records when each key started and ended, and the most in flight."""

    def __init__(self, seconds: float = 0.01, fail: str | None = None) -> None:
        self.seconds, self.fail = seconds, fail
        self.lock = threading.Lock()
        self.started: dict[str, int] = {}
        self.ended: dict[str, int] = {}
        self.order: list[str] = []
        self.clock = 0
        self.running = 0
        self.most = 0

    def __call__(self, key: str) -> str:
        with self.lock:
            self.clock += 1
            self.started[key] = self.clock
            self.order.append(key)
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
            self.clock += 1
            self.ended[key] = self.clock
        if key == self.fail:
            raise RuntimeError(f"{key} broke")
        return key.upper()


def graph(count: int, seed: int) -> tuple[list[str], dict[str, list[str]]]:
    """A random DAG whose edges point to earlier keys (what dependency_order produces)."""
    rnd = random.Random(seed)
    keys = [f"k{i:03d}" for i in range(count)]
    deps = {k: rnd.sample(keys[:i], min(i, rnd.choice([0, 0, 1, 2, 3]))) for i, k in enumerate(keys)}
    return keys, deps


@pytest.mark.parametrize("parallelism", [1, 4, 16])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_object_starts_after_its_dependencies_and_at_most_n_run_at_once(
    parallelism: int, seed: int
) -> None:
    keys, deps = graph(60, seed)
    work = Recorder()
    results = run_in_order(keys, deps, work, parallelism)
    assert results == {k: k.upper() for k in keys}
    for key, needs in deps.items():
        for needed in needs:
            assert work.ended[needed] < work.started[key], f"{key} started before {needed} ended"
    assert work.most <= parallelism
    if parallelism > 1:
        assert work.most > 1, "independent objects ran one at a time"


def test_one_worker_runs_the_given_order_exactly() -> None:
    keys, deps = graph(40, 7)
    work = Recorder(seconds=0)
    run_in_order(keys, deps, work, 1)
    assert work.order == keys  # the stable order is already topological: the serial run is unchanged


def test_the_earliest_ready_object_goes_first() -> None:
    keys = ["a", "b", "c", "d"]
    work = Recorder(seconds=0)
    run_in_order(keys, {"a": ["d"], "b": [], "c": [], "d": []}, work, 1)
    assert work.order == ["b", "c", "d", "a"]


def test_on_done_hears_each_result_once() -> None:
    keys, deps = graph(30, 5)
    heard: list[tuple[str, str]] = []
    run_in_order(keys, deps, Recorder(seconds=0), 8, lambda k, r: heard.append((k, r)))
    assert sorted(heard) == sorted((k, k.upper()) for k in keys)


def test_dependencies_outside_the_set_are_ignored() -> None:
    assert run_in_order(["a", "b"], {"b": ["a", "elsewhere"]}, str.upper, 4) == {"a": "A", "b": "B"}


def test_a_worker_exception_is_raised_and_its_dependents_never_start() -> None:
    work = Recorder(fail="a")
    with pytest.raises(RuntimeError, match="a broke"):
        run_in_order(["a", "b", "c"], {"b": ["a"]}, work, 4)
    assert "b" not in work.started


def test_a_cycle_is_refused_not_waited_for() -> None:
    with pytest.raises(ValueError, match="cycle"):
        run_in_order(["a", "b"], {"a": ["b"], "b": ["a"]}, str.upper, 2)


def test_parallelism_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        run_in_order(["a"], {}, str.upper, 0)


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_the_cli_refuses_a_parallelism_that_is_not_a_positive_number(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from awsop.operator import cli

    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["plan", "-f", "x", "--parallelism", value])
    assert "--parallelism" in capsys.readouterr().err
    assert cli.build_parser().parse_args(["plan", "-f", "x"]).parallelism == 16
