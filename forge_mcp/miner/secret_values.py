"""What makes a name secret-named, and when the value under it is a secret rather than code or a placeholder.

Shared by the context detectors (secret_context.py) and the high-entropy pass (secrets.py). Precision matters as
much as recall: a redaction in ordinary code damages training data, so each check below says what it keeps.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter

NONE, WEAK, STRONG = 0, 1, 2

# Last word of a name that makes its value a secret. "Strong" names hold secrets whatever the value reads like
# (dictionary words included); "weak" ones (tokenizers' pad_token, auth modes) only when the value is key material.
_STRONG_WORDS = frozenset({"pwd", "pw", "passphrase", "secret", "apikey"})
# "pass" alone is also a compiler pass (`first_pass`, `vars_to_pass`): it counts alone or after one of these.
_PASS_QUALIFIERS = frozenset(
    """db database smtp mail imap pop ftp sftp ssh user admin root login account mysql pg
postgres mongo redis rabbit amqp ldap proxy vpn wifi key api app sql auth basic http client service""".split()
)
_STRONG_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "apikey",
    "secretkey",
    "privatekey",
    "accesskey",
    "authkey",
    "signingkey",
    "masterkey",
    "encryptionkey",
)  # PGPASSWORD, clientsecret, xapikey
_WEAK_WORDS = frozenset({"auth", "credential", "credentials", "creds", "cred"})
# "key" counts only with a qualifier before it: `api_key`, `SECRET_KEY`, not `cache_key` or `key = 3`.
_KEY_QUALIFIERS = frozenset(
    {
        "api",
        "access",
        "secret",
        "private",
        "auth",
        "signing",
        "encryption",
        "master",
        "client",
        "app",
        "session",
        "license",
        "consumer",
        "hmac",
        "jwt",
        "webhook",
        "account",
    }
)
# Trailing words that describe the form of the same secret: SECRET_KEY_BASE, password_value, api_key_b64.
_FORM_WORDS = frozenset({"base", "value", "string", "str", "text", "raw", "plain", "b64", "base64", "hex", "bytes"})
_WORD_SEGMENT = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SECRET_PARTS = ("pass", "pwd", "secret", "token", "key", "auth", "cred")

# Whole values that stand for "no secret here" (compared lowercased, punctuation dropped).
_DEFAULTS = frozenset(
    """password passwd pass pwd pw secret secrets token apikey key test testing tests admin root guest
user username default demo postgres mysql redis mongo changeme changeit none null nil undefined empty true false yes no
on off required optional string str int bool boolean bytes text any value hidden unset notset na tbd secretstr
bearer basic oauth oauth2 jwt hmac plain plaintext env environment file vault keyring prompt stdin auto inherit
omit include sameorigin credentials""".split()
)
_PLACEHOLDER_PARTS = (
    "placeholder",
    "example",
    "xxxx",
    "****",
    "changeme",
    "change_me",
    "change-me",
    "redacted",
    "dummy",
    "<",
    ">",
    "${",
    "{{",
    "%(",
    "#{",
    "...",
    "your_",
    "your-",
    "yourpass",
    "yoursecret",
    "yourtoken",
    "yourkey",
    "replace_me",
    "replace-me",
    "replaceme",
    "insert",
    "fake",
    "sample",
)
# Format fields and variables: `%s`, `{0}`, `{name}`, `$VAR`, `${VAR}`, `{{ x }}`, `%APPDATA%`
# (not `ab%sd` in a password).
_FORMAT = re.compile(r"(?<![A-Za-z0-9])%[sdr](?![A-Za-z0-9])|%\(|\{\w*\}|(?<![\w$])\$[A-Za-z_{]|\{\{|^%\w+%$")
# Bare values that are paths, references or flags; then YAML tags, aliases and anchors, and numbers.
_REF_STARTS = ("/", "./", "~/", "$", "@", ".", "[", "^", "?", "{", "\\", "--")
_YAML_TAG_OR_NUMBER = re.compile(r"![A-Za-z]+|[*&][A-Za-z_][\w.-]*|-?[0-9.]+")
_QUOTED_REF_STARTS = ("/", "./", "~/", "\\", "file:")  # a quoted literal can start with anything else
_VERSION = re.compile(r"v?[0-9]+(?:\.[0-9]+)+")
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")
_TOKEN_VALUE = re.compile(r"[A-Za-z0-9+/=_\-.~:]+")
# Words of code: a bare value built only from these (and secret words) is a variable, not a password.
_CODE_WORDS = frozenset(
    """new old user input raw plain hashed hash value default form request req args arg param params
