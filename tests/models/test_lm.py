"""The byte-level LM stages: each learns on known-answer data, is reproducible, refuses bad input.

One small pipeline (pretrain -> SFT -> reward model, DPO) runs once through the registered
task kinds and a real blob store, and the tests read its metrics and artifacts. The model
itself (tokens, artifacts, scoring) is tested in test_lm_model.py.
"""

from __future__ import annotations

import pytest
import torch

from plexnet.compute.task import TaskContext, load_task
from plexnet.core.blobstore import LocalBlobStore
from plexnet.models import ModelError, lm, lm_model
from plexnet.models.lm import instruction_pairs, preference_pairs, pretrain, sft
from plexnet.models.lm_model import (
    LMConfig,
    RewardModel,
    TransformerLM,
    encode,
    load_lm,
    save_lm,
    stdlib_corpus,
)

ARCH = {"context": 64, "d_model": 64, "n_layer": 2, "n_head": 4}
TASKS = ["upper"]


@pytest.fixture(scope="module")
def corpus() -> bytes:
    return stdlib_corpus()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, corpus):
    """CIDs and metrics of each stage, run as compute tasks (about 35 s on one core)."""
    blobs = LocalBlobStore(tmp_path_factory.mktemp("blobs"))
    ctx = TaskContext(blobs=blobs, provider="p0", job_id="job")
    corpus_cid = blobs.put(corpus)
    out = {"blobs": blobs, "corpus": corpus_cid}
    pre = load_task("lm.pretrain").run(ctx, [corpus_cid], {**ARCH, "steps": 200})
    out["pretrain"] = pre
    tuned = load_task("lm.sft").run(ctx, [pre.outputs["model"], corpus_cid],
                                    {"tasks": TASKS, "steps": 500, "lr": 3e-3})
    out["sft"] = tuned
    sft_cid = tuned.outputs["model"]
    out["reward"] = load_task("lm.reward").run(ctx, [sft_cid, corpus_cid],
                                               {"tasks": TASKS, "steps": 60})
    out["dpo"] = load_task("lm.dpo").run(ctx, [sft_cid, corpus_cid],
                                         {"tasks": TASKS, "steps": 30})
    return out


def test_pretraining_beats_the_unigram_baseline(pipeline):
    m = pipeline["pretrain"].metrics
    assert m["val_bpb_init"] > 7.5  # near-uniform over 261 tokens at initialisation
    assert m["val_bpb"] < m["unigram_bpb"] - 0.2, m


@pytest.mark.parametrize("stage", ["pretrain", "sft", "reward", "dpo"])
def test_every_stage_reports_compute(pipeline, stage):
    m = pipeline[stage].metrics
    assert m["flops_estimate"] == 6 * m["params"] * m["tokens"]
    assert m["flops_measured"] > 0 and m["flops_measured"] % m["steps"] == 0
    # the measured count includes attention and (for DPO) the reference's forward pass
    assert 0.7 < m["flops_ratio"] < 1.6, m
    assert m["wall_s"] > 0 and m["cost_usd"] > 0


def test_sft_learns_the_instruction_task(pipeline):
    m = pipeline["sft"].metrics
    assert m["exact_match_before"] == 0.0  # the pretrained model does not know the format
    assert m["exact_match"] >= 0.1, m
    assert m["held_out_pairs"] == 64


def test_reward_model_ranks_held_out_pairs(pipeline):
    m = pipeline["reward"].metrics
    assert m["pairwise_accuracy"] >= 0.7, m
    rm = load_lm(pipeline["blobs"].get(pipeline["reward"].outputs["reward_model"]))
    assert isinstance(rm, RewardModel)


def test_dpo_raises_the_chosen_over_rejected_margin(pipeline):
    m = pipeline["dpo"].metrics
    assert m["reward_margin_before"] == 0.0 and m["reward_accuracy_before"] == 0.5
    assert m["logp_margin"] > m["logp_margin_before"], m
    assert m["reward_margin"] > 0 and m["reward_accuracy"] >= 0.7, m


def test_same_seed_same_bytes(corpus):
    params = {"context": 32, "d_model": 32, "n_layer": 1, "n_head": 2, "steps": 5}
    a, _ = pretrain(corpus, params)
    b, _ = pretrain(corpus, params)
    c, _ = pretrain(corpus, {**params, "seed": 1})
    assert save_lm(a) == save_lm(b) != save_lm(c)
    again = load_lm(save_lm(a))
    x = torch.as_tensor([encode("def f():")])
    assert torch.equal(a(x), again(x))


def test_preference_pairs_are_known_answers(corpus):
    train, held = instruction_pairs(corpus, ["upper", "reverse"], n_eval=16)
    assert {q.split(": ")[1] for q, _ in train}.isdisjoint({q.split(": ")[1] for q, _ in held})
    assert all(a == q.split(": ")[1].upper() for q, a in held if q.startswith("upper"))
    for q, chosen, rejected in preference_pairs(held, seed=0):
        assert rejected != chosen and len(chosen) == len(q.split(": ")[1])


def test_empty_corpus_is_refused():
    with pytest.raises(ModelError, match="empty"):
        pretrain(b"", {"steps": 1})
    with pytest.raises(ModelError, match="empty"):
        stdlib_corpus([])


def test_pairs_longer_than_the_context_are_refused(corpus):
    model = TransformerLM(LMConfig(context=16, d_model=16, n_layer=1, n_head=2))
    with pytest.raises(ModelError, match="exceeds the model's context"):
        sft(model, corpus, {"steps": 1})  # "reverse: abcdefg" pairs need 26 tokens


def test_bad_parameters_and_inputs_are_refused(corpus, tmp_path):
    with pytest.raises(ModelError, match=r"unknown lm\.pretrain parameters"):
        pretrain(corpus, {"stepz": 3})
    with pytest.raises(ModelError, match="does not divide"):
        LMConfig(d_model=10, n_head=4)
    with pytest.raises(ModelError, match="unknown or no instruction tasks"):
        instruction_pairs(corpus, ["translate"])
    ctx = TaskContext(blobs=LocalBlobStore(tmp_path), provider="p0", job_id="j")
    with pytest.raises(ModelError, match="takes 2 input"):
        load_task("lm.sft").run(ctx, ["a"], {})


def test_lm_still_exports_the_model_api():
    """The stages module re-exports lm_model's names: old imports from lm keep working."""
    for name in [*lm_model.__all__, "A", "Q"]:
        assert getattr(lm, name) is getattr(lm_model, name), name
