import json
import types
from pathlib import Path

import httpx
import pytest

from forge_mcp.core.errors import RefNotFoundError, RepoError
from forge_mcp.core.workspace import Workspace
from forge_mcp.miner.datasets import TASKS, build_dataset
from forge_mcp.miner.examples import BEGIN_QUOTE, END_QUOTE
from forge_mcp.miner.teacher import Teacher
from tests.conftest import PLANTED


def _rows(ds: Path, task: str, split: str) -> list[dict]:
    path = ds / task / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _all_text(ds: Path, task: str, split: str) -> str:
    return json.dumps(_rows(ds, task, split))


def test_dataset_layout_manifest_and_recency_split(code_repo) -> None:
    summary = build_dataset(Workspace.open(code_repo.path))
    ds = Path(summary.path)
    assert summary.held_out_commits == 1 and summary.duplicates_removed >= 1
    # "binary and huge" changed no code unit: it is walked past, not held out.
    assert summary.held_out.skipped_commits == 1 and [c.subject for c in summary.held_out.commits] == ["tune engine"]
    manifest = json.loads((ds / "manifest.json").read_text())
    assert manifest["summary"]["dataset_id"] == summary.dataset_id
    assert manifest["config"]["miner"]["held_out_commits"] == 5
    assert set(manifest["file_hashes"]) >= {"completion/train.jsonl", "raft/test.jsonl"}
    split_of = {u["qualname"]: u["split"] for u in manifest["units"]}
    assert split_of["app/core.py::Engine.stop"] == "test"  # changed by the last commit
    assert split_of["app/util.py::slugify"] in ("train", "valid")
    # The held-out unit never reaches train or valid, not even as a RAFT distractor.
    for task in TASKS:
        for split in ("train", "valid"):
            assert 'self.log(\\"stopped\\")' not in _all_text(ds, task, split)
    assert 'self.log(\\"stopped\\")' in _all_text(ds, "completion", "test")
    assert summary.splits["completion"]["test"] >= 1 and summary.tokens_estimate["raft"] > 0
    assert summary.generator == "templated"


def test_examples_in_mlx_lm_formats(code_repo) -> None:
    ds = Path(build_dataset(Workspace.open(code_repo.path)).path)
    rows = [r for s in ("train", "valid", "test") for r in _rows(ds, "completion", s)]
    start = next(r for r in rows if "def start" in r["prompt"])
    assert start["prompt"].startswith("# app/core.py / Engine.start\n")
    assert start["prompt"].rstrip().endswith('"""Start every job in order and return how many ran."""')
    assert start["completion"].lstrip().startswith("count = 0")
    # Every body starts on its own line with its indent, with or without a docstring before it.
    assert all(
        r["completion"].startswith("\n") and not r["prompt"].endswith((" ", "\n"))
        for r in rows
        if r.get("language", "python") == "python"
    )
    instr = [r for s in ("train", "valid", "test") for r in _rows(ds, "instruction", s)]
    assert any(m["content"] == "Turn text into a lowercase slug for URLs." for r in instr for m in r["messages"])
    raft = [r for s in ("train", "valid", "test") for r in _rows(ds, "raft", s)]
    answer = raft[0]["messages"][-1]["content"]
    assert BEGIN_QUOTE in answer and END_QUOTE in answer and "##Answer: `" in answer
    assert all(r["text"].startswith(("# ", "//", "docs/")) for r in _rows(ds, "text", "train"))


def test_mlx_lm_loads_every_task(code_repo) -> None:
    from mlx_lm.tuner.datasets import load_local_dataset
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    ds = Path(build_dataset(Workspace.open(code_repo.path)).path)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [line for task in TASKS for line in (ds / task / "train.jsonl").read_text().splitlines()]
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|endoftext|>",
        chat_template="{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    )
    for task in TASKS:
        train, valid, test = load_local_dataset(ds / task, tokenizer, types.SimpleNamespace(mask_prompt=False))
        assert len(train) > 0, task
        tokens, offset = train.process(train[0])
        assert len(tokens) > 5 and offset >= 0


def test_no_planted_secret_anywhere_in_the_state_folder(code_repo) -> None:
    ws = Workspace.open(code_repo.path)
    build_dataset(ws)
    for path in ws.state_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in PLANTED:
                assert secret.encode() not in data, (path, secret)


def test_identical_inputs_reuse_the_dataset(code_repo) -> None:
    ws = Workspace.open(code_repo.path)
    first = build_dataset(ws)
    again = build_dataset(ws)
    assert again.reused and again.dataset_id == first.dataset_id
    rebuilt = build_dataset(ws, force=True)
    assert not rebuilt.reused and rebuilt.dataset_id == first.dataset_id
    other = build_dataset(Workspace.open(code_repo.path, {"miner": {"held_out_commits": 1}}))
    assert other.dataset_id != first.dataset_id and other.held_out_commits == 1
    assert ws.store.get_record("datasets", first.dataset_id)["status"] == "ready"
    assert not list((ws.state_dir / "datasets").glob(".*.tmp"))


