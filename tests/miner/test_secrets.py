"""Secret detection: files skipped whole, in-text redaction, and precision on ordinary code.

Every fake secret is generated at run time (seeded, so the tests are deterministic) or built by concatenation,
so this file itself holds nothing a secret scanner would flag.
"""

from __future__ import annotations

import random
import string
import sysconfig
from pathlib import Path

import pytest

from forge_mcp.miner.secrets import (
    SECRET_FILE_REASON,
    Redaction,
    contains_private_key,
    redact,
    secret_file_reason,
)

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"


def fake(n: int, alphabet: str = ALNUM, seed: int = 0) -> str:
    return "".join(random.Random(f"{seed}:{n}:{alphabet}").choices(alphabet, k=n))


def pem_block(kind: str = "RSA ") -> str:
    body = "\n".join(fake(64, B64, seed=i) for i in range(6)) + "\n" + fake(20, B64, seed=9) + "=="
    return f"-----BEGIN {kind}PRIVATE" + f" KEY-----\n{body}\n-----END {kind}PRIVATE" + " KEY-----"


# ---------------------------------------------------------------- secret_file_reason


@pytest.mark.parametrize(
    ("path", "why"),
    [
        (".env", ".env file"),
        ("config/.env.local", ".env file"),
        ("deploy/.env.production", ".env file"),
        ("docker/prod.env", ".env file"),
        ("certs/server.pem", "private key file"),
        ("tls/site.key", "private key file"),
        ("android/release.keystore", "keystore file"),
        ("android/upload.jks", "keystore file"),
        ("certs/client.p12", "keystore file"),
        ("certs/client.pfx", "keystore file"),
        ("id_rsa", "SSH private key"),
        ("home/.ssh/id_ed25519", "SSH private key"),
        ("keys/id_ecdsa", "SSH private key"),
        (".npmrc", "npm credentials"),
        (".pypirc", "PyPI credentials"),
        ("ci/.netrc", "netrc credentials"),
        (".git-credentials", "git credentials"),
        ("aws/credentials", "credentials file"),
        ("gcp/credentials.json", "credentials file"),
        ("gcp/service-account-prod.json", "service account credentials"),
        ("infra/prod.tfvars", "terraform variables"),
        ("config/secrets.yml", "secrets file"),
        ("config/secrets.yaml", "secrets file"),
        ("secrets.json", "secrets file"),
        ("app/secrets.toml", "secrets file"),
        ("web/.htpasswd", ".htpasswd"),
    ],
)
def test_secret_files_are_named_with_a_reason(path: str, why: str) -> None:
    reason = secret_file_reason(path)
    assert reason is not None and reason.startswith(f"{SECRET_FILE_REASON}: ")
    assert why.lower().lstrip(".") in reason.lower()


@pytest.mark.parametrize(
    "path",
    [
        ".env.example",
        "config/.env.sample",
        ".env.template",
        ".env.dist",
        "src/env.py",
        "environment.yml",
        "keyboard.py",
        "monkey.js",
        "src/keys.py",
        "docs/keys.md",
        "id_rsa.pub",
        "home/.ssh/id_ed25519.pub",
        "secrets.py",
        "forge_mcp/miner/secrets.py",
        "tests/test_secrets.py",
        "credentials.py",
        "token.go",
        "password_reset.html",
        "README.md",
        "pyproject.toml",
        "package.json",
        "src/pem_utils.py",
    ],
)
def test_ordinary_files_are_not_flagged(path: str) -> None:
    assert secret_file_reason(path) is None


# ---------------------------------------------------------------- redact: every kind, several languages

AWS_ID = "AKIA" + fake(16, string.ascii_uppercase + "234567", seed=1)
AWS_SECRET = fake(40, B64, seed=2)
GHP = "ghp_" + fake(36, seed=3)
GH_PAT = "github_pat_" + fake(22, seed=4) + "_" + fake(59, seed=5)
GLPAT = "glpat-" + fake(20, seed=6)
SLACK = "xoxb-" + fake(12, string.digits, seed=7) + "-" + fake(13, string.digits, seed=8) + "-" + fake(24, seed=9)
STRIPE = "sk_" + "live_" + fake(24, seed=10)
STRIPE_RESTRICTED = "rk_" + "live_" + fake(24, seed=11)
GOOGLE = "AI" + "za" + fake(35, ALNUM + "_-", seed=12)
OPENAI = "sk-" + "proj-" + fake(48, seed=13)
ANTHROPIC = "sk-" + "ant-api03-" + fake(80, ALNUM + "_-", seed=14)
JWT = "eyJ" + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJ" + fake(40, seed=15) + "." + fake(43, ALNUM + "_-", seed=16)
PASSWORD = "Tr0ub4dor&" + fake(6, seed=17)
API_KEY = fake(32, seed=18)
BLOB = fake(44, B64, seed=19)
HEX_KEY = fake(64, HEX, seed=20)

