"""Visitor ids and site identities, checked without a server."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from chat.visitors import VisitorKeys, verify_identity

SECRET = b"s" * 32


def test_an_issued_id_checks_and_an_altered_one_does_not() -> None:
    keys = VisitorKeys(SECRET)
    public, token = keys.issue()
    assert keys.check(token) == public
    assert len(public) == 22
    other_public, _other_token = keys.issue()
    assert other_public != public
    swapped = f"{other_public}.{token.split('.')[1]}"
    for forged in (swapped, token[:-1] + ("A" if token[-1] != "A" else "B"), public, "", 42, None):
        assert keys.check(forged) is None
    # Another server's secret does not recognise it.
    assert VisitorKeys(b"t" * 32).check(token) is None


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        VisitorKeys(b"short")


def sign(text: str, secret: bytes = SECRET) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def test_only_a_signed_identity_is_believed() -> None:
    text = json.dumps({"user_id": 7, "member": True, "tier": "gold", "name": "x", "nested": {}})
    found = verify_identity(SECRET, text, sign(text))
    assert found is not None
    assert found.user_id == "7"
    assert found.attributes == {"member": True, "tier": "gold"}  # no name, nothing nested
    assert verify_identity(SECRET, text, sign(text).upper()) is not None
    assert verify_identity(SECRET, text, sign(text, b"other")) is None
    assert verify_identity(SECRET, text.replace("gold", "platinum"), sign(text)) is None
    assert verify_identity(None, text, sign(text)) is None
    assert verify_identity(SECRET, text, None) is None
    assert verify_identity(SECRET, "[1, 2]", sign("[1, 2]")) is None
    big = json.dumps({"user_id": "1", "pad": "x" * 5000})
    assert verify_identity(SECRET, big, sign(big)) is None
