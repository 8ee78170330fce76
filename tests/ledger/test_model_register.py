"""model.register: what the ledger checks of a model card and its lineage."""

from __future__ import annotations

import pytest

from plexnet.core import canonical
from plexnet.core.cid import cid_for
from plexnet.core.database import connect
from plexnet.core.identity import Identity
from plexnet.ledger import Entry, EntryRejected, Ledger
from plexnet.ledger.kinds import models as md
from tests.ledger.story import Cast, story


@pytest.fixture
def told(tmp_path):
    cast = Cast(*(Identity.generate(n) for n in ("operator", "alice", "bob", "carol")))
    ledger = Ledger.create(connect(f"sqlite:///{tmp_path / 'l.db'}"), cast.operator)
    ids = story(ledger, cast)
    return ledger, cast, ids


def _register(ledger, who, model_id, artifact, *, tier=None, parents=(), job_id=None,
              artifacts=None, dataset=None, root=None):
    card = md.ModelCard(tier=tier, artifacts=artifacts or {})
    lineage = md.Lineage(parents=list(parents), job_id=job_id, dataset=dataset,
                         dataset_root=root)
    ledger.append([Entry.create(who, md.ModelRegister(model_id=model_id, artifact_cid=artifact,
                                                      lineage=lineage, card=card))])
    return ledger.row("models", model_id)


def test_the_ledger_derives_the_receipts_that_attest_the_artifact(told):
    ledger, _cast, ids = told
    row = ledger.row("models", "digits-mlp")
    # bob's accepted result of unit 0 and carol's agreeing replica both list it
    seqs = canonical.loads(row["receipts"])
    assert len(seqs) == 2
    outputs = [ledger.get(s).entry.body["outputs"] for s in seqs]
    assert all(ids["artifact"] in o for o in outputs)
    signers = {ledger.get(s).entry.signer for s in seqs}
    assert signers == {_cast.bob.did, _cast.carol.did}
    assert canonical.loads(row["card"])["tier"] == "L0"


def test_tiers_only_specialise_along_a_chain(told):
    ledger, cast, _ids = told
    a, b = cid_for(b"industry"), cid_for(b"vertical")
    assert _register(ledger, cast.alice, "industry", a, tier="L1", parents=["digits-mlp"])
    assert _register(ledger, cast.alice, "vertical", b, tier="L2", parents=["industry"])
    with pytest.raises(EntryRejected, match="more general than parent 'vertical'"):
        _register(ledger, cast.alice, "back-to-general", cid_for(b"x"), tier="L0",
                  parents=["vertical"])
    # a distilled student of an L1 teacher may stay L1
    assert _register(ledger, cast.alice, "student", cid_for(b"s"), tier="L1",
                     parents=["industry"])


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"job_id": "job-1", "artifact": cid_for(b"never produced")}, "no verified result"),
    ({"job_id": "job-2"}, "no verified results"),
    ({"job_id": "no-such-job"}, "job"),
    ({"parents": ["ghost"]}, "parent model"),
    ({"dataset": "digits@1", "root": "ef" * 32}, "does not match the published root"),
    ({"dataset": "digits@9"}, "dataset version"),
    ({"artifacts": {"onnx": "SAME"}}, "must not repeat the artifact"),
])
def test_a_bad_lineage_or_card_is_refused_and_nothing_is_written(told, kwargs, why):
    ledger, cast, _ids = told
    artifact = kwargs.pop("artifact", cid_for(b"new model"))
    if kwargs.get("artifacts") == {"onnx": "SAME"}:
        kwargs["artifacts"] = {"onnx": artifact}
    size = ledger.size()
    with pytest.raises(EntryRejected, match=why):
        _register(ledger, cast.alice, "bad", artifact, **kwargs)
    assert ledger.size() == size
    assert ledger.row("models", "bad") is None


def test_the_model_id_is_taken_once(told):
    ledger, cast, _ids = told
    with pytest.raises(EntryRejected, match="already registered"):
        _register(ledger, cast.alice, "digits-mlp", cid_for(b"other"))


def test_a_card_with_a_bad_format_name_or_tier_does_not_parse():
    with pytest.raises(ValueError):
        md.ModelCard(tier="L3")
    with pytest.raises(ValueError):
        md.ModelCard(artifacts={"ONNX file": cid_for(b"x")})


def test_verify_model_names_what_holds_and_what_does_not(told, tmp_path):
    from plexnet.core.blobstore import LocalBlobStore
    from plexnet.models.lineage import verify_model

    ledger, _cast, _ids = told
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put(b"model weights")  # the story's artifact: bytes, but not a model artifact
    checks = {c.check: c for c in verify_model(ledger, blobs, "digits-mlp")}
    assert checks["entry"].ok and "signed tree" in checks["entry"].detail
    assert checks["receipts"].ok and "2 signed receipt(s)" in checks["receipts"].detail
    assert checks["dataset"].ok
    # the story's job was submitted without inputs: nothing shows it read digits@1
    assert not checks["inputs"].ok and "is a manifest with digits@1's root" in (
        checks["inputs"].detail)
    assert not checks["artifact"].ok and "not a" in checks["artifact"].detail
    assert not checks["format:onnx"].ok  # that blob is not in the store


def test_verify_model_refuses_a_parent_the_job_never_read(told, tmp_path):
    from plexnet.core.blobstore import LocalBlobStore
    from plexnet.models.lineage import verify_model

    ledger, cast, ids = told
    # job-1 produced the artifact, but it read no model: claiming digits-mlp as the
    # starting point is a lineage the job's own inputs contradict
    _register(ledger, cast.alice, "claims-a-parent", ids["artifact"], tier="L1",
              parents=["digits-mlp"], job_id="job-1")
    checks = verify_model(ledger, LocalBlobStore(tmp_path / "blobs"), "claims-a-parent")
    inputs = next(c for c in checks if c.model_id == "claims-a-parent" and c.check == "inputs")
    assert not inputs.ok and inputs.detail == "job job-1 did not read parent digits-mlp's artifact"


def test_registering_from_a_job_needs_a_verified_job_that_made_a_model(told, tmp_path):
    from plexnet.core.blobstore import LocalBlobStore
    from plexnet.ledger import NotFound
    from plexnet.models import ModelError
    from plexnet.models.registry import register_from_job

    ledger, cast, _ids = told
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put(b"model weights")  # job-1's output: bytes, but not a model artifact
    with pytest.raises(ModelError, match="no output of job 'job-1' is a model artifact"):
        register_from_job(ledger, blobs, cast.alice, "m", "job-1")
    with pytest.raises(ModelError, match="'job-2' is settled with no verified result"):
        register_from_job(ledger, blobs, cast.alice, "m", "job-2")
    with pytest.raises(NotFound, match="no job 'ghost'"):
        register_from_job(ledger, blobs, cast.alice, "m", "ghost")