# (kind, snippet with @@ where the secret goes, secret)
CASES: list[tuple[str, str, str]] = [
    ("aws_access_key", 'aws_access_key_id = "@@"\n', AWS_ID),
    ("aws_access_key", "[default]\naws_access_key_id = @@\n", AWS_ID),
    ("aws_access_key", 'creds := credentials.NewStaticCredentials("@@", secret, "")\n', AWS_ID),
    ("aws_secret_key", "[default]\naws_secret_access_key = @@\nregion = eu-west-1\n", AWS_SECRET),
    ("aws_secret_key", "export AWS_SECRET_ACCESS_KEY=@@\n", AWS_SECRET),
    ("aws_secret_key", 'AWS_SECRET_ACCESS_KEY = "@@"  # rotate me\n', AWS_SECRET),
    ("github_token", 'const octokit = new Octokit({ auth: "@@" });\n', GHP),
    ("github_token", "github:\n  token: @@\n", GHP),
    ("github_token", "export GITHUB_TOKEN=@@\n", GH_PAT),
    ("github_token", 'token := "@@"\n', "ghp_" + "A" * 36),
    ("gitlab_token", 'gl = gitlab.Gitlab(url, private_token="@@")\n', GLPAT),
    ("slack_token", 'const slack = new WebClient("@@");\n', SLACK),
    ("stripe_key", 'stripe.api_key = "@@"\n', STRIPE),
    ("stripe_key", 'stripe.Key = "@@"\n', STRIPE_RESTRICTED),
    ("google_api_key", 'const firebaseConfig = {\n  apiKey: "@@",\n  authDomain: "app.firebaseapp.com",\n};\n', GOOGLE),
    ("openai_key", 'client = OpenAI(api_key="@@")\n', OPENAI),
    ("anthropic_key", "ANTHROPIC_API_KEY=@@\n", ANTHROPIC),
    ("jwt", 'fetch(url, { headers: { Authorization: "Bearer @@" } });\n', JWT),
    ("url_password", 'DATABASE_URL = "postgres://app:@@@db.internal:5432/app"\n', PASSWORD.replace("&", "")),
    ("url_password", "cache:\n  url: redis://:@@@cache:6379/0\n", API_KEY),
    ("url_password", 'db, err := sql.Open("mysql", "mysql://root:@@@tcp(localhost:3306)/shop")\n', API_KEY),
    ("generic_secret", 'password = "@@"\n', PASSWORD),
    ("generic_secret", 'conn = psycopg.connect(host="db", user="app", password="@@")\n', PASSWORD),
    ("generic_secret", "const apiKey = '@@';\n", API_KEY),
    ("generic_secret", 'clientSecret := "@@"\n', API_KEY),
    ("generic_secret", "database:\n  user: app\n  password: @@\n", PASSWORD),
    ("generic_secret", "[smtp]\nhost = mail.internal\npasswd = @@\n", PASSWORD),
    ("generic_secret", '[service]\napi_key = "@@"\n', API_KEY),
    ("generic_secret", '{"client_id": "web", "client_secret": "@@"}\n', API_KEY),
    ("generic_secret", "export API_TOKEN=@@\n", API_KEY),
    ("generic_secret", "DB_PASSWORD=@@ ./run.sh\n", PASSWORD),
    ("generic_secret", 'let settings = Settings { auth_token: "@@".into() };\n', API_KEY),
    ("high_entropy", 'SIGNING_SALT = b"@@"\n', BLOB),
    ("high_entropy", "const blob = '@@';\n", BLOB),
    ("high_entropy", 'var webhookHMAC = "@@"\n', HEX_KEY),
]


@pytest.mark.parametrize(("kind", "snippet", "secret"), CASES)
def test_each_kind_is_replaced_and_nothing_else_changes(kind: str, snippet: str, secret: str) -> None:
    text = snippet.replace("@@", secret)
    result = redact(text)
    assert result.text == snippet.replace("@@", f"<REDACTED:{kind}>")
    assert result.counts == {kind: 1} and result.total == 1
    assert secret not in result.text


