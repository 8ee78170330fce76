"""ed25519 identities: Wycheproof and SUPERCOP conformance, did:key, signed JSON."""

import json
from pathlib import Path

import pytest

from plexnet.core import identity as ident
from plexnet.core.errors import InvalidDID, SignatureError

VECTORS = Path(__file__).parent / "vectors"


def _wycheproof():
    data = json.loads((VECTORS / "wycheproof" / "ed25519_test.json").read_text())
    for group in data["testGroups"]:
        pk = bytes.fromhex(group["publicKey"]["pk"])
        for t in group["tests"]:
            yield pytest.param(pk, t, id=f"tc{t['tcId']}-{t['result']}")


@pytest.mark.parametrize(("public_key", "case"), list(_wycheproof()))
def test_wycheproof_ed25519(public_key, case):
    got = ident.verify_signature(public_key, bytes.fromhex(case["msg"]),
                                 bytes.fromhex(case["sig"]))
    assert got is (case["result"] == "valid"), case["comment"]


def test_wycheproof_has_all_151_cases():
    assert len(list(_wycheproof())) == 151


def _supercop(limit=1024):
    lines = (VECTORS / "supercop" / "kat-ed25519.txt").read_text().splitlines()
    return lines[:limit]


def test_supercop_known_answers_sign_and_verify():
    for line in _supercop():
        sk_pk, pk, msg, sig_msg = line.split(":")[:4]
        seed, public = bytes.fromhex(sk_pk[:64]), bytes.fromhex(pk)
        message, signature = bytes.fromhex(msg), bytes.fromhex(sig_msg)[:64]
        me = ident.Identity.from_seed("kat", seed)
        assert me.public_key == public
        assert me.sign(message) == signature  # ed25519 signing is deterministic
        assert ident.verify_signature(public, message, signature)


def test_verify_signature_never_raises_on_garbage():
    assert not ident.verify_signature(b"short", b"m", bytes(64))
    assert not ident.verify_signature(bytes(32), b"m", b"short")
    assert not ident.verify_signature(b"\xff" * 32, b"m", bytes(64))


def test_did_key_round_trip_and_known_prefix():
    me = ident.Identity.generate("alice")
    assert me.did.startswith("did:key:z6Mk")
    assert ident.public_key_from_did(me.did) == me.public_key


def test_did_key_of_rfc8032_test_1():
    # RFC 8032 test 1 public key, and its did:key per the did:key method spec.
    pk = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    did = ident.did_from_public_key(pk)
    assert ident.public_key_from_did(did) == pk
    assert did == "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"


@pytest.mark.parametrize("bad", [
    "", "did:web:example.com", "did:key:", "did:key:z", "did:key:zzzz",
    "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMs",   # truncated
    "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw1",  # extra byte
    "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",  # secp256k1, not ed25519
    "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMM0w",  # '0' is not base58
])
def test_malformed_dids_are_rejected(bad):
    with pytest.raises(InvalidDID):
        ident.public_key_from_did(bad)


def test_signed_json_verifies_and_binds_domain_and_content():
    me = ident.Identity.generate("alice")
    value = {"amount": 5, "to": "bob"}
    sig = me.sign_json("ledger-entry", value)
    ident.verify_json(me.did, "ledger-entry", value, sig)
    with pytest.raises(SignatureError):
        ident.verify_json(me.did, "tree-head", value, sig)  # other domain
    with pytest.raises(SignatureError):
        ident.verify_json(me.did, "ledger-entry", {"amount": 6, "to": "bob"}, sig)
    other = ident.Identity.generate("mallory")
    with pytest.raises(SignatureError):
        ident.verify_json(other.did, "ledger-entry", value, sig)


@pytest.mark.parametrize("sig", ["", "!!!!", "AAAA", "A" * 86 + "B"])
def test_malformed_signatures_are_signature_errors(sig):
    me = ident.Identity.generate("alice")
    with pytest.raises(SignatureError):
        ident.verify_json(me.did, "d", {"a": 1}, sig)


def test_base64url_is_strict():
    assert ident.b64decode(ident.b64encode(b"\x00\xff")) == b"\x00\xff"
    with pytest.raises(SignatureError):
        ident.b64decode("AP9=")  # padding is not allowed
    with pytest.raises(SignatureError):
        ident.b64decode("AP+")  # '+' is not base64url