opts options option config conf cfg settings env data result current confirm stored given provided text field get set
read load fetch make create gen generate random salt encode decode encrypt encrypted decrypt crypt str string bytes my
the your db admin root master initial temp tmp local remote cached expected actual mock fake test dummy sample example
generated derived final orig val obj self cls this var none null false true undefined nil type types char chars buffer
number integer boolean object array list map dict secret password token key auth credentials from to of and""".split()
)
_CODE_OBJECTS = frozenset(
    """self this cls super config conf cfg settings options opts args kwargs params env environ
os process request req res response ctx context app props properties secrets vars values data form user db session
auth credentials creds account sys module exports window document std crypto keys vault store cache state model
instance obj item row record payload body input result flags cli parser util utils helpers""".split()
)
# Prose around a quoted value: a UI string or a sentence, not a passphrase.
_FILE_EXTENSIONS = frozenset(
    "pem key crt cer der p12 pfx jks json txt yaml yml env ini cfg conf toml xml gpg asc pub".split()
)
_PROSE_WORDS = frozenset(
    """the a an your my our to of for is are be and or with enter please new old confirm invalid
wrong incorrect required must at least characters not this that here from in on by you it""".split()
)
_UPPER, _LOWER, _DIGIT = frozenset(string.ascii_uppercase), frozenset(string.ascii_lowercase), frozenset(string.digits)
_CAMEL_WORD = re.compile(r"[A-Z]?[a-z]{2,}")
_VOWELS = frozenset("aeiouy")


def words(name: str) -> list[str]:
    return [w.lower() for w in _WORD_SEGMENT.findall(name)]


def name_strength(name: str) -> int:
    """STRONG for `DB_PASSWORD`, `clientSecret`, `api_key`; WEAK for `auth_token`, `credentials`; else NONE."""
    parts = words(name)
    while len(parts) > 1 and parts[-1] in _FORM_WORDS:
        parts.pop()
    if not parts or "public" in parts:
        return NONE
    last = parts[-1]
    if last in _STRONG_WORDS or last.endswith(_STRONG_SUFFIXES):
        return STRONG
    if last == "pass":
        return STRONG if len(parts) == 1 or parts[-2] in _PASS_QUALIFIERS else NONE
    if last == "key" and len(parts) > 1 and parts[-2] in _KEY_QUALIFIERS:
        return STRONG
    return WEAK if last in _WEAK_WORDS or last.endswith("token") else NONE


def entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


def is_placeholder(value: str) -> bool:
    low = value.lower()
    if any(part in low for part in _PLACEHOLDER_PARTS) or len(set(low)) <= 2 or low.startswith(("my-", "my_")):
        return True
    return _FORMAT.search(value) is not None or re.sub(r"[^a-z0-9]", "", low) in _DEFAULTS


def wordy(t: str) -> bool:
    """Mostly pronounceable camelCase words ("V1alpha3PodGroupSpec"): an identifier, not key material.

    Measured on 10k random base64/alnum tokens vs 6k mixed-case-with-digit identifiers from site-packages:
    random tokens average < 2.7 chars per segment and < 55% of chars in words; identifiers sit well above both."""
    in_words = sum(len(w) for w in _CAMEL_WORD.findall(t) if not _VOWELS.isdisjoint(w.lower()))
    return len(t) / max(1, len(_WORD_SEGMENT.findall(t))) >= 2.7 or in_words >= 0.55 * len(t)


def looks_random(token: str) -> bool:
    t = token.rstrip("=")
    chars = set(t)
    if len(t) < 20 or not (chars & _UPPER and chars & _LOWER and chars & _DIGIT) or is_placeholder(t):
        return False
    if ("/" in t or "+" in t) and ("-" in t or "_" in t):
        return False  # mixes the standard and URL-safe base64 alphabets: a path or a name like org/model-7b
    return not wordy(t) and entropy(t) >= min(4.2, 3.0 + 0.04 * len(t))  # ~5th pct of random base64


def _identifier(value: str) -> bool:
    """Reads like words and is not as varied as random text: 32 random alphanumerics have entropy ~4.5-4.9 bits,
    `V1alpha3PodGroupSpec` 3.9, `BertTokenizerFast` 3.6 (wordy() alone takes ~1 random token in 30 for words)."""
    return wordy(value) and entropy(value) < 4.2


def _token_like(value: str) -> bool:
    """Key material under a weak name: digits among token characters, and not an identifier or a label."""
    has_digit = bool(set(value) & _DIGIT)
    if len(value) < 8 or not _TOKEN_VALUE.fullmatch(value) or _VERSION.fullmatch(value):
        return looks_random(value)
    if not has_digit:  # letters only: a token if long, mixed-case and random (`mhpPWQBZnRKNQYsRrOAcWjhs...`)
        return len(value) >= 20 and value != value.lower() and value != value.upper() and not _identifier(value)
    if value.isupper() and len(value) < 16 or "==" in value.rstrip("="):
        return False  # constants (`AUTH=CRAM-MD5`) and comparisons in prose
    if _IDENT.fullmatch(value) and (value[0].isupper() or "_" in value) and _identifier(value):
        return False  # code: `storage_v1_client`, `V1alpha3Spec`
    return True


def _reference(value: str, name: str) -> bool:
    """The value names a secret instead of holding one: `DB_PASSWORD`, `db.password`, `x-api-key`, the name's words."""
    if _ENV_NAME.fullmatch(value) and ("_" in value or len(value) < 16):
        return True
    parts = [p for p in words(value) if not p.isdigit()]
    if not parts or not re.fullmatch(r"[A-Za-z0-9_.\-:]+", value):
        return False
    if set(parts) <= set(words(name)) | {"v", "x"}:
        return True  # `STORAGE_V1_CLIENT_KEY = "storage_v1_client"`
    last = words(name)[-1:]
    if last and len(last[0]) >= 4 and last[0] in value.lower():
        return True  # labels and fakes that repeat the name: `"pass": "bandpass"`, `refresh_token: "newtoken1"`
    secretish = any(p.startswith(_SECRET_PARTS) or p.endswith(_STRONG_SUFFIXES) for p in parts)
    return secretish and (not set(value) & _DIGIT or value[0].islower() or "." in value)