@pytest.mark.parametrize("block", [pem_block(), pem_block("EC "), pem_block("")])
def test_pem_private_key_blocks_are_replaced_whole(block: str) -> None:
    for text, expected in [
        (block, "<REDACTED:private_key>"),
        (f'KEY = """{block}"""\nprint(KEY)\n', 'KEY = """<REDACTED:private_key>"""\nprint(KEY)\n'),
        (
            "tls:\n  key: |\n    " + block.replace("\n", "\n    ") + "\n  cert: server.crt\n",
            "tls:\n  key: |\n    <REDACTED:private_key>\n  cert: server.crt\n",
        ),
        ('const key = "' + block.replace("\n", "\\n") + '\\n";\n', 'const key = "<REDACTED:private_key>\\n";\n'),
    ]:
        result = redact(text)
        assert result.text == expected
        assert result.counts == {"private_key": 1}


def test_a_chunk_cut_inside_a_private_key_still_loses_the_key() -> None:
    head = pem_block().split("\n-----END")[0]
    result = redact(f'KEY = """{head}\n')
    assert "PRIVATE KEY" not in result.text and result.counts == {"private_key": 1}
    assert contains_private_key(head)


def test_contains_private_key() -> None:
    assert contains_private_key("x = 1\n" + pem_block() + "\n")
    assert not contains_private_key('if line.startswith("-----BEGIN RSA PRIVATE' + ' KEY-----"):\n    return True\n')
    assert not contains_private_key("def load_private_key(path: str) -> bytes: ...\n")
    cert = "-----BEGIN CERTIFICATE-----\n" + "\n".join(fake(64, B64, seed=i) for i in range(5))
    assert not contains_private_key(cert + "\n-----END CERTIFICATE-----\n")


def test_certificates_and_ssh_public_keys_are_left_alone() -> None:
    cert = (
        "CA = '''-----BEGIN CERTIFICATE-----\n"
        + "\n".join(fake(64, B64, seed=40 + i) for i in range(5))
        + "\n-----END CERTIFICATE-----'''\n"
    )
    ssh = "authorized_key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + fake(43, B64, seed=50) + " dev@laptop'\n"
    for text in (cert, ssh):
        assert redact(text) == Redaction(text, {})


def test_several_secrets_in_one_file_are_counted_by_kind() -> None:
    text = (
        f'AWS_KEY = "{AWS_ID}"\nSESSION_KEY = "{fake(40, ALNUM, seed=30)}"\n'
        f'password = "{PASSWORD}"\nBLOB = "{fake(40, B64, seed=31)}"\n'
    )
    result = redact(text)
    assert result.counts == {"aws_access_key": 1, "generic_secret": 2, "high_entropy": 1}
    assert result.total == 4
    assert result.text.count("<REDACTED:") == 4


# ---------------------------------------------------------------- no false positives on ordinary code

BENIGN = [
    f'commit = "{fake(40, HEX, seed=60)}"',
    f'sha256 = "{fake(64, HEX, seed=61)}"',
    f'EXPECTED_DIGEST = "{fake(32, HEX, seed=62)}"',
    f"  - repo: https://github.com/psf/black\n    rev: {fake(40, HEX, seed=63)}",
    f"FROM python:3.11-slim@sha256:{fake(64, HEX, seed=64)}",
    'request_id = "123e4567-e89b-12d3-a456-426614174000"',
    "const traceId = crypto.randomUUID(); // e.g. 9b2f3c1e-5d4a-4f6b-8c7d-0e1f2a3b4c5d",
    'url = "https://github.com/python/cpython/blob/3.11/Lib/os.py"',
    'DOCS = "https://docs.google.com/document/d/1ZRfTWKa8eaPq1AxaiHrq4ASTPouzzlPiuquSBEJYwS8/edit"',
    'path = "/usr/local/lib/python3.11/site-packages/forge_mcp/miner/secrets.py"',
    'model_id = "mistralai/Mistral-7B-Instruct-v0.2"',
    'checkpoint = "openai/clip-vit-base-patch32"',
    "class V1alpha3PodGroupSpecBuilder(BaseModel):",
    "def test_redacts_github_token_in_yaml_config_files() -> None:",
    "x = configuration_manager_instance_factory_v2(Qwen2_5OmniDiTConfig)",
    "total_size += _VarUInt64ByteSizeNoTag(message_size)",
    'msg = "Please enter your password to continue"',
    'password = getpass.getpass("Password: ")',
    "def login(self, user: str, password: str | None = None, token: Token = None) -> Session:",
    "password: str = Field(..., min_length=12)",
    'secret = os.environ["APP_SECRET"]',
    'api_key = os.getenv("OPENAI_API_KEY")',
    'SECRET_KEY = os.environ.get("SECRET_KEY", "")',
    "const token = process.env.GITHUB_TOKEN;",
    "const { token } = await auth.getToken();",
    'password := os.Getenv("DB_PASSWORD")',
    "func (c *Client) Token() (string, error) {",
    "export API_KEY=${API_KEY}",
    "read -s PASSWORD",
    "database:\n  password: ${DB_PASSWORD}\n  auth: basic",
    "secretName: my-app-tls",
    "[oauth]\nauth_method = oauth2\ntoken_url = https://auth.example.org/token",
    'api_key = "<your-api-key>"',
    'password = "changeme"',
    'token = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    f'AWS_KEY = "{"AKIA" + "IOSFODNN7" + "EXAMPLE"}"',
    'password = ""',
    "token = tokens[i]",
    "token = self.tokenizer.pad_token",
    'pad_token = "<pad>"',
    'image_token = "<|image|>"',
    'token_type = "Bearer"',
    'if token == "EOF":',
    "max_tokens = 4096",
    'author = "Guido van Rossum"',
    'TOKEN_PATTERN = r"[A-Za-z0-9_]+"',
    '"dependencies": {"left-pad": "^1.3.0"}',
    "SERVER_AUTH = '1.3.6.1.5.5.7.3.1'",
    'credentials = "{0}:{1}".format(user, passwd).encode()',
    'password_hash = "pbkdf2:sha256:600000$' + fake(16, ALNUM, seed=65) + "$" + fake(64, HEX, seed=66) + '"',
    'color = "#1f77b4"',
    'data = base64.b64encode(b"hello world")',
    "private_key: Ed25519PrivateKey | Ed448PrivateKey",
    'STORAGE_V1_CLIENT_KEY = "storage_v1_client"',
    "# token = 1*tchar  (RFC 7230)",
    "AUTH=CRAM-MD5 is advertised by the server",
    "password: Optional. The database password; leave unset to use IAM.",
    "---" * 10,
    "=" * 79,
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
]