@pytest.mark.parametrize(("p", "expect_oracle"), [(1.0, True), (0.0, False)])
def test_raft_oracle_fraction_and_distractors(code_repo, p: float, expect_oracle: bool) -> None:
    ws = Workspace.open(code_repo.path, {"miner": {"raft_oracle_fraction": p, "raft_distractors": 2}})
    ds = Path(build_dataset(ws).path)
    for split in ("train", "valid", "test"):
        for row in _rows(ds, "raft", split):
            user = row["messages"][1]["content"]
            oracle = row["messages"][2]["content"].rsplit("`", 2)[1]  # path::qualname
            path, symbol = oracle.split("::")
            header = f"{path} / {symbol}\n"
            assert (header in user) is expect_oracle
            assert user.count("<DOCUMENT>") == 2 + int(expect_oracle)


def test_bad_refs_and_empty_repositories(code_repo, make_repo) -> None:
    with pytest.raises(RefNotFoundError):
        build_dataset(Workspace.open(code_repo.path), ref="no-such-ref")
    empty = make_repo("empty")
    with pytest.raises(RepoError, match="no commits"):
        build_dataset(Workspace.open(empty.path))


def test_teacher_over_the_ollama_http_api(code_repo) -> None:
    """Ollama cannot run here: its HTTP API is answered by a hand-written fake at the transport."""
    import ollama

    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": [{"model": "qwen2.5-coder:7b", "name": "qwen2.5-coder:7b"}]})
        body = json.loads(request.content)
        seen.append(body)
        assert request.url.path == "/api/chat" and body["model"] == "qwen2.5-coder:7b" and body["format"] == "json"
        reply = {
            "question": "How do I make a URL slug?",
            "answer": f'It lowercases and joins words: {BEGIN_QUOTE}return "-".join(...){END_QUOTE}',
        }
        return httpx.Response(
            200,
            json={
                "model": body["model"],
                "created_at": "2026-01-01T00:00:00Z",
                "done": True,
                "message": {"role": "assistant", "content": json.dumps(reply)},
            },
        )

    client = ollama.Client(host="http://127.0.0.1:11434", transport=httpx.MockTransport(handler))
    teacher = Teacher("qwen2.5-coder:7b", client=client)
    summary = build_dataset(Workspace.open(code_repo.path), teacher=teacher, force=True)
    assert summary.generator.startswith("teacher:qwen2.5-coder:7b (") and seen
    raft = [r for s in ("train", "valid", "test") for r in _rows(Path(summary.path), "raft", s)]
    taught = [r for r in raft if r["messages"][1]["content"].endswith("How do I make a URL slug?")]
    assert taught and all("##Answer: `" in r["messages"][2]["content"] for r in taught)


def test_unreachable_teacher_falls_back_to_templates(code_repo) -> None:
    teacher = Teacher("missing-model", host="http://127.0.0.1:9")  # nothing listens on port 9
    summary = build_dataset(Workspace.open(code_repo.path), teacher=teacher, force=True)
    assert summary.generator == "templated"
    assert any("unreachable or not pulled" in note for note in summary.notes)


@pytest.mark.skipif(
    not __import__("os").environ.get("FORGE_TEST_TEACHER_MODEL"),
    reason="set FORGE_TEST_TEACHER_MODEL (and OLLAMA_HOST) to run against a live Ollama",
)
def test_live_teacher(code_repo) -> None:
    import os

    teacher = Teacher(os.environ["FORGE_TEST_TEACHER_MODEL"], host=os.environ.get("OLLAMA_HOST"))
    assert teacher.available()
    summary = build_dataset(
        Workspace.open(code_repo.path, {"miner": {"teacher_max_examples": 2}}), teacher=teacher, force=True
    )
    assert summary.generator.startswith("teacher:")


def test_a_body_without_a_docstring_starts_on_its_own_line(make_repo) -> None:
    repo = make_repo("plain")
    repo.commit("code", {"calc.py": "def total(items):\n    count = sum(items)\n    return count * 2\n"})
    ds = Path(build_dataset(Workspace.open(repo.path)).path)
    rows = [r for s in ("train", "valid", "test") for r in _rows(ds, "completion", s)]
    assert rows and rows[0]["prompt"].endswith("def total(items):")
    assert rows[0]["completion"] == "\n    count = sum(items)\n    return count * 2\n"
