"""miner/teacher.py: the Ollama teacher through the official client against a fake server at the HTTP
boundary (its /api/chat answers what each test scripts), and the checks on what it writes."""

from __future__ import annotations

import json

import httpx
import ollama
import pytest

from forge_mcp.core.workspace import Workspace
from forge_mcp.miner.chunker import chunk_code
from forge_mcp.miner.examples import BEGIN_QUOTE, END_QUOTE
from forge_mcp.miner.teacher import Teacher, teacher_for
from tests.deploy.fake_ollama import FakeOllama

HOST = "http://127.0.0.1:11434"
CHUNK = chunk_code(
    "app/util.py", b'def slugify(text):\n    """Slug."""\n    return "-".join(text.split())\n', "python"
)[0]


class ChatOllama(FakeOllama):
    """The fake Ollama with one pulled model and a scripted chat reply."""

    def __init__(self, reply: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.reply = reply
        self.models["coder:latest"] = {"digest": "d", "size": 1, "template": ""}

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/chat" and self.reachable:
            self.requests.append(("POST", "/api/chat", json.loads(request.content)))
            return httpx.Response(
                200,
                json={
                    "model": "coder",
                    "created_at": "2026-01-01T00:00:00Z",
                    "done": True,
                    "message": {"role": "assistant", "content": self.reply},
                },
            )
        return super().handle(request)


def _teacher(fake: FakeOllama, model: str = "coder") -> Teacher:
    return Teacher(model, HOST, client=ollama.Client(host=HOST, transport=fake.transport()))


def test_available_only_when_the_server_has_the_model() -> None:
    assert _teacher(ChatOllama()).available() and _teacher(ChatOllama(), "coder:latest").available()
    assert not _teacher(ChatOllama(), "other").available()
    assert not _teacher(ChatOllama(reachable=False)).available()


def test_a_good_reply_is_kept_and_gets_its_answer_line() -> None:
    answer = f'It joins words. {BEGIN_QUOTE}return "-".join(text.split()){END_QUOTE}'
    fake = ChatOllama(json.dumps({"question": " How are slugs made? ", "answer": answer}))
    assert _teacher(fake).write(CHUNK, "shop") == ("How are slugs made?", answer + "\n##Answer: `app/util.py::slugify`")
    _, _, body = fake.requests[-1]
    assert body["model"] == "coder" and body["format"] == "json" and body["options"] == {"temperature": 0.2}
    prompt = body["messages"][0]["content"]
    assert "`app/util.py::slugify`" in prompt and "shop repository" in prompt


@pytest.mark.parametrize(
    "reply",
    [
        "not json at all",
        json.dumps({"question": "", "answer": f"{BEGIN_QUOTE}x{END_QUOTE}"}),
        json.dumps({"question": "Q?", "answer": "no quote markers"}),
    ],
)
def test_an_unusable_reply_falls_back(reply: str) -> None:
    assert _teacher(ChatOllama(reply)).write(CHUNK, "shop") is None


def test_an_unreachable_teacher_writes_nothing() -> None:
    assert _teacher(ChatOllama(reachable=False)).write(CHUNK, "shop") is None


def test_teacher_for_follows_the_argument_then_the_config(repo) -> None:
    ws = Workspace.open(repo.path)
    assert teacher_for(ws) is None
    assert teacher_for(ws, "coder").model == "coder"
    configured = Workspace.open(repo.path, {"miner": {"teacher_model": "qwen", "ollama_host": "http://127.0.0.1:9"}})
    teacher = teacher_for(configured)
    assert teacher.model == "qwen" and teacher.host == "http://127.0.0.1:9"