@pytest.mark.parametrize("line", BENIGN)
def test_ordinary_code_is_left_alone(line: str) -> None:
    result = redact(line + "\n")
    assert result.counts == {}, result.text
    assert result.text == line + "\n"


def test_stdlib_sources_produce_almost_no_redactions() -> None:
    # Precision on a large body of real code: the standard library holds almost no secrets.
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [
        p
        for p in stdlib.rglob("*.py")
        if not {"test", "tests", "idle_test", "site-packages"} & set(p.relative_to(stdlib).parts)
    ]
    assert len(files) > 300
    total = sum(redact(p.read_text(encoding="utf-8", errors="replace")).total for p in files)
    assert total < 30


# ---------------------------------------------------------------- properties of the output


def test_redact_is_idempotent() -> None:
    document = "".join(snippet.replace("@@", secret) for _, snippet, secret in CASES) + pem_block() + "\n"
    document += "\n".join(BENIGN) + "\n"
    once = redact(document)
    twice = redact(once.text)
    assert once.total >= len(CASES) + 1
    assert twice.text == once.text
    assert twice.counts == {}


@pytest.mark.parametrize(("kind", "snippet", "secret"), CASES)
def test_each_case_is_idempotent(kind: str, snippet: str, secret: str) -> None:
    once = redact(snippet.replace("@@", secret)).text
    assert redact(once) == Redaction(once, {})


def test_crlf_and_unicode_are_preserved() -> None:
    lines = [
        "# -*- coding: utf-8 -*-",
        'GREETING = "naïve café — 日本語 🚀"',
        f'password = "{PASSWORD}"',
        f'GITHUB = "{GHP}"',
        "ÜBER_TOKEN_LÄNGE = 42",
    ]
    text = "\r\n".join(lines) + "\r\n"
    result = redact(text)
    expected = text.replace(PASSWORD, "<REDACTED:generic_secret>").replace(GHP, "<REDACTED:github_token>")
    assert result.text == expected
    assert result.text.count("\r\n") == len(lines)
    assert result.text.encode("utf-8") == expected.encode("utf-8")


def test_text_whose_lowercase_changes_length_still_works() -> None:
    # "İ".lower() is two code points, so the fast lowercase scan cannot be used; the fallback must agree.
    text = f'İSTANBUL = "şehir"\napi_key = "{API_KEY}"\nNOTE = "İ"\n'
    result = redact(text)
    assert result.text == text.replace(API_KEY, "<REDACTED:generic_secret>")


def test_empty_and_secret_free_text() -> None:
    assert redact("") == Redaction("", {})
    plain = "def add(a: int, b: int) -> int:\n    return a + b\n"
    result = redact(plain)
    assert result.text is plain or result.text == plain
    assert result.total == 0
