"""What a key looks like, what is kept of it, and how it is hashed."""

from __future__ import annotations

import base64

from tally.apikeys.scopes import SCOPES, parse_scopes, scopes_text
from tally.apikeys.secret import (
    SECRET_PREFIX,
    is_well_formed,
    key_hash,
    looks_like_key,
    new_key_id,
    new_secret,
    visible_prefix,
)


def test_a_secret_carries_32_random_bytes_url_safe() -> None:
    secret = new_secret()
    assert secret.startswith("tally_sk_")
    body = secret.removeprefix(SECRET_PREFIX)
    assert len(base64.urlsafe_b64decode(body + "=")) == 32
    assert is_well_formed(secret)
    assert len({new_secret() for _ in range(100)}) == 100


def test_well_formed_keys_and_things_that_only_look_like_one() -> None:
    secret = new_secret()
    assert looks_like_key(secret[:20])
    assert not is_well_formed(secret[:20])
    assert not is_well_formed(secret + "x")
    assert not is_well_formed(secret[:-1] + "+")
    assert not is_well_formed(" " + secret)
    assert not looks_like_key("eyJhbGciOiJSUzI1NiJ9.e30.sig")


def test_the_visible_prefix_is_the_first_12_characters() -> None:
    secret = new_secret()
    assert visible_prefix(secret) == secret[:12]
    assert visible_prefix(secret).startswith("tally_sk_")


def test_the_hash_is_keyed_by_the_pepper() -> None:
    secret = new_secret()
    assert key_hash(secret, "pepper") == key_hash(secret, "pepper")
    assert key_hash(secret, "pepper") != key_hash(secret, "other pepper")
    assert key_hash(secret, "pepper") != key_hash(new_secret(), "pepper")
    assert len(key_hash(secret, "pepper")) == 64
    assert secret not in key_hash(secret, "pepper")


def test_key_ids_and_scopes() -> None:
    assert new_key_id().startswith("key_")
    assert new_key_id() != new_key_id()
    assert SCOPES == ("usage:write", "usage:read", "stats:read", "billing:read")
    assert scopes_text({"stats:read", "usage:write"}) == "usage:write stats:read"
    assert parse_scopes("stats:read  nonsense usage:read") == frozenset({"stats:read", "usage:read"})
