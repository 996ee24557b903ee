import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from forge_mcp.cli.main import main


def test_status_human_and_json(repo, capsys) -> None:
    assert main(["status", "--repo", str(repo.path)]) == 0
    out = capsys.readouterr().out
    assert "2 commit(s), 3 file(s)" in out and "significant" in out and "new tags: v0.1" in out
    assert main(["status", "--repo", str(repo.path), "--since", "v0.1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["commit_count"] == 1 and report["base_source"] == "since"


def test_errors_exit_2_with_a_message(tmp_path: Path, repo, capsys) -> None:
    assert main(["status", "--repo", str(tmp_path)]) == 2
    assert "not inside a git repository" in capsys.readouterr().err
    assert main(["status", "--repo", str(repo.path), "--since", "nope"]) == 2
    assert "not a commit, branch or tag" in capsys.readouterr().err
    repo.write("forge.toml", "[watch]\ndebounce_ms = -5\n")
    assert main(["config", "--repo", str(repo.path)]) == 2
    assert "watch.debounce_ms" in capsys.readouterr().err


def test_config_prints_the_resolved_config(repo, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FORGE_MONITOR__MIN_CHANGED_FILES", "4")
    assert main(["config", "--repo", str(repo.path)]) == 0
    assert json.loads(capsys.readouterr().out)["monitor"]["min_changed_files"] == 4


def test_watch_prints_batches_and_events_lists_them(repo, capsys) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge_mcp", "watch", "--repo", str(repo.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert "watching" in proc.stdout.readline()
        repo.write("src/edited.py", "x = 1\n")
        line = proc.stdout.readline()
        assert "created" in line and "src/edited.py" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert main(["events", "--repo", str(repo.path), "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert events[0]["path"] == "src/edited.py"


def test_train_and_runs(capsys) -> None:
    import tempfile

    from tests.conftest import GitRepo

    repo = GitRepo(Path(tempfile.mkdtemp()) / "cli-train")
    repo.commit(
        "code",
        {
            f"m{i}.py": f'def helper_{i}(value):\n    """Return value plus {i}."""\n    return value + {i}\n'
            for i in range(12)
        },
    )
    repo.commit(
        "recent change",
        {
            "m0.py": 'def helper_0(value):\n    """Return value doubled."""\n'
            "    doubled = value * 2\n    return doubled + 0\n"
        },
    )
    assert main(["chunk", "--repo", str(repo.path), "--json"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "train",
                "--repo",
                str(repo.path),
                "--base-model",
                "tiny",
                "--iters",
                "10",
                "--batch-size",
                "2",
                "--task",
                "instruction",
                "--max-seq-length",
                "256",
                "--learning-rate",
                "1e-3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "completed at step 10/10" in out and "adapter:" in out
    assert main(["runs", "--repo", str(repo.path), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["status"] == "completed" and runs[0]["method"] == "lora"
    assert main(["train", "--repo", str(repo.path), "--resume", runs[0]["run_id"]]) == 2
    assert "cannot be resumed" in capsys.readouterr().err
    assert (
        main(["validate", "--repo", str(repo.path), "--max-examples", "2", "--max-tokens", "16", "--gate", "absolute"])
        == 1
    )
    out = capsys.readouterr().out
    assert out.startswith("FAIL: ") and "candidate run-" in out and "report.md" in out
    assert main(["validate", "--repo", str(repo.path), "--target", "run-nope"]) == 2
    assert "no run with id" in capsys.readouterr().err