def _code_like(value: str, name: str) -> bool:
    """A bare value that is an expression (a variable, an attribute, a type, a file name), not a literal."""
    if any(
        any(s in p for s in _SECRET_PARTS if s != "key") or p in ("key", "keys") or p.endswith(_STRONG_SUFFIXES)
        for p in words(value)
    ):
        return bool(re.fullmatch(r"[\w.$]+", value))  # `password = getpass_input`, `key: Ed25519PrivateKey`
    if _DOTTED.fullmatch(value) and value.rsplit(".", 1)[-1].lower() in _FILE_EXTENSIONS:
        return True  # `private_key = ca.pem`
    if _DOTTED.fullmatch(value):
        return value.split(".", 1)[0].lower() in _CODE_OBJECTS or value.rsplit(".", 1)[-1].lower() in _CODE_WORDS
    if not _IDENT.fullmatch(value) or set(value) & _DIGIT:
        return False
    parts = words(value)
    return len(parts) == 1 and len(value) < 6 or any(p in _CODE_WORDS for p in parts)  # `orig_val`, not `maple_otter`


def _passphrase(value: str) -> bool:
    parts = value.split()
    return 3 <= len(parts) <= 6 and all(p.isalpha() and p.lower() not in _PROSE_WORDS for p in parts)


def secret_value(value: str, name: str, strength: int, quoted: bool) -> bool:
    """Whether `value`, assigned to `name` of the given strength, is a secret to redact."""
    if (
        len(value) < 4
        or is_placeholder(value)
        or "://" in value
        or value.startswith(_QUOTED_REF_STARTS if quoted else _REF_STARTS)
        or not quoted
        and _YAML_TAG_OR_NUMBER.fullmatch(value)
    ):
        return False  # placeholders, URLs (url_password's job), paths and references
    if _VERSION.fullmatch(value) or value.isdigit() and len(value) < 6 or "==" in value.rstrip("="):
        return False  # versions, small numbers, comparisons in prose
    if strength < STRONG:
        return _token_like(value) and not _reference(value, name)
    if any(ch.isspace() for ch in value):
        return quoted and _passphrase(value)
    if _reference(value, name) or not quoted and _code_like(value, name):
        return False
    low = value.lower()
    return not (low.startswith(("passw", "secret", "token")) and not set(value) & _DIGIT)  # labels: "Passwort"
