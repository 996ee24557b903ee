"""deploy.llama_server: the detached llama.cpp OpenAI server: start, answer a chat, refuse a taken port, stop."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from forge_mcp.core.errors import DeployError
from forge_mcp.deploy import llama_server
from forge_mcp.deploy.gguf_export import export_gguf


@pytest.fixture(scope="module")
def served(tiny_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    """(pid, port, log) of one server over the tiny model, shared by this module's tests."""
    folder = tmp_path_factory.mktemp("llama-server")
    gguf = export_gguf(tiny_path, folder / "tiny.gguf", "f32").path
    port, log = llama_server.free_port(), folder / "server.log"
    pid = llama_server.start(gguf, port, log, n_ctx=256, timeout=120)
    yield pid, port, log
    llama_server.stop(pid)


def test_a_started_server_answers_a_chat_completion(served: tuple[int, int, Path]) -> None:
    pid, port, _ = served
    assert llama_server.alive(pid) and llama_server.port_open(port)
    answer = llama_server.chat_check(port, prompt="def add(a, b):", max_tokens=4)
    assert answer["prompt"] == "def add(a, b):" and isinstance(answer["reply"], str)
    assert answer["usage"]["completion_tokens"] <= 4 and answer["finish_reason"] in ("stop", "length")


def test_a_taken_port_is_refused_before_anything_starts(served: tuple[int, int, Path], tmp_path: Path) -> None:
    _, port, _ = served
    with pytest.raises(DeployError, match=f"port {port} on 127.0.0.1 is already in use"):
        llama_server.start(tmp_path / "unused.gguf", port, tmp_path / "log")
    assert not (tmp_path / "log").exists()


def test_a_file_that_does_not_load_fails_with_its_log(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf")
    log = tmp_path / "server.log"
    with pytest.raises(DeployError, match=r"exited with -?\d+ while loading bogus.gguf; its log: .*server.log"):
        llama_server.start(bogus, llama_server.free_port(), log, timeout=60)
    assert log.stat().st_size > 0


def test_chat_check_on_a_closed_port_is_a_deploy_error() -> None:
    port = llama_server.free_port()
    assert not llama_server.port_open(port)
    with pytest.raises(DeployError, match=f"port {port} did not answer a chat completion"):
        llama_server.chat_check(port)


def test_free_port_is_bindable() -> None:
    port = llama_server.free_port()
    with socket.socket() as s:
        s.bind((llama_server.HOST, port))
        s.listen()
        assert llama_server.port_open(port)
    assert not llama_server.port_open(port)


def test_stop_ends_the_process_group_and_alive_sees_it() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"], start_new_session=True
    )
    assert llama_server.alive(child.pid)
    llama_server.stop(child.pid, timeout=10)
    assert not llama_server.alive(child.pid)  # reaped, not left as a zombie that still "exists"
    llama_server.stop(child.pid)  # already gone: nothing to do
    llama_server.stop(None)


def test_stop_kills_what_ignores_sigterm() -> None:
    code = "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint(1, flush=True)\n"
    code += "while True: time.sleep(0.05)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    assert child.stdout is not None and child.stdout.readline()  # the handler is installed
    llama_server.stop(child.pid, timeout=0.3)
    assert child.wait(timeout=10) == -9
