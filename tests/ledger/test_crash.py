"""An entry and its projection commit together or not at all, even if the process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from plexnet.core.database import connect
from plexnet.ledger import Entry, Ledger, verify_ledger
from plexnet.ledger.kinds import credits as cr
from tests.ledger.story import register


def test_failure_before_commit_leaves_nothing(ledger, cast, monkeypatch):
    register(ledger, cast.alice, cast.bob)
    ledger.append([Entry.create(cast.operator, cr.Mint(to=cast.alice.did, amount=100))])
    before = (ledger.size(), ledger.head(), ledger.rows("accounts"))

    def fail(*args, **kwargs):
        raise RuntimeError("power cut while signing the tree head")

    # everything for the batch is written by now: leaves, nodes, projections
    monkeypatch.setattr("plexnet.ledger.log.SignedTreeHead.create", fail)
    with pytest.raises(RuntimeError):
        ledger.append([Entry.create(cast.alice, cr.Transfer(to=cast.bob.did, amount=7))])
    monkeypatch.undo()
    reopened = Ledger.open(ledger.engine, cast.operator)
    assert (reopened.size(), reopened.head(), reopened.rows("accounts")) == before
    assert verify_ledger(ledger.engine).ok
    reopened.append([Entry.create(cast.alice, cr.Transfer(to=cast.bob.did, amount=7))])
    assert reopened.balance(cast.bob.did) == 7


WRITER = textwrap.dedent("""
    import sys
    from plexnet.core.database import connect
    from plexnet.core.keystore import Keystore
    from plexnet.ledger import Entry, Ledger
    from plexnet.ledger.kinds import credits as cr
    keys = Keystore(sys.argv[2])
    op, alice, bob = (keys.load(n) for n in ("operator", "alice", "bob"))
    ledger = Ledger.open(connect(sys.argv[1]), op)
    print("ready", flush=True)
    while True:
        ledger.append([Entry.create(alice, cr.Transfer(to=bob.did, amount=1))
                       for _ in range(500)])
""")


@pytest.mark.slow
def test_killed_writer_leaves_a_consistent_ledger(tmp_path):
    """SIGKILL a process in the middle of appending, several times; verify after each."""
    from plexnet.core.keystore import Keystore
    from plexnet.ledger.kinds.identity import IdentityRegister

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    keys = Keystore(tmp_path / "keys")
    op, alice, bob = (keys.create(n) for n in ("operator", "alice", "bob"))
    engine = connect(url)
    ledger = Ledger.create(engine, op)
    ledger.append([Entry.create(p, IdentityRegister(did=p.did, name=p.name))
                   for p in (alice, bob)])
    ledger.append([Entry.create(op, cr.Mint(to=alice.did, amount=10**12))])
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    sizes = []
    for delay in (0.6, 1.1, 1.7):
        proc = subprocess.Popen([sys.executable, str(script), url, str(keys.root)],
                                stdout=subprocess.PIPE, cwd=os.getcwd())
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        report = verify_ledger(engine)
        assert report.ok, report.problems
        assert (report.entries - 4) % 500 == 0  # genesis, 2 identities, a mint; whole batches
        sizes.append(report.entries)
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    engine.dispose()
