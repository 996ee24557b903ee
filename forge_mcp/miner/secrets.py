"""Keep secrets out of datasets and the RAG index: files to skip whole, and in-text redaction.

Three kinds of detector, each finding spans in the original text; overlaps go to the more specific one:
  1. PEM private keys, and provider tokens by format: gitleaks' published rule set (secret_rules.py);
  2. secrets by context: secret-named keys in any syntax, URL credentials, Authorization headers, command-line
     passwords, environment-lookup defaults, documentation prose (secret_context.py);
  3. high-entropy strings that look like key material wherever they are (below).
Precision matters as much as recall: a redaction in ordinary code damages training data, so every detector pairs its
pattern with checks for placeholders and code (secret_values.py), and runs only when a cheap needle occurs.
Stdlib only (an optional Aho-Corasick module speeds up the rule prefilter, see secret_rules.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from forge_mcp.miner import secret_context, secret_prefilter, secret_rules
from forge_mcp.miner.secret_values import entropy, is_placeholder, looks_random

SECRET_FILE_REASON = "secret"
VERSION = 3  # bump when the rules change: the Miner keys its chunk cache on it, so cached chunks get re-redacted

# ---------------------------------------------------------------- whole files

# .env templates are committed on purpose and hold no real values.
_ENV_TEMPLATE_PARTS = frozenset({"example", "sample", "template", "dist", "tmpl", "tpl", "defaults"})
_EXACT_NAMES = {
    ".npmrc": "npm credentials",
    ".pypirc": "PyPI credentials",
    ".netrc": "netrc credentials",
    "_netrc": "netrc credentials",
    ".git-credentials": "git credentials",
    ".htpasswd": "htpasswd file",
    ".pgpass": "PostgreSQL password file",
    ".envrc": "direnv file",
    "credentials": "credentials file",
    "credentials.json": "credentials file",
    ".dockercfg": "docker credentials",
    "secrets.yml": "secrets file",
    "secrets.yaml": "secrets file",
    "secrets.json": "secrets file",
    "secrets.toml": "secrets file",
}
_SUFFIXES = (
    (".pem", "private key file"),
    (".key", "private key file"),
    (".ppk", "private key file"),
    (".p12", "keystore file"),
    (".pfx", "keystore file"),
    (".jks", "keystore file"),
    (".keystore", "keystore file"),
    (".tfvars", "terraform variables"),
    (".tfvars.json", "terraform variables"),
    (".tfstate", "terraform state"),
    (".tfstate.backup", "terraform state"),
)
_SSH_KEY_NAME = re.compile(r"id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?(?:[._-][\w.-]*)?")
_SERVICE_ACCOUNT = re.compile(r"(?:service[-_]account|[\w.-]*[-_]credentials)[\w.-]*\.json")


def secret_file_reason(path: str) -> str | None:
    """A short reason ("secret: .env file", ...) when the repo-relative POSIX path must be excluded, else None."""
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    reason: str | None = _EXACT_NAMES.get(name)
    if reason is None and (name == ".env" or name.startswith(".env.") or name.endswith(".env")):
        reason = None if _ENV_TEMPLATE_PARTS & set(name.split(".")) else ".env file"
    elif reason is None and _SSH_KEY_NAME.fullmatch(name) and not name.endswith(".pub"):
        reason = "SSH private key"
    elif reason is None and _SERVICE_ACCOUNT.fullmatch(name):
        reason = "service account credentials"
    elif reason is None:
        reason = next((why for suffix, why in _SUFFIXES if name.endswith(suffix) and name != suffix), None)
    return f"{SECRET_FILE_REASON}: {reason}" if reason else None


# ---------------------------------------------------------------- redaction


@dataclass(frozen=True)
class Redaction:
    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


Span = tuple[int, int, str]
_PEM_HEAD = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_PEM_BODY = r"(?:\\[nr]|[\sA-Za-z0-9+/=:,\"'\-])"  # base64, headers like Proc-Type, and string-literal glue
# A whole block, or (for a chunk cut mid-key) the header and the base64 after it; a bare header is not a key.
_PEM = re.compile(
    _PEM_HEAD
    + "(?:"
    + _PEM_BODY
    + r"{64,}?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    + r"|(?:\\[nr]|[ \t\r\n\"'+]|[A-Za-z0-9+/=]){64,})"
)
# Certificates and public keys are random-looking but public: their bodies are left alone.
_PUBLIC_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*(?:CERTIFICATE|PUBLIC KEY)[A-Z0-9 ]*-----"
    r"(?:.*?-----END [A-Z0-9 ]+-----|(?:\s*[A-Za-z0-9+/=]{16,})+)",
    re.S,
)

# Context (the line, and for hex the line before) in which a random-looking value is an id, a digest or a public key.
_HASH_CONTEXT = re.compile(
    r"sha|hash|digest|commit|checksum|md5|crc|sum\b|\brev\b|revision|fingerprint|etag|\boid\b|"
    r"uuid|guid|hex|\bid\b|_id\b|color|colour|blake|signature|expected|\.\w{1,5}[\"']\s*:|"
    r"serial|integrity|\bh1:|(?-i:[a-z]Id\b)|ssh-(?:rsa|dss|ed25519)|ecdsa-sha2",
    re.I,
)
_NOT_SECRET_STARTS = ("0x", "0X", "AAAAB3NzaC1", "AAAAC3NzaC1", "AAAAE2VjZHNh")  # hex numbers, SSH public keys
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGITS = frozenset("0123456789")
# High-entropy candidates are runs of 20+ base64/hex characters. Finding them with bytes.find on a one-byte-per-char
# mask (latin-1 with "?" for the rest keeps offsets) is ~5x faster than a regex trying every position.
_MASK = bytes(97 if chr(i).isascii() and (chr(i).isalnum() or chr(i) in "+/_-") else 32 for i in range(256))
_RUN_START, _RUN = b"a" * 20, re.compile(rb"a+")


def _in_url(text: str, start: int) -> bool:
    """The token sits inside a URL (no whitespace between it and the `://` or `data:` before it)."""
    before = text[max(0, start - 300) : start]
    word = before[max(before.rfind(" "), before.rfind("\n"), before.rfind("\t"), before.rfind("(")) + 1 :]
    return "://" in word or "data:" in word or word.lstrip("\"'`<[").startswith("www.")  # links and data: URIs


def _high_entropy(tok: str, start: int, text: str) -> bool:
    """Whether a run of 20+ base64/hex characters at text[start:] is key material rather than an id or a name."""
    if _UUID.fullmatch(tok) or tok.startswith(_NOT_SECRET_STARTS) or text[start - 1 : start] == "[":  # regex classes
        return False
    is_hex = _HEX.fullmatch(tok) is not None
    if not is_hex and not looks_random(tok):  # the cheap test first: most runs are identifiers
        return False
    line_start = text.rfind("\n", 0, start) + 1
    line = text[line_start:start]
    if is_hex:
        # Hex of secret length is usually a hash, a commit or a test vector: only flag a quoted or assigned one.
        chars = set(tok)
        if len(tok) < 32 or len(chars & _DIGITS) < 2 or not chars - _DIGITS or entropy(tok) < 3.0:
            return False
        if is_placeholder(tok) or not line.rstrip().endswith(("'", '"', "=", ":")):
            return False
        line = text[text.rfind("\n", 0, max(0, line_start - 1)) + 1 : start]  # a `>>> h.hexdigest()` line before
    after = text[start + len(tok) : (text.find("\n", start) + 1 or len(text) + 1) - 1]
    # ids in URL paths (docs links) are public; `"<sha>  file.tgz" | sha256sum -c` names its hash after it
    return not (_HASH_CONTEXT.search(line) or _HASH_CONTEXT.search(after) or _in_url(text, start))


def _high_entropy_spans(text: str) -> list[Span]:
    mask = text.encode("latin-1", "replace").translate(_MASK)
    public = [m.span() for m in _PUBLIC_PEM.finditer(text)] if "-----BEGIN" in text else []
    spans: list[Span] = []
    pos = mask.find(_RUN_START)
    while pos >= 0:
        run = _RUN.match(mask, pos)
        end = run.end() if run else pos + len(_RUN_START)
        end += len(text[end : end + 2]) - len(text[end : end + 2].lstrip("="))  # base64 padding
        if not any(a <= pos < b for a, b in public) and _high_entropy(text[pos:end], pos, text):
            spans.append((pos, end, "high_entropy"))
        pos = mask.find(_RUN_START, end)
    return spans


def _resolve(groups: list[list[Span]]) -> list[Span]:
    """Non-overlapping spans, earlier groups first; within a group the leftmost, then the longest, wins."""
    taken: list[Span] = []
    for spans in groups:
        for span in sorted(spans, key=lambda s: (s[0], s[0] - s[1])):
            if span[1] > span[0] and all(span[1] <= a or b <= span[0] for a, b, _ in taken):
                taken.append(span)
    return sorted(taken)


def find_secrets(text: str, path: str | None = None) -> list[Span]:
    """(start, end, kind) of every secret in the text, sorted and non-overlapping. `path` enables path-scoped rules."""
    lowered = text.lower()
    hits = secret_prefilter.hits(lowered)
    present = hits.present if hits else None
    # Offsets in `lowered` are offsets in `text` unless lowering changed a length ("İ" becomes two code points).
    positions, anchors = (hits.positions, hits.anchors) if hits and len(lowered) == len(text) else (None, None)
    pem = [(m.start(), m.end(), "private_key") for m in _PEM.finditer(text)] if "PRIVATE KEY" in text else []
    rules = [(f.start, f.end, f.kind) for f in secret_rules.scan(text, lowered, path, present, positions)]
    urls = secret_context.url_passwords(text)
    context = secret_context.find(text, lowered, anchors, present)
    return _resolve([pem, rules, urls, context, _high_entropy_spans(text)])


def redact(text: str, path: str | None = None) -> Redaction:
    """Replace secrets in source text with `<REDACTED:kind>` placeholders, keeping the rest byte-identical."""
    spans = find_secrets(text, path) if text else []
    if not spans:
        return Redaction(text, {})
    out: list[str] = []
    counts: dict[str, int] = {}
    last = 0
    for start, end, kind in spans:
        out += (text[last:start], f"<REDACTED:{kind}>")
        counts[kind] = counts.get(kind, 0) + 1
        last = end
    out.append(text[last:])
    return Redaction("".join(out), counts)


def contains_private_key(text: str) -> bool:
    """True when the text holds a PEM private key with a body (a bare header in parsing code does not count)."""
    return "PRIVATE KEY" in text and _PEM.search(text) is not None
