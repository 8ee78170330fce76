"""The keystore: 0600 files, atomic creation, passphrases, clear errors."""

import stat

import pytest

from plexnet.core.errors import KeystoreError
from plexnet.core.keystore import Keystore


def test_create_load_list(tmp_path):
    ks = Keystore(tmp_path / "keys")
    alice = ks.create("alice")
    ks.create("bob")
    assert ks.names() == ["alice", "bob"]
    assert ks.load("alice").did == alice.did
    assert stat.S_IMODE((tmp_path / "keys" / "alice.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_refuses_to_overwrite(tmp_path):
    ks = Keystore(tmp_path)
    first = ks.create("alice")
    with pytest.raises(KeystoreError, match="already exists"):
        ks.create("alice")
    assert ks.load("alice").did == first.did


@pytest.mark.parametrize("name", ["", "../evil", "a/b", "UPPER", "-dash", "x" * 65, ".hidden"])
def test_rejects_unsafe_names(tmp_path, name):
    with pytest.raises(KeystoreError, match="invalid identity name"):
        Keystore(tmp_path).create(name)


def test_unknown_identity_says_how_to_create_it(tmp_path):
    with pytest.raises(KeystoreError, match="plexnet id new carol"):
        Keystore(tmp_path).load("carol")


def test_passphrase_encrypts_and_is_required(tmp_path):
    Keystore(tmp_path, passphrase=b"s3cret").create("alice")
    assert b"ENCRYPTED" in (tmp_path / "alice.pem").read_bytes()
    assert Keystore(tmp_path, passphrase=b"s3cret").load("alice")
    with pytest.raises(KeystoreError, match="cannot read"):
        Keystore(tmp_path).load("alice")
    with pytest.raises(KeystoreError, match="cannot read"):
        Keystore(tmp_path, passphrase=b"wrong").load("alice")


def test_refuses_world_readable_keys(tmp_path):
    ks = Keystore(tmp_path)
    ks.create("alice")
    (tmp_path / "alice.pem").chmod(0o644)
    with pytest.raises(KeystoreError, match="chmod 600"):
        ks.load("alice")


def test_garbage_key_file(tmp_path):
    ks = Keystore(tmp_path)
    path = tmp_path / "alice.pem"
    path.write_bytes(b"not a key")
    path.chmod(0o600)
    with pytest.raises(KeystoreError, match="cannot read"):
        ks.load("alice")
