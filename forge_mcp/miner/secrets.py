"""Keep secrets out of datasets and the RAG index: files to skip whole, and in-text redaction.

Stdlib only on purpose: the Miner runs this on every chunk, and tests must not need the MCP stack.
Precision matters as much as recall: a redaction in ordinary code damages training data, so each
rule pairs a pattern with a cheap validator, and every pass is skipped unless a literal needle is present.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

SECRET_FILE_REASON = "secret"
VERSION = 2  # bump when the rules change: the Miner keys its chunk cache on it, so cached chunks get re-redacted

# ---------------------------------------------------------------- whole files

# .env templates are committed on purpose and hold no real values.
_ENV_TEMPLATE_PARTS = frozenset({"example", "sample", "template", "dist", "tmpl", "tpl", "defaults"})
_EXACT_NAMES = {
    ".npmrc": "npm credentials", ".pypirc": "PyPI credentials", ".netrc": "netrc credentials",
    "_netrc": "netrc credentials", ".git-credentials": "git credentials", ".htpasswd": "htpasswd file",
    ".pgpass": "PostgreSQL password file", ".envrc": "direnv file", "credentials": "credentials file",
    "credentials.json": "credentials file", ".dockercfg": "docker credentials",
    "secrets.yml": "secrets file", "secrets.yaml": "secrets file", "secrets.json": "secrets file",
    "secrets.toml": "secrets file",
}
_SUFFIXES = (
    (".pem", "private key file"), (".key", "private key file"), (".ppk", "private key file"),
    (".p12", "keystore file"), (".pfx", "keystore file"), (".jks", "keystore file"),
    (".keystore", "keystore file"), (".tfvars", "terraform variables"), (".tfvars.json", "terraform variables"),
    (".tfstate", "terraform state"), (".tfstate.backup", "terraform state"),
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


# Values that stand for a secret rather than being one ("my-secret", "<your-key>", "${TOKEN}", "hf_...").
_PLACEHOLDER_WORDS = ("placeholder", "example", "xxxx", "changeme", "change_me", "redacted", "your_", "your-", "my-",
                      "my_", "dummy", "<", "${", "{{", "%(", "****", "...", "secret", "token", "password", "passwd")
_WORDY_PASSWORDS = frozenset({"pass", "pwd", "pw", "none", "null", "nil"})
# Context (the line, and for hex the line before) in which a random-looking value is an id, a digest or a public key.
_HASH_CONTEXT = re.compile(r"sha|hash|digest|commit|checksum|md5|crc|sum\b|\brev\b|revision|fingerprint|etag|\boid\b|"
                           r"uuid|guid|hex|\bid\b|_id\b|color|colour|blake|signature|expected|\.\w{1,5}[\"']\s*:|"
                           r"serial|integrity|(?-i:[a-z]Id\b)|ssh-(?:rsa|dss|ed25519)|ecdsa-sha2", re.I)
_NOT_SECRET_STARTS = ("0x", "0X", "AAAAB3NzaC1", "AAAAC3NzaC1", "AAAAE2VjZHNh")  # hex numbers, SSH public keys
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_WORD_SEGMENT = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CAMEL_WORD = re.compile(r"[A-Z]?[a-z]{2,}")
_VOWELS = frozenset("aeiouy")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_UPPER, _LOWER, _DIGIT = frozenset(string.ascii_uppercase), frozenset(string.ascii_lowercase), frozenset(string.digits)


def _is_placeholder(value: str) -> bool:
    low = value.lower()
    return any(word in low for word in _PLACEHOLDER_WORDS) or len(set(low)) <= 2


def _entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _wordy(t: str) -> bool:
    """Mostly pronounceable camelCase words ("V1alpha3PodGroupSpec"): an identifier, not key material.

    Measured on 10k random base64/alnum tokens vs 6k mixed-case-with-digit identifiers from site-packages:
    random tokens average < 2.7 chars per segment and < 55% of chars in words; identifiers sit well above both."""
    words = sum(len(w) for w in _CAMEL_WORD.findall(t) if not _VOWELS.isdisjoint(w.lower()))
    return len(t) / max(1, len(_WORD_SEGMENT.findall(t))) >= 2.7 or words >= 0.55 * len(t)


def _looks_random(token: str) -> bool:
    t = token.rstrip("=")
    chars = set(t)
    if len(t) < 20 or not (chars & _UPPER and chars & _LOWER and chars & _DIGIT) or _is_placeholder(t):
        return False
    if ("/" in t or "+" in t) and ("-" in t or "_" in t):
        return False  # mixes the standard and URL-safe base64 alphabets: a path or a name like org/model-7b
    return not _wordy(t) and _entropy(t) >= min(4.2, 3.0 + 0.04 * len(t))  # ~5th pct of random base64


def _in_url(text: str, start: int) -> bool:
    """The token sits inside a URL (no whitespace between it and the `://` or `data:` before it)."""
    before = text[max(0, start - 300):start]
    word = before[max(before.rfind(" "), before.rfind("\n"), before.rfind("\t"), before.rfind("(")) + 1:]
    return "://" in word or "data:" in word or word.lstrip("\"'`<[").startswith("www.")  # links and data: URIs


def _high_entropy(tok: str, start: int, text: str) -> bool:
    """Whether a run of 20+ base64/hex characters at text[start:] is key material rather than an id or a name."""
    if _UUID.fullmatch(tok) or tok.startswith(_NOT_SECRET_STARTS) or text[start - 1:start] == "[":  # regex classes
        return False
    line_start = text.rfind("\n", 0, start) + 1
    line = text[line_start:start]
    if _HEX.fullmatch(tok):
        # Hex of secret length is usually a hash, a commit or a test vector: only flag a quoted or assigned one.
        chars = set(tok)
        if len(tok) < 32 or len(chars & _DIGIT) < 2 or not chars - _DIGIT or _entropy(tok) < 3.0:
            return False
        if _is_placeholder(tok) or not line.rstrip().endswith(("'", '"', "=", ":")):
            return False
        line = text[text.rfind("\n", 0, max(0, line_start - 1)) + 1:start]  # a `>>> h.hexdigest()` line before
    elif not _looks_random(tok):
        return False
    return not (_HASH_CONTEXT.search(line) or _in_url(text, start))  # ids in URL paths (docs links) are public


def _vendor(kind: str, min_random: int = 0) -> Callable[[re.Match[str], str], str | None]:
    def check(m: re.Match[str], text: str) -> str | None:
        tok = m.group(0)
        if text[m.start() - 1:m.start()] in _WORD_CHARS:  # patterns carry no leading \b so re can skip ahead fast
            return None
        if _is_placeholder(tok) or (min_random and not (set(tok) & _DIGIT and set(tok) & (_UPPER | _LOWER))):
            return None
        return "anthropic_key" if kind == "openai_key" and tok.startswith("sk-ant-") else kind
    return check


# Last word of an identifier that marks its value as secret; "key" only counts with a qualifier before it.
_SECRET_LAST = frozenset({"password", "passwd", "pwd", "pass", "passphrase", "secret", "token", "apikey", "auth",
                          "authkey", "credential", "credentials", "privatekey", "secretkey", "accesskey"})
_KEY_QUALIFIERS = frozenset({"api", "access", "secret", "private", "auth", "signing", "encryption", "master",
                             "client", "app", "session", "license"})
# Names common in non-secret code (tokenizers' pad_token, "auth" modes): their values must look like key material.
_WEAK_LAST = frozenset({"token", "auth", "secret", "pass", "credential", "credentials"})
_WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_IDENT_CHARS = _WORD_CHARS | {".", "-"}
_TOKEN_VALUE = re.compile(r"[A-Za-z0-9+/=_\-.~:]+")
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")
_VERSION = re.compile(r"[A-Za-z]{0,2}[0-9]+(?:\.[0-9]+)+")  # versions, OIDs, "T1098.001"-style ids
_LABEL = re.compile(r"[A-Za-z][a-z]*(?:[-_][a-z]+)*")
_REF_STARTS = ("/", "./", "~/", "$", "%", "&", "*", "!", "@", "-", ".", "[", "^")  # paths, shell/YAML refs, regexes


def _assignment(m: re.Match[str], text: str) -> str | None:
    """The kind for `secret_name <op> literal`, or None when the name is not secret or the value is code/placeholder."""
    start = m.start()
    while start > 0 and text[start - 1] in _IDENT_CHARS:  # the anchor matched mid-name: find where the name begins
        start -= 1
    words = [w.lower() for w in _WORD_SEGMENT.findall(text[start:m.start("key_end")])]
    if not words or "public" in words or not (
            words[-1] in _SECRET_LAST or words[-1] == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS):
        return None
    weak, quoted = words[-1] in _WEAK_LAST, m.start("qv") >= 0
    # m ran on lowered text: read the value from the original; a bare value loses sentence punctuation ("Optional.")
    value = text[m.start("qv"):m.end("qv")] if quoted else text[m.start("bv"):m.end("bv")].rstrip(".:")
    has_digit = bool(set(value) & _DIGIT)
    if len(value) < (8 if weak else 4) or _is_placeholder(value) or value.lower() in _WORDY_PASSWORDS:
        return None
    if any(ch.isspace() for ch in value) or "{" in value or "://" in value or value.startswith(_REF_STARTS):
        return None  # prose, format templates, URLs (see url_password), paths and references
    if _VERSION.fullmatch(value) or weak and not (has_digit and _TOKEN_VALUE.fullmatch(value)):
        return None
    if value.isupper() and len(value) < 16:
        return None  # constants and protocol names: `AUTH=CRAM-MD5`, `PASSWORD = "PASSWORD_ENV"`
    norm = value.lower().replace("-", "").replace("_", "")
    if not has_digit and _LABEL.fullmatch(value) or norm.endswith("key") or "==" in value.rstrip("="):
        return None  # labels ("xet-auth", "client_key") and comparisons in prose
    if _IDENT.fullmatch(value) and ("." in value or value.isupper() or not has_digit and (not quoted or len(value) < 8)
                                    or (weak or value[0].isupper() or "_" in value) and _wordy(value)):
        return None  # code (`token = tok`, `key: Ed25519PrivateKey`, `storage_v1_client`), env var names
    after = text[m.end():m.end() + 2]
    if not quoted and (after[:1] in ("(", "[", ".", "<") or value.isdigit() and len(value) < 6):
        return None  # a call or attribute (`tok.strip()`), glued to a placeholder, or a small number
    prose = after[:1] in (" ", "\t") and after[1:].isalpha()
    if not quoted and prose and text[start:m.start("bv")].rstrip()[-1:] == ":":
        return None  # `password: Optional text ...` is documentation prose
    if ("aws" in words or "access" in words) and "secret" in words and _AWS_SECRET.fullmatch(value):
        return "aws_secret_key"
    return "generic_secret"


def _url_password(m: re.Match[str], text: str) -> str | None:
    user, pw = m.group(1), m.group("pw")
    if _is_placeholder(pw) or pw.lower() in _WORDY_PASSWORDS or any(c in user + pw for c in "{}[]$%*"):
        return None
    return None if pw.isalpha() and pw.islower() and len(pw) <= 8 else "url_password"  # `git://org:repo@` is a path


_PEM_HEAD = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_PEM_BODY = r"(?:\\[nr]|[\sA-Za-z0-9+/=:,\"'\-])"  # base64, headers like Proc-Type, and string-literal glue
# A whole block, or (for a chunk cut mid-key) the header and the base64 after it; a bare header is not a key.
_PEM = re.compile(_PEM_HEAD + "(?:" + _PEM_BODY + r"{64,}?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
                  + r"|(?:\\[nr]|[ \t\r\n\"'+]|[A-Za-z0-9+/=]){64,})")

_Check = Callable[[re.Match[str], str], str | None]
# (needles: the pass runs only if one occurs, else always; pattern; group to replace, "" = all; kind-or-None check)
_RULES: list[tuple[tuple[str, ...], re.Pattern[str], str, _Check]] = [
    (("PRIVATE KEY",), _PEM, "", lambda m, t: "private_key"),
    ((), re.compile(r"A[KS]IA[A-Z0-9]{16}\b"), "", _vendor("aws_access_key")),
    ((), re.compile(r"gh[pousr]_[A-Za-z0-9]{36,255}\b|github_pat_[A-Za-z0-9_]{22,255}\b"), "", _vendor("github_token")),
    ((), re.compile(r"glpat-[A-Za-z0-9_\-]{20,}"), "", _vendor("gitlab_token")),
    (("xox",), re.compile(r"xox[baprs]-[A-Za-z0-9\-]{10,}"), "", _vendor("slack_token", 1)),
    (("k_live_", "k_test_"), re.compile(r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"), "", _vendor("stripe_key", 1)),
    (("AIza",), re.compile(r"AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"), "", _vendor("google_api_key")),
    (("hf_",), re.compile(r"hf_[A-Za-z0-9]{34,40}\b"), "", _vendor("huggingface_token", 1)),
    (("sk-",), re.compile(r"sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"), "", _vendor("openai_key", 1)),
    (("eyJ",), re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{10,}"), "", _vendor("jwt")),
    ((), re.compile(r"://([^\s:/@'\"<>]*):(?P<pw>[^\s:/@'\"<>]+)@"), "pw", _url_password),
]
# Runs on lowercased text (a literal-alternation scan is ~4x faster than (?i)); values are read back from the original.
_ASSIGNMENT = re.compile(
    r"(?:pass|pwd|secret|token|key|auth|credential)[a-z0-9_\-]*(?P<key_end>)[\"']?"
    r"(?:(?:[ \t]*:[ \t]*[a-z_][\w.\[\] |]*?)?[ \t]*(?::=|=>|=(?!=))|:(?![:=]))[ \t]*"  # `a: T = v`, `a = v`, `a: v`
    r"(?:[bru]{0,2}(?P<q>[\"'`])(?P<qv>(?:(?!(?P=q))[^\\\r\n]|\\.)*)(?P=q)"  # a quoted literal, or a bare value
    r"|(?P<bv>(?:[^\s\"'`,;#&(){}\[\]<>]|&(?!\w+=))+))")  # that a `&x=` (query string) ends
# High-entropy candidates are runs of 20+ base64/hex characters. Finding them with bytes.find on a one-byte-per-char
# mask (latin-1 with "?" for the rest keeps offsets) is ~5x faster than a regex trying every position.
_MASK = bytes(97 if chr(i).isascii() and (chr(i).isalnum() or chr(i) in "+/_-") else 32 for i in range(256))
_RUN_START, _RUN = b"a" * 20, re.compile(rb"a+")
# Certificates and public keys are random-looking but public: their bodies are left alone.
_PUBLIC_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*(?:CERTIFICATE|PUBLIC KEY)[A-Z0-9 ]*-----"
                         r"(?:.*?-----END [A-Z0-9 ]+-----|(?:\s*[A-Za-z0-9+/=]{16,})+)", re.S)


def _sub(text: str, haystack: str, pattern: re.Pattern[str], group: str | None, check: _Check,
         counts: dict[str, int]) -> str:
    """Like pattern.sub, but matches on `haystack` (same length as text) and copies unmatched text from `text`."""
    out: list[str] = []
    last = 0
    for m in pattern.finditer(haystack):
        kind = check(m, text)
        if kind is None:
            continue
        g = group if group is not None else ("qv" if m.start("qv") >= 0 else "bv")
        start, end = (m.start(g), m.end(g)) if g else m.span()
        out += (text[last:start], f"<REDACTED:{kind}>")
        last = end
        counts[kind] = counts.get(kind, 0) + 1
    return "".join(out) + text[last:] if out else text


def _redact_high_entropy(text: str, counts: dict[str, int]) -> str:
    mask = text.encode("latin-1", "replace").translate(_MASK)
    public = [m.span() for m in _PUBLIC_PEM.finditer(text)] if "-----BEGIN" in text else []
    out: list[str] = []
    last, pos = 0, mask.find(_RUN_START)
    while pos >= 0:
        run = _RUN.match(mask, pos)
        end = run.end() if run else pos + len(_RUN_START)
        end += len(text[end:end + 2]) - len(text[end:end + 2].lstrip("="))  # base64 padding
        if not any(a <= pos < b for a, b in public) and _high_entropy(text[pos:end], pos, text):
            out += (text[last:pos], "<REDACTED:high_entropy>")
            last = end
            counts["high_entropy"] = counts.get("high_entropy", 0) + 1
        pos = mask.find(_RUN_START, end)
    return "".join(out) + text[last:] if out else text


def redact(text: str) -> Redaction:
    """Replace secrets in source text with `<REDACTED:kind>` placeholders, keeping the rest byte-identical."""
    counts: dict[str, int] = {}
    for needles, pattern, group, check in _RULES:
        if not needles or any(n in text for n in needles):
            text = _sub(text, text, pattern, group, check, counts)
    lowered = text.lower()
    if len(lowered) == len(text):  # a few non-ASCII letters lowercase to two code points; offsets must line up
        text = _sub(text, lowered, _ASSIGNMENT, None, _assignment, counts)
    else:
        text = _sub(text, text, re.compile(_ASSIGNMENT.pattern, re.I), None, _assignment, counts)
    return Redaction(_redact_high_entropy(text, counts), counts)


def contains_private_key(text: str) -> bool:
    """True when the text holds a PEM private key with a body (a bare header in parsing code does not count)."""
    return "PRIVATE KEY" in text and _PEM.search(text) is not None
