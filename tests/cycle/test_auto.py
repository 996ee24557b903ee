"""cycle.auto: cycles on a background thread, and auto mode starting one per significant commit when idle."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from forge_mcp.core.workspace import Workspace
from forge_mcp.cycle import auto
from forge_mcp.cycle.auto import AutoCycler, start_cycle
from forge_mcp.cycle.params import CycleParams, CycleResult
from forge_mcp.cycle.run import active_cycle, cycle_info, list_cycles, new_cycle, run_cycle
from tests.conftest import GitRepo, wait_until

# Every cycle here stops at its train stage (an unknown base model, about a second in): what is tested is when
# cycles start, not what they do.
FAST_FAIL = {"FORGE_CYCLE__BASE_MODEL": "./missing-model", "FORGE_CYCLE__INDEX": "false"}


def small_project(path: Path) -> GitRepo:
    repo = GitRepo(path)
    repo.commit(
        "code",
        {
            f"pkg/m{i}.py": f'def helper_{i}(value):\n    """Return value plus {i}."""\n    return value + {i}\n'
            for i in range(4)
        },
    )
    return repo


@pytest.fixture
def fast_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAST_FAIL.items():
        monkeypatch.setenv(key, value)


class Auto:
    """An AutoCycler over named workspaces, recording what it looked at and what it announced."""

    def __init__(self, workspaces: dict[str, Workspace]) -> None:
        self.workspaces = workspaces
        self.looked: list[str] = []
        self.announced: list[str] = []
        self.cycler = AutoCycler(self._named, lambda ws: None, self.announced.append)

    def _named(self, name: str) -> Workspace:
        self.looked.append(name)
        return self.workspaces[name]

    def considered(self, name: str, times: int = 1) -> Callable[[], bool]:
        return lambda: self.looked.count(name) >= times


@pytest.fixture
def make_auto() -> Iterator[Callable[[dict[str, Workspace]], Auto]]:
    made: list[Auto] = []

    def make(workspaces: dict[str, Workspace]) -> Auto:
        made.append(Auto(workspaces))
        return made[-1]

    yield make
    for a in made:
        a.cycler.stop()
        for ws in a.workspaces.values():  # no cycle thread left writing into a removed temp folder
            assert wait_until(lambda ws=ws: active_cycle(ws) is None, timeout=60, interval=0.05)


def finished(ws: Workspace, count: int) -> Callable[[], bool]:
    def check() -> bool:
        cycles = list_cycles(ws)
        return len(cycles) >= count and all(c.status != "running" for c in cycles)

    return check


def test_start_cycle_returns_the_record_at_once_and_reports_when_done(tmp_path: Path, fast_fail: None) -> None:
    ws = Workspace.open(small_project(tmp_path / "p").path)
    done: list[CycleResult] = []
    record = start_cycle(ws, CycleParams.from_config(ws), on_done=done.append)
    assert record.status == "running" and record.trigger == "manual"
    assert wait_until(lambda: bool(done), timeout=60, interval=0.05)
    assert done[0].cycle_id == record.cycle_id and done[0].status == "failed"
    assert "unknown base model" in (done[0].error or "")
    assert cycle_info(ws, record.cycle_id).model_dump() == done[0].model_dump()
    assert wait_until(lambda: not [t for t in threading.enumerate() if t.name == f"forge-{record.cycle_id}"])


def test_auto_mode_off_starts_nothing(tmp_path: Path, make_auto, fast_fail: None) -> None:
    ws = Workspace.open(small_project(tmp_path / "off").path)
    a = make_auto({"off": ws})
    a.cycler.poke("off")
    assert wait_until(a.considered("off"))
    a.cycler.poke("off")  # a second look starts only after the first one is over
    assert wait_until(a.considered("off", 2))
    a.cycler.stop()
    assert list_cycles(ws) == [] and a.announced == []


def test_one_auto_cycle_per_significant_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_auto, fast_fail: None
) -> None:
    monkeypatch.setenv("FORGE_CYCLE__AUTO", "true")
    repo = small_project(tmp_path / "on")
    ws = Workspace.open(repo.path)
    a = make_auto({"on": ws})
    a.cycler.poke("on")
    assert wait_until(finished(ws, 1), timeout=60, interval=0.05)
    [first] = list_cycles(ws)
    assert first.trigger == "auto" and first.status == "failed"
    assert wait_until(lambda: a.announced.count("on") >= 2)  # when it started and when it ended
    a.cycler.poke("on")  # the same HEAD: a cycle that failed is not retried in a loop
    assert wait_until(a.considered("on", 2))
    a.cycler.poke("on")
    assert wait_until(a.considered("on", 3))
    # Looks run one after another: once "gone" (no such workspace) is looked at, the look at "on" (its git
    # commands included) is over, and committing there cannot race it for git's index lock.
    a.cycler.poke("gone")
    assert wait_until(a.considered("gone"))
    assert len(list_cycles(ws)) == 1
    repo.commit("more", {"pkg/extra.py": "def extra():\n    return 5\n"})
    a.cycler.poke("on")
    assert wait_until(finished(ws, 2), timeout=60, interval=0.05)
    assert [c.trigger for c in list_cycles(ws)] == ["auto", "auto"]


def test_a_trigger_waits_while_a_cycle_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_auto, fast_fail: None
) -> None:
    monkeypatch.setenv("FORGE_CYCLE__AUTO", "true")
    monkeypatch.setattr(auto, "RECHECK_S", 0.05)
    ws = Workspace.open(small_project(tmp_path / "busy").path)
    manual = new_cycle(ws, CycleParams.from_config(ws))  # recorded as running: auto mode must wait
    a = make_auto({"busy": ws})
    a.cycler.poke("busy")
    assert wait_until(a.considered("busy", 3))  # it looks again and again while the cycle runs
    assert [c.cycle_id for c in list_cycles(ws)] == [manual.cycle_id]
    run_cycle(ws, CycleParams.from_config(ws), result=manual)
    assert wait_until(finished(ws, 2), timeout=60, interval=0.05)
    assert [c.trigger for c in list_cycles(ws)] == ["auto", "manual"]


def test_one_failing_repository_does_not_end_auto_mode(tmp_path: Path, make_auto) -> None:
    ws = Workspace.open(small_project(tmp_path / "fine").path)
    a = make_auto({"fine": ws})  # "gone" is not a workspace: looking it up raises
    a.cycler.poke("gone")
    assert wait_until(a.considered("gone"))
    a.cycler.poke("fine")
    assert wait_until(a.considered("fine"))  # still looking after the failure
