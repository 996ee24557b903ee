"""The local target: llama.cpp's OpenAI-compatible server (llama-cpp-python) on 127.0.0.1, serving the GGUF.

The server is a detached process that outlives the forge; its pid, port and model are in the deployment
log. A deployment counts only after a real chat completion came back from it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from forge_mcp.core.errors import DeployError

HOST = "127.0.0.1"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def start(gguf: Path, port: int, log: Path, n_ctx: int = 2048, timeout: float = 120) -> int:
    """Start the server and wait until it answers; returns its pid. Fails clearly if the port is taken."""
    if port_open(port):
        raise DeployError(
            f"port {port} on {HOST} is already in use: stop what listens there or set [deploy] llama_port in forge.toml"
        )
    # Our wrapper of llama_cpp.server: it loads without the extra buffer types that crash on AMX CPUs.
    args = [
        sys.executable,
        "-P",
        "-m",
        "forge_mcp.deploy.llama_runtime",
        "--model",
        str(gguf),
        "--host",
        HOST,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
    ]
    with open(log, "ab") as out:
        child = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )  # outlives the forge, like any served model
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise DeployError(
                f"the llama.cpp server exited with {child.returncode} while loading {gguf.name}; its log: {log}"
            )
        try:
            _get(port, "/v1/models")
            return child.pid
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    stop(child.pid)
    raise DeployError(f"the llama.cpp server did not answer within {timeout:.0f}s; its log: {log}")


def chat_check(port: int, prompt: str = "def add(a, b):", max_tokens: int = 16) -> dict[str, Any]:
    """One real chat completion; returns what came back (the deployment's proof that it serves)."""
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "temperature": 0}
    try:
        answer = _post(port, "/v1/chat/completions", body)
        message = answer["choices"][0]["message"]
    except (OSError, urllib.error.URLError, KeyError, IndexError, ValueError) as exc:
        raise DeployError(f"the llama.cpp server on port {port} did not answer a chat completion: {exc}") from exc
    return {
        "prompt": prompt,
        "reply": message.get("content", ""),
        "finish_reason": answer["choices"][0].get("finish_reason"),
        "usage": answer.get("usage", {}),
    }


def stop(pid: int | None, timeout: float = 10) -> None:
    if not pid or not alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own child so it does not linger as a zombie
    except ChildProcessError:
        pass
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return sys.platform != "linux"


def _get(port: int, path: str) -> Any:
    with _OPENER.open(f"http://{HOST}:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


def _post(port: int, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"http://{HOST}:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _OPENER.open(request, timeout=120) as r:
        return json.loads(r.read())
