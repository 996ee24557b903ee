"""Secret redaction: recall and false positives on a generated corpus, precision on real code, and throughput,
for the redactor (gitleaks rules + context detectors) beside the hand-written one it replaced.

    python bench/redaction.py [--seeds 0,1,2] [--rounds 3] [--old-rev 3fd5425] [--no-stdlib]

* Corpus (bench/secrets_corpus.py, one corpus per seed): planted secrets in 12 file kinds and look-alikes that must
  stay (lock-file hashes, UUIDs, SHAs, placeholders, code, SSH public keys...). A leak is a planted value still in the
  redacted text; a false positive is a look-alike snippet that changed.
* Real code: redactions in the interpreter's standard library (`*.py`, site-packages left out): almost all are
  false positives, since the stdlib holds (nearly) no secrets.
* Throughput: redact() over this repository's tracked text files (best of --rounds), and over the stdlib.
* With `detect_secrets` importable (run this with an interpreter that has it), its default plugins are measured on
  the corpus too (each file scanned under its own name): every occurrence of each value it reports, widened to the
  token around it, is replaced.
* "gitleaks only": all of gitleaks' published rules as they are (generic-api-key and curl-auth-* included), without
  forge's extra rules, context detectors and high-entropy pass: what vendoring the rule set alone would give.

Exits 1 when a planted secret leaks or 2 % or more of the look-alikes change.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from _common import ROOT, emit_result, git, print_table

# This file shares its name with the stdlib's `secrets`: keep bench/ off the path so no library imports it instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from forge_mcp.miner import secret_prefilter, secret_rules, secrets

OLD_REV = "3fd5425"  # the last commit with the hand-written redactor (secrets.VERSION 2)
TARGET_FP = 0.02
Redactor = Callable[[str, str], str]  # (text, path) -> redacted text


def load_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def old_module(rev: str, tmp: Path) -> ModuleType:
    source = tmp / "old_secrets.py"
    source.write_text(git(ROOT, "show", f"{rev}:forge_mcp/miner/secrets.py"), encoding="utf-8")
    return load_file("old_secrets", source)


def detect_secrets_redactor(tmp: Path) -> Redactor | None:
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        return None

    def redact(text: str, path: str) -> str:
        file = tmp / "ds" / path  # its plugins and filters look at the file name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
        with default_settings():
            found = SecretsCollection()
            found.scan_file(str(file))
        # The collection keeps one line per distinct value (all GitHub tokens report the value "ghp"): replace
        # every occurrence of each value, widened to the token around it.
        for value in sorted({s.secret_value for _, s in found if s.secret_value}, key=len, reverse=True):
            text = re.sub(r"[^\s\"'`,;<>]*" + re.escape(value) + r"[^\s\"'`,;<>]*", "<REDACTED>", text)
        return text

    return redact


def gitleaks_only() -> Redactor:
    """All published gitleaks rules, applied by forge's engine, and nothing else."""
    config = secret_rules.load_config(secret_rules.RULES_DIR / "gitleaks.toml")
    rules = [secret_rules._rule(r) for r in config["rules"] if "regex" in r]
    allow = tuple(secret_rules._allowlist(a) for a in [config["allowlist"]])

    def redact(text: str, path: str) -> str:
        lowered = text.lower()
        spans = [
            (f.start, f.end, f.kind)
            for rule in rules
            if not rule.keywords or any(k in lowered for k in rule.keywords)
            if rule.path is None or rule.path.search(path)
            for f in secret_rules._findings(rule, text, allow, path)
        ]
        for start, end, _ in reversed(secrets._resolve([spans])):
            text = text[:start] + "<REDACTED>" + text[end:]
        return text

    return redact


def corpus_report(seeds: list[int], redactors: dict[str, Redactor]) -> dict[str, dict[str, int]]:
    corpus = load_file("secrets_corpus", ROOT / "bench" / "secrets_corpus.py")
    totals: dict[str, dict[str, int]] = {}
    for seed in seeds:
        files = corpus.build(seed)
        for name, redact in redactors.items():
            stats = corpus.evaluate(files, lambda text, f=files, redact=redact: redact(text, _path(f, text)))
            for kind, row in stats.items():
                acc = totals.setdefault(f"{kind}\t{name}", dict.fromkeys(row, 0))
                for k, v in row.items():
                    acc[k] += v
    kinds = list(dict.fromkeys(key.split("\t")[0] for key in totals))
    names = list(redactors)
    header = ["kind", "planted", *[f"leaks {n}" for n in names], "look-alikes", *[f"FP {n}" for n in names]]
    rows = [
        [
            k,
            totals[f"{k}\t{names[0]}"]["planted"],
            *[totals[f"{k}\t{n}"]["leaks"] for n in names],
            totals[f"{k}\t{names[0]}"]["lookalikes"],
            *[totals[f"{k}\t{n}"]["false_positives"] for n in names],
        ]
        for k in kinds
    ]
    print_table(
        f"Corpus, seeds {','.join(map(str, seeds))} (leaks: planted values left; FP: look-alikes changed)", header, rows
    )
    return {n: totals[f"overall\t{n}"] for n in names}


