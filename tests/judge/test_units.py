from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge_mcp.core.errors import JudgeError
from forge_mcp.judge.units import load_examples, trim, unit_end
from forge_mcp.miner.chunker import chunk_code
from forge_mcp.miner.examples import completion_example

SOURCES = {
    "python": (
        "m.py",
        'import os\n\nclass A:\n    @property\n    def size(self):\n        """How big."""\n'
        "        if self.items:\n            return len(self.items)\n\n        return 0\n\n"
        "    def other(self):\n        return 1\n\n\ndef top(a, b):\n    total = a + b\n"
        "    return total * 2\n",
    ),
    "javascript": (
        "m.js",
        'function add(a, b) {\n  const s = "}" + `{`;\n  // } not a brace\n  return a + b;\n}\n\n'
        "class K {\n  run(x) {\n    if (x) { return 1; }\n    return 2;\n  }\n}\n",
    ),
    "go": ("m.go", "package m\n\nfunc Add(a int, b int) int {\n\tif a > b {\n\t\treturn a\n\t}\n\treturn a + b\n}\n"),
    "rust": ("m.rs", "fn add(a: i32, b: i32) -> i32 {\n    let c = '}';\n    if a > b { return a; }\n    a + b\n}\n"),
    "ruby": (
        "m.rb",
        "class K\n  def run(x)\n    if x.present?\n      x.value + 1\n    else\n      2\n    end\n  end\n\n"
        "  def other\n    total = 3 + 4 + 5 + 6\n  end\nend\n",
    ),
}


def _examples(language: str) -> list[dict[str, str]]:
    path, src = SOURCES[language]
    chunks = chunk_code(path, src.encode(), language)
    found = [e for e in (completion_example(c) for c in chunks) if e]
    assert found, f"no completion examples for {language}"
    return found


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_a_reference_ends_where_its_unit_ends(language: str) -> None:
    for example in _examples(language):
        prompt, reference = example["prompt"], example["completion"]
        # the model goes on past the unit: the cut must land exactly at the reference's end
        generated = reference + "\n\ndef more():\n    pass\n}\nend\n"
        end = unit_end(prompt, generated, language)
        assert end is not None
        assert generated[:end].rstrip() == reference.rstrip(), (language, prompt, generated[:end])
        assert trim(prompt, generated, language) == reference.rstrip() + "\n"


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_an_unfinished_unit_is_still_open(language: str) -> None:
    for example in _examples(language):
        half = example["completion"][: len(example["completion"]) // 3]
        assert unit_end(example["prompt"], half, language) is None


def test_load_examples_samples_reproducibly(tmp_path: Path) -> None:
    rows = [
        {
            "prompt": f"# a.py / f{i}\ndef f{i}():",
            "completion": f"\n    return {i}\n",
            "language": "python",
            "path": "a.py",
            "symbol": f"f{i}",
        }
        for i in range(50)
    ]
    rows.append({"prompt": "// b.go / G\nfunc G() int", "completion": " {\n\treturn 1\n}\n"})  # an older dataset row
    (tmp_path / "completion").mkdir()
    (tmp_path / "completion" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    first, total = load_examples(tmp_path, 10, seed=3)
    again, _ = load_examples(tmp_path, 10, seed=3)
    assert total == 51 and len(first) == 10 and first == again
    everything, _ = load_examples(tmp_path, 100, seed=0)
    assert (everything[-1].language, everything[-1].path, everything[-1].symbol) == ("go", "b.go", "G")


def test_an_empty_test_set_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JudgeError, match="empty test set"):
        load_examples(tmp_path, 10, seed=0)
