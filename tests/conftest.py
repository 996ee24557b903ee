"""Shared fixtures: real git repositories in temp folders, an isolated environment."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Tests must not see the developer's git config, FORGE_* settings or forge-mcp config file.
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Forge Test",
    "GIT_AUTHOR_EMAIL": "test@forge.invalid",
    "GIT_COMMITTER_NAME": "Forge Test",
    "GIT_COMMITTER_EMAIL": "test@forge.invalid",
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in list(os.environ):
        if name.startswith("FORGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FORGE_MODEL_DIRS", "")  # the CLI's --model-dir sets it: restored (removed) after each test
    monkeypatch.delenv("FORGE_MODEL_DIRS")
    # Cycles in tests skip the embedder's adaptation (minutes); tests/index/test_adapt.py runs that stage.
    monkeypatch.setenv("FORGE_CYCLE__ADAPT_EMBEDDER", "false")
    gitconfig = tmp_path_factory.getbasetemp() / "gitconfig"
    gitconfig.touch()
    # Nor their user config file (~/.config/forge-mcp/config.toml).
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "xdg-config"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    for key, value in _GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class GitRepo:
    """A real git repository in a temp folder, with helpers to write files and commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=self.path, capture_output=True, text=True, check=True)
        return proc.stdout.strip()

    def write(self, rel: str, text: str) -> Path:
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        for rel, text in (files or {}).items():
            self.write(rel, text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[str], GitRepo]:
    def make(name: str = "project") -> GitRepo:
        return GitRepo(tmp_path / name)

    return make


@pytest.fixture
def repo(make_repo: Callable[[str], GitRepo]) -> GitRepo:
    """A repository with two commits and a tag."""
    r = make_repo("project")
    r.commit("first", {"src/app.py": "def main():\n    return 1\n", "README.md": "# project\n"})
    r.git("tag", "v0.1")
    r.commit("second", {"src/util.py": "def helper(x):\n    return x * 2\n"})
    return r


@pytest.fixture
def chdir_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll `predicate` until it is true or `timeout` passes (tests never sleep blindly)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# A tiny run of ten steps: enough for a loss curve, a report and a deployment.
FAST_TINY_RUN = {
    "task": "completion",
    "compile": False,
    "max_seq_length": 256,
    "batch_size": 2,
    "steps_per_report": 5,
    "steps_per_eval": 10,
    "iters": 10,
    "learning_rate": 1e-3,
}