def _path(files: list[object], text: str) -> str:
    return next(f.path for f in files if f.text == text)


RULE_FILE = "forge_mcp/miner/rules/gitleaks.toml"  # every keyword of every rule: the worst case, reported apart


def repo_texts() -> dict[str, str]:
    out = {}
    for name in subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split():
        data = (ROOT / name).read_bytes() if (ROOT / name).is_file() else b"\0"
        if b"\0" not in data:
            try:
                out[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
    return out


def stdlib_texts() -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.relative_to(root).parts)
    return [p.read_text(encoding="utf-8", errors="replace") for p in files]


def throughput(redact: Callable[[str], object], texts: list[str], rounds: int) -> float:
    size = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for text in texts:
            redact(text)
        best = min(best, time.perf_counter() - start)
    return round(size / best, 1)


def no_accelerator(redact: Callable[[str], object]) -> Callable[[str], object]:
    def run(text: str) -> object:
        automata, secret_prefilter._automata = secret_prefilter._automata, lambda: None
        try:
            return redact(text)
        finally:
            secret_prefilter._automata = automata

    return run


def speed_report(old: ModuleType, rounds: int, stdlib: list[str]) -> dict[str, object]:
    files = repo_texts()
    repo = list(files.values())
    rest = [t for name, t in files.items() if name != RULE_FILE]
    implementations = {"old": old.redact, "new": secrets.redact, "new, no Aho-Corasick": no_accelerator(secrets.redact)}
    secrets.redact("warm up: compile the rules")
    repo_mb = round(sum(len(t.encode("utf-8", "surrogatepass")) for t in repo) / 1e6, 2)
    result: dict[str, object] = {"repo_files": len(repo), "repo_mb": repo_mb}
    rows = []
    for name, redact in implementations.items():
        mbps, rest_mbps = throughput(redact, repo, rounds), throughput(redact, rest, rounds)
        redactions = sum(redact(t).total for t in repo)
        std_mbps = throughput(redact, stdlib, 1) if stdlib and name != "new, no Aho-Corasick" else "-"
        std_count = sum(redact(t).total for t in stdlib) if stdlib else "-"
        rows.append([name, mbps, rest_mbps, redactions, std_mbps, std_count])
        result[name] = {
            "repo_mb_s": mbps,
            "repo_without_rule_file_mb_s": rest_mbps,
            "repo_redactions": redactions,
            "stdlib_mb_s": std_mbps,
            "stdlib_redactions": std_count,
        }
    std_mb = round(sum(len(t.encode("utf-8", "surrogatepass")) for t in stdlib) / 1e6, 1)
    print_table(
        f"Throughput and real code: this repository ({len(repo)} tracked text files, {repo_mb} MB, best of "
        f"{rounds}) and the stdlib ({len(stdlib)} files, {std_mb} MB)",
        ["redactor", "repo MB/s", "repo w/o gitleaks.toml", "repo redactions", "stdlib MB/s", "stdlib redactions"],
        rows,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="corpus seeds, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds over the repository (best counts)")
    parser.add_argument("--old-rev", default=OLD_REV, help="commit holding the redactor to compare with")
    parser.add_argument("--no-stdlib", action="store_true", help="skip the standard-library pass (~10 s)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        old = old_module(args.old_rev, tmp)
        redactors: dict[str, Redactor] = {
            "new": lambda t, p: secrets.redact(t).text,
            "old": lambda t, p: old.redact(t).text,
            "gitleaks only": gitleaks_only(),
        }
        ds = detect_secrets_redactor(tmp)
        if ds is not None:
            redactors["detect-secrets"] = ds
        overall = corpus_report(seeds, redactors)
        speed = speed_report(old, args.rounds, [] if args.no_stdlib else stdlib_texts())
    new = overall["new"]
    fp_rate = new["false_positives"] / new["lookalikes"]
    ok = new["leaks"] == 0 and fp_rate < TARGET_FP
    for name, row in overall.items():
        print(
            f"{name}: recall {1 - row['leaks'] / row['planted']:.1%} ({row['leaks']} of {row['planted']} leaked), "
            f"false positives {row['false_positives'] / row['lookalikes']:.1%} "
            f"({row['false_positives']} of {row['lookalikes']})"
        )
    print(
        f"{'PASS' if ok else 'FAIL'} secrets: {new['leaks']} leaks (target 0), {fp_rate:.1%} look-alikes redacted "
        f"(target < {TARGET_FP:.0%}); prefilter accelerator {'on' if secret_prefilter.available() else 'off'}"
    )
    emit_result(
        {"seeds": seeds, "corpus": overall, "speed": speed, "pass": ok, "accelerator": secret_prefilter.available()}
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
