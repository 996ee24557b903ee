"""miner.secret_values: secret-named names, placeholders, randomness, and when a value under a name is a secret."""

from __future__ import annotations

import random
import string

import pytest

from forge_mcp.miner.secret_values import (
    NONE,
    STRONG,
    WEAK,
    entropy,
    is_placeholder,
    looks_random,
    name_strength,
    secret_value,
    words,
    wordy,
)

ALNUM = string.ascii_letters + string.digits


def fake(n: int, seed: int = 0) -> str:
    return "".join(random.Random(seed).choices(ALNUM, k=n))


def test_words_splits_snake_camel_and_digits() -> None:
    assert words("DB_PASSWORD") == ["db", "password"]
    assert words("clientSecret") == ["client", "secret"]
    assert words("HTTPServer2Key") == ["http", "server", "2", "key"]
    assert words("") == []


@pytest.mark.parametrize(
    ("name", "strength"),
    [
        ("DB_PASSWORD", STRONG),
        ("PGPASSWORD", STRONG),
        ("clientSecret", STRONG),
        ("api_key", STRONG),
        ("xApiKey", STRONG),
        ("SECRET_KEY_BASE", STRONG),  # a trailing form word describes the same secret
        ("password_value", STRONG),
        ("pass", STRONG),
        ("db_pass", STRONG),
        ("auth_token", WEAK),
        ("token", WEAK),
        ("credentials", WEAK),
        ("first_pass", NONE),  # a compiler pass
        ("cache_key", NONE),
        ("key", NONE),
        ("public_key", NONE),
        ("username", NONE),
        ("", NONE),
    ],
)
def test_name_strength(name: str, strength: int) -> None:
    assert name_strength(name) == strength


def test_entropy() -> None:
    assert entropy("") == 0.0
    assert entropy("aaaa") == 0
    assert entropy("ab") == pytest.approx(1.0)
    assert entropy("abcd") == pytest.approx(2.0)


@pytest.mark.parametrize(
    "value", ["changeme", "<password>", "${DB_PASS}", "{{ secret }}", "your_token", "xx", "%s", "my-secret", "none"]
)
def test_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["sunflower-meadow", "hunter2-" + "Zq8vR1pL", fake(24)])
def test_real_values_are_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


def test_random_tokens_look_random_and_identifiers_do_not() -> None:
    assert all(looks_random(fake(40, seed)) for seed in range(50))
    assert looks_random(fake(40) + "==")  # base64 padding is ignored
    for identifier in ("V1alpha3PodGroupSpec", "BertTokenizerFast"):
        assert wordy(identifier)
        assert not looks_random(identifier)
    assert not looks_random(fake(12))  # too short
    assert not looks_random("a" * 40)
    assert not looks_random("org/model-7b" + fake(30))  # mixes the two base64 alphabets: a path


@pytest.mark.parametrize(
    ("value", "name", "strength", "quoted"),
    [
        ("sunflower-meadow", "DB_PASSWORD", STRONG, True),  # a strong name keeps dictionary words
        ("maple_otter", "password", STRONG, False),
        ("correct horse battery staple", "password", STRONG, True),  # a passphrase
        ("ab12cd34ef56gh78", "auth_token", WEAK, True),
        (fake(32, seed=3), "auth", WEAK, True),
        ("mhpPWQBZnRKNQYsRrOAcWjhs", "auth", WEAK, True),  # letters only, long, mixed case
    ],
)
def test_secret_values(value: str, name: str, strength: int, quoted: bool) -> None:
    assert secret_value(value, name, strength, quoted)


@pytest.mark.parametrize(
    ("value", "name", "strength", "quoted"),
    [
        ("abc", "password", STRONG, True),  # too short
        ("changeme", "password", STRONG, True),
        ("https://example.invalid", "password", STRONG, True),
        ("/etc/secret", "password", STRONG, True),
        ("1.2.3", "password", STRONG, True),
        ("12345", "password", STRONG, True),
        ("please enter your password", "password", STRONG, True),  # prose
        ("Passwort", "password", STRONG, True),  # a label
        ("DB_PASSWORD", "password", STRONG, True),  # the name of a secret, not one
        ("storage_v1_client", "STORAGE_V1_CLIENT_KEY", STRONG, True),
        ("bandpass", "pass", STRONG, True),  # repeats the name
        ("getpass_input", "password", STRONG, False),  # code
        ("self.password", "password", STRONG, False),
        ("ca.pem", "private_key", STRONG, False),
        ("orig_val", "password", STRONG, False),
        ("PLAIN", "auth_token", WEAK, True),  # a weak name needs key material
        ("sunflower-meadow", "auth_token", WEAK, True),
    ],
)
def test_not_secret_values(value: str, name: str, strength: int, quoted: bool) -> None:
    assert not secret_value(value, name, strength, quoted)
