import os
import signal
import subprocess
import sys
from pathlib import Path

from forge_mcp.core.fsutil import atomic_write_json, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_reader_never_sees_a_partial_file_when_writer_is_killed(tmp_path: Path) -> None:
    target = tmp_path / "big.txt"
    atomic_write_text(target, "A" * 1_000_000)
    code = (
        "import sys; from pathlib import Path; from forge_mcp.core.fsutil import atomic_write_text\n"
        "p = Path(sys.argv[1]); i = 0\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    i += 1; atomic_write_text(p, chr(65 + i % 26) * 1_000_000)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for _ in range(200):  # read while the writer races
        text = target.read_text()
        assert len(text) == 1_000_000 and text == text[0] * len(text)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    text = target.read_text()
    assert len(text) == 1_000_000 and text == text[0] * len(text)
