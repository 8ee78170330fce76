"""The ledger contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.ledger import (
    Entry,
    EntryRejected,
    Ledger,
    LedgerError,
    NotFound,
    ProofError,
    verify_ledger,
)
from plexnet.ledger.kinds import credits as cr
from plexnet.ledger.kinds import jobs as jb
from plexnet.ledger.kinds.identity import IdentityRegister
from tests.ledger.story import register, story


def test_genesis_and_first_head(ledger, cast):
    assert ledger.size() == 1
    head = ledger.head()
    head.verify(cast.operator.did)
    assert head.size == 1 and head.log_id == "test-log"
    genesis = ledger.get(0).entry
    assert genesis.kind == "ledger.genesis" and genesis.signer == cast.operator.did


def test_open_existing_and_refuse_wrong_operator(ledger, database_url, cast):
    engine = connect(database_url)
    again = Ledger.open(engine)
    assert again.log_id == "test-log" and again.size() == 1
    with pytest.raises(LedgerError, match="not this ledger's operator"):
        Ledger.open(engine, cast.alice)
    with pytest.raises(LedgerError, match="operator's key"):
        again.append([Entry.create(cast.alice, IdentityRegister(did=cast.alice.did, name="a"))])
    with pytest.raises(LedgerError, match="already holds a ledger"):
        Ledger.create(engine, cast.operator)
    engine.dispose()


def test_open_empty_database_says_how_to_create(tmp_path):
    with pytest.raises(NotFound, match="ledger init"):
        Ledger.open(connect(f"sqlite:///{tmp_path / 'empty.db'}"))


def test_story_balances_and_projections(ledger, cast):
    ids = story(ledger, cast)
    alice, bob, carol = cast.alice.did, cast.bob.did, cast.carol.did
    assert ledger.balance(alice) == cr.micro(100 - 1 - 25 + 10 + 1 - 3 + 3)
    assert ledger.balance(bob) == cr.micro(10 - 5 + 10)
    assert ledger.balance(carol) == cr.micro(10 + 1 - 5 + 5)
    assert ledger.balance("escrow:stake-bob") == cr.micro(5)
    assert ledger.balance("escrow:stake-carol") == cr.micro(4)
    assert ledger.balance("escrow:job-1") == ledger.balance("escrow:job-2") == 0
    total = sum(r["balance"] for r in ledger.rows("accounts"))
    assert total == cr.micro(120)  # everything minted, nothing more
    assert ledger.row("jobs", "job-1")["status"] == "settled"
    assert ledger.row("jobs", "job-2")["status"] == "settled"
    assert ledger.row("escrows", "job-1")["status"] == "closed"
    paid = ledger.row("attempts", "job-1/0/1")
    assert paid["verdict"] == "ok" and paid["paid_seq"] is not None
    caught = ledger.row("attempts", "job-1/1/1")
    assert caught["verdict"] == "bad" and caught["paid_seq"] is None
    assert ledger.row("attempts", "job-2/0/0")["status"] == "lost"
    assert (ledger.row("providers", carol)["verified_ok"],
            ledger.row("providers", carol)["verified_bad"]) == (1, 1)
    assert ledger.row("providers", bob)["status"] == "left"
    assert ledger.row("datasets", "digits@1")["records"] == 10
    assert ledger.row("contributions", ids["batch"])["included_in"] == "digits@1"
    assert ledger.row("models", "digits-mlp")["artifact_cid"] == ids["artifact"]
    report = verify_ledger(ledger.engine)
    assert report.ok, report.problems
    assert report.entries == ledger.size() and report.minted == cr.micro(120)


def test_every_head_is_signed_and_consistent_with_every_later_one(ledger, cast):
    story(ledger, cast)
    heads = ledger.tree_heads()
    assert [h.size for h in heads] == sorted({h.size for h in heads})
    for h in heads:
        h.verify(cast.operator.did)
    for old in heads:
        for new in heads:
            if old.size <= new.size:
                proof = ledger.consistency_proof(old.size, new.size)
                assert (proof.old_root, proof.new_root) == (old.root, new.root)
                proof.verify()


def test_inclusion_proofs_for_every_entry_at_every_head(ledger, cast):
    story(ledger, cast)
    for head in ledger.tree_heads():
        for seq in range(head.size):
            proof = ledger.inclusion_proof(seq, head.size)
            assert proof.root == head.root
            assert proof.leaf_hash == ledger.get(seq).leaf_hash.hex()
            proof.verify()


def test_proofs_reject_bad_requests(ledger):
    with pytest.raises(NotFound):
        ledger.inclusion_proof(5)
    with pytest.raises(NotFound):
        ledger.consistency_proof(0)
    with pytest.raises(NotFound):
        ledger.consistency_proof(1, 99)
    proof = ledger.inclusion_proof(0)
    tampered = proof.model_copy(update={"leaf_hash": "00" * 32})
    with pytest.raises(ProofError):
        tampered.verify()


def test_proofs_read_a_constant_number_of_rows_sets(ledger, cast):
    """Proofs come from stored nodes: a fixed number of queries, whatever the size."""
    register(ledger, cast.alice, cast.bob)
    ledger.append([Entry.create(cast.operator, cr.Mint(to=cast.alice.did, amount=10**9))])
    ledger.append([Entry.create(cast.alice, cr.Transfer(to=cast.bob.did, amount=1))
                   for _ in range(1500)])
    statements: list[str] = []
    event.listen(ledger.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    ledger.inclusion_proof(777)
    ledger.consistency_proof(1000)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # log_state, then entries IN (...) and nodes IN (...), per proof
    assert len(selects) <= 6, selects
    rows_asked = sum(s.count("?") + s.count("%(") for s in selects)
    assert rows_asked <= 4 * ledger.size().bit_length(), rows_asked  # O(log n), not O(n)


def test_replayed_entry_is_rejected(ledger, cast):
    register(ledger, cast.alice, cast.bob)
    mint = Entry.create(cast.operator, cr.Mint(to=cast.alice.did, amount=5))
    seq = ledger.append_one(mint)
    with pytest.raises(EntryRejected, match=f"replayed.*entry {seq}"):
        ledger.append_one(Entry.from_bytes(mint.to_bytes()))
    with pytest.raises(EntryRejected, match="twice"):
        transfer = Entry.create(cast.alice, cr.Transfer(to=cast.bob.did, amount=1))
        ledger.append([transfer, transfer])
    assert ledger.balance(cast.alice.did) == 5


def test_unknown_signer_is_rejected(ledger, cast):
    with pytest.raises(EntryRejected, match="unknown signer"):
        ledger.append_one(Entry.create(cast.alice, jb.ProviderRegister(profile={})))


def test_forged_signature_is_rejected(ledger, cast):
    register(ledger, cast.alice, cast.bob)
    honest = Entry.create(cast.operator, cr.Mint(to=cast.alice.did, amount=5))
    forged = Entry(**{**honest.model_dump(), "body": {**honest.body, "amount": 5_000_000}})
    with pytest.raises(EntryRejected, match="forged"):
        ledger.append_one(forged)
    # the same body signed by someone who is not the operator
    mallory = Entry.create(cast.alice, cr.Mint(to=cast.alice.did, amount=5))
    with pytest.raises(EntryRejected, match="only the ledger operator"):
        ledger.append_one(mallory)
    # a signature claimed for another DID
    stolen = Entry(**{**honest.model_dump(), "signer": cast.bob.did})
    with pytest.raises(EntryRejected, match="forged"):
        ledger.append_one(stolen)
    from plexnet.core import canonical

    for sig in ("", "A" * 86 + '"', None):
        wire = canonical.dumps({**honest.model_dump(), "sig": sig})
        with pytest.raises(EntryRejected, match="malformed entry: sig"):
            Entry.from_bytes(wire)
    unsigned = canonical.dumps({k: v for k, v in honest.model_dump().items() if k != "sig"})
    with pytest.raises(EntryRejected, match="sig"):
        Entry.from_bytes(unsigned)


def test_batches_are_atomic(ledger, cast):
    register(ledger, cast.alice, cast.bob)
    size = ledger.size()
    good = Entry.create(cast.operator, cr.Mint(to=cast.alice.did, amount=5))
    bad = Entry.create(cast.alice, cr.Transfer(to=cast.bob.did, amount=6))  # only 5 minted
    with pytest.raises(EntryRejected, match="entry 2 of 2: insufficient funds"):
        ledger.append([good, bad])
    assert ledger.size() == size and ledger.balance(cast.alice.did) == 0
    assert ledger.head().size == size
    ledger.append([good])  # the good entry was not consumed by the failed batch
    assert verify_ledger(ledger.engine).ok


RULES = [
    "transfer-unregistered", "transfer-self", "escrow-twice", "release-by-stranger",
    "release-too-much", "slash-by-payer", "place-unknown-provider", "place-missing-unit",
    "receipt-by-stranger", "receipt-twice", "replica-by-same-provider", "pay-unverified",
    "pay-wrong-amount", "pay-other-provider", "settle-before-verify", "complete-by-requester",
    "slash-without-bad-evidence", "publish-v2-first", "mint-to-unknown",
]


@pytest.mark.parametrize("case", RULES)
def test_business_rules(ledger, cast, case):
    from plexnet.core.cid import cid_for
    from plexnet.ledger.kinds import datasets as ds

    op, alice, bob, carol = cast.operator, cast.alice, cast.bob, cast.carol
    register(ledger, alice, bob)
    e = Entry.create

    def attempt(unit, n, who, purpose="primary"):
        return jb.AttemptSpec(unit=unit, attempt=n, provider=who.did, purpose=purpose,
                              price_micro=10)

    ledger.append([e(op, cr.Mint(to=alice.did, amount=100)),
                   e(op, cr.Mint(to=bob.did, amount=100)),
                   e(bob, cr.Escrow(escrow_id="stake", amount=50, arbiter=op.did)),
                   e(bob, jb.ProviderRegister(profile={})),
                   e(alice, cr.Escrow(escrow_id="x", amount=50, arbiter=op.did)),
                   e(alice, jb.JobSubmit(job_id="j", task="t.k", spec={}, escrow_id="x",
                                         units=1)),
                   e(alice, jb.JobSubmit(job_id="j2", task="t.k", spec={}, escrow_id="x",
                                         units=1)),
                   e(op, jb.JobPlace(job_id="j2", attempts=[attempt(0, 0, bob)])),
                   e(bob, jb.JobReceipt(job_id="j2", inputs=[], outputs=[cid_for(b"o")])),
                   e(op, jb.JobComplete(job_id="j2",
                                        results=[jb.UnitResult(unit=0, attempt=0)]))])
    receipt = e(bob, jb.JobReceipt(job_id="j2", inputs=[], outputs=[cid_for(b"o")]))
    bad = {
        "transfer-unregistered": e(alice, cr.Transfer(to=carol.did, amount=1)),
        "transfer-self": e(alice, cr.Transfer(to=alice.did, amount=1)),
        "escrow-twice": e(alice, cr.Escrow(escrow_id="x", amount=1, arbiter=op.did)),
        "release-by-stranger": e(bob, cr.Release(escrow_id="x", to=bob.did, amount=1)),
        "release-too-much": e(alice, cr.Release(escrow_id="x", to=bob.did, amount=51)),
        "slash-by-payer": e(alice, cr.Slash(escrow_id="x", to=bob.did, amount=1, reason="r")),
        "place-unknown-provider": e(alice, jb.JobPlace(job_id="j",
                                                       attempts=[attempt(0, 0, alice)])),
        "place-missing-unit": e(alice, jb.JobPlace(job_id="j", attempts=[attempt(1, 0, bob)])),
        "receipt-by-stranger": e(alice, jb.JobReceipt(job_id="j2", inputs=[],
                                                      outputs=[cid_for(b"x")])),
        "receipt-twice": receipt,
        "replica-by-same-provider": e(op, jb.JobAssign(job_id="j2", attempts=[
            attempt(0, 1, bob, "replica")])),
        "pay-unverified": e(op, cr.Release(escrow_id="x", to=bob.did, amount=10,
                                           attempts=["j2/0/0"])),
        "pay-wrong-amount": e(op, cr.Release(escrow_id="x", to=bob.did, amount=11,
                                             attempts=["j2/0/0"])),
        "pay-other-provider": e(op, cr.Release(escrow_id="x", to=alice.did, amount=10,
                                               attempts=["j2/0/0"])),
        "settle-before-verify": e(alice, jb.JobSettle(job_id="j2")),
        "complete-by-requester": e(alice, jb.JobComplete(
            job_id="j", results=[jb.UnitResult(unit=0, attempt=0)])),
        "slash-without-bad-evidence": e(op, cr.Slash(escrow_id="stake", to=alice.did,
                                                     amount=1, reason="r", attempt="j2/0/0")),
        "publish-v2-first": e(alice, ds.DatasetPublish(name="d", version=2,
                                                       manifest_cid=cid_for(b"m"),
                                                       root="00" * 32, records=0)),
        "mint-to-unknown": e(op, cr.Mint(to=carol.did, amount=1)),
    }[case]
    size = ledger.size()
    with pytest.raises(EntryRejected):
        ledger.append_one(bad)
    assert ledger.size() == size


def test_paying_twice_is_refused(ledger, cast):
    from plexnet.core.cid import cid_for

    op, alice, bob = cast.operator, cast.alice, cast.bob
    register(ledger, alice, bob)
    e = Entry.create
    ledger.append([
        e(op, cr.Mint(to=alice.did, amount=100)), e(bob, jb.ProviderRegister(profile={})),
        e(alice, cr.Escrow(escrow_id="x", amount=50, arbiter=op.did)),
        e(alice, jb.JobSubmit(job_id="j", task="t.k", spec={}, escrow_id="x")),
        e(op, jb.JobPlace(job_id="j", attempts=[jb.AttemptSpec(
            unit=0, attempt=0, provider=bob.did, purpose="primary", price_micro=10)])),
        e(bob, jb.JobReceipt(job_id="j", inputs=[], outputs=[cid_for(b"o")])),
        e(op, jb.JobComplete(job_id="j", results=[jb.UnitResult(unit=0, attempt=0)])),
        e(op, jb.JobVerify(job_id="j", verdicts=[jb.Verdict(unit=0, attempt=0,
                                                            verdict="accepted")])),
        e(op, cr.Release(escrow_id="x", to=bob.did, amount=10, attempts=["j/0/0"])),
    ])
    with pytest.raises(EntryRejected, match="already paid"):
        ledger.append_one(e(op, cr.Release(escrow_id="x", to=bob.did, amount=10,
                                           attempts=["j/0/0"])))
    assert ledger.balance(bob.did) == 10


def test_concurrent_writers_serialize(database_url, cast):
    engine = connect(database_url)
    Ledger.create(engine, cast.operator)
    people = [Identity.generate(f"p{i}") for i in range(4)]
    errors: list[BaseException] = []

    def work(person: Identity) -> None:
        try:
            mine = Ledger.open(connect(database_url), cast.operator)
            mine.append_one(Entry.create(person, IdentityRegister(did=person.did,
                                                                  name=person.name)))
            for _ in range(10):
                mine.append([Entry.create(cast.operator, cr.Mint(to=person.did, amount=1))])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    ledger = Ledger.open(engine)
    assert ledger.size() == 1 + 4 * 11
    report = verify_ledger(engine)
    assert report.ok, report.problems
    engine.dispose()
