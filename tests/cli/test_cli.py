"""The CLI as users run it: a real process, real files, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def plexnet(home: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PLEXNET_HOME": str(home)}
    env.pop("PLEXNET_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "plexnet", *args], env=env, input=stdin,
                          capture_output=True, timeout=120)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def fails(result: subprocess.CompletedProcess, code: int = 1) -> str:
    text = result.stderr.decode()
    assert result.returncode == code, (result.returncode, text, result.stdout.decode())
    assert "Traceback" not in text
    return text


@pytest.fixture
def home(tmp_path: Path) -> Path:
    ok(plexnet(tmp_path, "ledger", "init", "--log-id", "cli-test"))
    return tmp_path


def test_help_is_fast_and_lists_commands(tmp_path):
    out = ok(plexnet(tmp_path, "--help"))
    for command in ("id", "blob", "ledger", "demo"):
        assert command in out


def test_identity_lifecycle(home):
    created = json.loads(ok(plexnet(home, "id", "new", "alice", "--roles", "requester",
                                    "--json")))
    assert created["did"].startswith("did:key:z6Mk") and created["registered_seq"] == 1
    shown = json.loads(ok(plexnet(home, "id", "show", "alice", "--json")))
    assert shown["did"] == created["did"] and shown["balance_micro"] == 0
    listed = json.loads(ok(plexnet(home, "id", "list", "--json")))
    assert {i["name"] for i in listed} == {"alice", "operator"}
    assert "already exists" in fails(plexnet(home, "id", "new", "alice"))
    assert "invalid identity name" in fails(plexnet(home, "id", "new", "../x"))
    assert "roles" in fails(plexnet(home, "id", "new", "bob", "--roles", "Bad Role"))
    assert not (home / "keys" / "bob.pem").exists()  # a rejected entry leaves no key behind
    assert "no identity 'nobody'" in fails(plexnet(home, "id", "show", "nobody"))


def test_blob_round_trip_and_bad_cids(home, tmp_path):
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(100_000))
    cid = ok(plexnet(home, "blob", "put", str(src))).strip()
    assert cid.startswith("bafkrei")
    assert plexnet(home, "blob", "get", cid).stdout == src.read_bytes()
    dst = tmp_path / "copy.bin"
    ok(plexnet(home, "blob", "get", cid, "-o", str(dst)))
    assert dst.read_bytes() == src.read_bytes()
    assert ok(plexnet(home, "blob", "put", "-", stdin=b"from stdin")).strip().startswith("b")
    as_json = json.loads(ok(plexnet(home, "blob", "get", cid, "--json")))
    assert as_json["size"] == 100_000 and len(as_json["base64"]) > 100_000
    meta = json.loads(ok(plexnet(home, "blob", "get", cid, "-o", str(dst), "--json")))
    assert meta == {"cid": cid, "size": 100_000, "output": str(dst)}
    put = json.loads(ok(plexnet(home, "blob", "put", str(src), "--json")))
    assert put == {"cid": cid, "size": 100_000}
    assert "unsupported multibase" in fails(plexnet(home, "blob", "get", "../../etc/passwd"))
    assert "no blob" in fails(plexnet(home, "blob", "get",
                                      "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"))
    fails(plexnet(home, "blob", "put", str(tmp_path / "missing")), code=2)
    # corrupt the stored blob: get must refuse, and write nothing
    blob = next(p for p in (home / "blobs").rglob(cid))
    blob.write_bytes(b"tampered")
    assert "corrupted" in fails(plexnet(home, "blob", "get", cid))
    bad_dst = tmp_path / "bad.bin"
    assert "corrupted" in fails(plexnet(home, "blob", "get", cid, "-o", str(bad_dst)))
    assert not bad_dst.exists()


def test_ledger_head_show_prove(home):
    ok(plexnet(home, "id", "new", "alice"))
    ok(plexnet(home, "id", "new", "bob"))
    head = json.loads(ok(plexnet(home, "ledger", "head", "--json")))
    assert head["size"] == 3 and head["log_id"] == "cli-test"
    entry = json.loads(ok(plexnet(home, "ledger", "show", "1", "--json")))
    assert entry["entry"]["kind"] == "identity.register"
    listing = json.loads(ok(plexnet(home, "ledger", "show", "--kind", "identity.register",
                                    "--json")))
    assert [e["seq"] for e in listing] == [1, 2]
    proof = json.loads(ok(plexnet(home, "ledger", "prove", "1", "--json")))
    assert proof["kind"] == "inclusion" and proof["proof"]["root"] == head["root"]
    from plexnet.ledger import InclusionProof, SignedTreeHead

    InclusionProof.model_validate(proof["proof"]).verify()       # offline, from the JSON
    SignedTreeHead.model_validate(proof["tree_head"]).verify()
    cons = json.loads(ok(plexnet(home, "ledger", "prove", "--since", "1", "--json")))
    assert cons["kind"] == "consistency"
    assert "no entry 99" in fails(plexnet(home, "ledger", "show", "99"))
    assert "no entry 7" in fails(plexnet(home, "ledger", "prove", "7"))
    fails(plexnet(home, "ledger", "prove"), code=2)
    fails(plexnet(home, "ledger", "show", "--limit", "0"), code=2)


def test_verify_passes_then_names_a_tampered_row(home):
    ok(plexnet(home, "id", "new", "alice"))
    assert "ok:" in ok(plexnet(home, "ledger", "verify"))
    db = sqlite3.connect(home / "ledger.db")
    db.execute("UPDATE identities SET name = 'mallory' WHERE name = 'alice'")
    db.commit()
    db.close()
    text = fails(plexnet(home, "ledger", "verify"))
    assert "identities" in text and "mallory" in text
    report = json.loads(plexnet(home, "ledger", "verify", "--json").stdout)
    assert report["ok"] is False and report["problems"]


def test_commands_without_a_ledger_say_how_to_make_one(tmp_path):
    assert "ledger init" in fails(plexnet(tmp_path, "ledger", "head"))
    assert "ledger init" in fails(plexnet(tmp_path, "ledger", "verify"))
    out = ok(plexnet(tmp_path, "id", "new", "solo"))
    assert "not registered" in out


def test_bad_configuration_is_one_line(tmp_path):
    (tmp_path / "config.toml").write_text("this is not toml")
    text = fails(plexnet(tmp_path, "id", "list"))
    assert "not valid TOML" in text and len(text.strip().splitlines()) == 1
    (tmp_path / "config.toml").unlink()
    text = fails(plexnet(tmp_path, "--db", "mysql://x/y", "ledger", "head"))
    assert "unsupported database" in text


def test_unknown_command_is_a_usage_error(tmp_path):
    fails(plexnet(tmp_path, "frobnicate"), code=2)
    fails(plexnet(tmp_path, "ledger", "show", "not-a-number"), code=2)


def test_ledger_init_twice_is_refused(home):
    assert "already holds a ledger" in fails(plexnet(home, "ledger", "init"))


def test_demo_refuses_to_wipe_existing_state_without_fresh(home):
    text = fails(plexnet(home, "demo"))
    assert "--fresh" in text