def train_tiny(ws: object, **params: object) -> str:
    """Train a tiny-model run in a real worker to completion; returns its id (fails the test otherwise)."""
    from forge_mcp.train.jobs import run_info
    from forge_mcp.train.params import TrainParams
    from forge_mcp.train.trigger import trigger_training

    info = trigger_training(ws, TrainParams(**({"base_model": "tiny"} | params)))
    assert wait_until(lambda: run_info(ws, info.run_id).status not in ("queued", "running"), timeout=240, interval=0.2)
    final = run_info(ws, info.run_id)
    assert final.status == "completed", final.error
    return info.run_id


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped SmolLM2-135M-Instruct imported into an mlx-lm folder once per session (its own tests verify
    the import against llama.cpp; here only the folder is needed)."""
    from forge_mcp.train.gguf_import import import_gguf, resolve_gguf_source

    source = resolve_gguf_source("smollm2-135m")
    assert source is not None
    return import_gguf(source, tmp_path_factory.mktemp("smollm2"), verify=False)


# -- shared repositories ------------------------------------------------------------------------
# A real repository with code in several languages, nasty files, planted secrets and a history.
# Fake secrets, assembled at run time so this file does not itself look like it leaks any.
AWS_KEY = "AKIA" + "Q3ZT7R2M" + "ZZ4Y2K1A"
GH_TOKEN = "ghp_" + "x7Kq2" * 7 + "a"
PRIVATE_KEY = (
    "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEA7s3" + "x" * 60 + "\n-----END RSA " + "PRIVATE KEY-----\n"
)
DB_PASSWORD = "hunter2-" + "Zq8vR1pL"
PLANTED = [AWS_KEY, GH_TOKEN, "MIIEowIBAAKCAQEA7s3", DB_PASSWORD]


@pytest.fixture
def code_repo(make_repo) -> GitRepo:
    r = make_repo("polyglot")
    r.commit(
        "initial code",
        {
            "app/core.py": 'class Engine:\n    """Runs the jobs."""\n\n    def start(self, jobs):\n'
            '        """Start every job in order and return how many ran."""\n'
            "        count = 0\n        for job in jobs:\n            job.run()\n            count += 1\n"
            '        return count\n\n    def stop(self):\n        """Stop the engine now."""\n'
            "        self.running = False\n        return self.running\n",
            "app/util.py": 'def slugify(text):\n    """Turn text into a lowercase slug for URLs."""\n'
            '    return "-".join(text.lower().split())\n\n\n'
            'def clamp(value, low, high):\n    """Clamp value between low and high."""\n'
            "    return max(low, min(high, value))\n",
            "app/copy_of_util.py": 'def clamp(value, low, high):\n    """Clamp value between low and high."""\n'
            "    return max(low, min(high, value))\n",
            "web/app.js": "// Format a price in cents as dollars.\nfunction formatPrice(cents) {\n"
            "  const dollars = cents / 100;\n  return `$${dollars.toFixed(2)}`;\n}\n",
            "server/main.go": "package main\n\n// Serve starts the HTTP server on the given port.\n"
            "func Serve(port int) error {\n\treturn listen(port)\n}\n",
            "docs/guide.md": "# Guide\n\nHow to use the engine.\n\n## Start\n\nCall start.\n",
            "config/settings.py": f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\nGITHUB_TOKEN = "{GH_TOKEN}"\n'
            f'DB_PASSWORD = "{DB_PASSWORD}"\n\n\ndef database_url(host):\n'
            f'    """Build the database URL for host."""\n    return f"postgres://{{host}}/app"\n',
            ".env": f"SECRET_KEY={DB_PASSWORD}\n",
            "deploy/id_rsa": PRIVATE_KEY,
            "vendor/lib/thing.py": "def vendored():\n    return 1\n",
            "proto/api_pb2.py": "# Generated by the protocol buffer compiler.  DO NOT EDIT!\nX = 1\n",
            "static/app.min.js": "var a=1;" * 400 + "\n",
            "gen/schema.py": "# @generated by a tool\nSCHEMA = {}\n",
            "wide/data.js": "var data = [" + ",".join(str(i) for i in range(2000)) + "];\n",
            "notes.txt": "plain notes\n",
        },
    )
    (r.path / "assets").mkdir()
    (r.path / "assets" / "logo.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (r.path / "big").mkdir()
    (r.path / "big" / "huge.py").write_text("x = 1\n" * 900_000)  # about 5 MB
    r.commit("binary and huge")
    r.commit(
        "tune engine",
        {
            "app/core.py": 'class Engine:\n    """Runs the jobs."""\n\n    def start(self, jobs):\n'
            '        """Start every job in order and return how many ran."""\n'
            "        count = 0\n        for job in jobs:\n            job.run()\n            count += 1\n"
            '        return count\n\n    def stop(self):\n        """Stop the engine now."""\n'
            '        self.running = False\n        self.log("stopped")\n        return self.running\n',
        },
    )
    return r


@pytest.fixture
def search_repo(make_repo) -> GitRepo:
    r = make_repo("shop")
    r.commit(
        "code",
        {
            "shop/cart.py": 'class Cart:\n    """A shopping cart."""\n\n    def add_item(self, sku, quantity=1):\n'
            '        """Add a product to the cart."""\n        self.items[sku] = self.items.get(sku, 0) + quantity\n\n'
            '    def total_price(self, prices):\n        """Sum the price of every item."""\n'
            "        return sum(prices[sku] * n for sku, n in self.items.items())\n",
            "shop/payment.py": "def charge_credit_card(card_number, amount):\n"
            '    """Charge a credit card through the gateway."""\n'
            "    return gateway.charge(card_number, amount)\n\n\n"
            'def refund_payment(payment_id):\n    """Refund a captured payment."""\n'
            "    return gateway.refund(payment_id)\n",
            "web/render.ts": "export function renderInvoice(invoice: Invoice): string {\n"
            "  return `<h1>${invoice.id}</h1>`;\n}\n",
            "docs/README.md": "# Shop\n\nA tiny shop.\n\n## Payments\n\nCards are charged through the gateway.\n",
        },
    )
    return r
