"""The byte-level LM itself: corpus, tokens, the network's contract, artifacts and scoring.

No training here (the stages are in test_lm.py): an untrained model is enough to check
shapes, refusals, byte-identical artifacts and what the scoring helpers sum.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from plexnet.models import ArtifactError, ModelError
from plexnet.models.lm_model import (
    EOS,
    SPECIALS,
    VOCAB,
    LMConfig,
    RewardModel,
    TransformerLM,
    answer_logp,
    decode,
    encode,
    load_lm,
    prompt_ids,
    save_lm,
    split_corpus,
    stdlib_corpus,
)

TINY = LMConfig(context=16, d_model=16, n_layer=1, n_head=2)


def test_corpus_is_deterministic_and_split():
    corpus = stdlib_corpus()
    assert stdlib_corpus() == corpus
    assert b"json.dumps\nSerialize" in corpus
    train, val = split_corpus(corpus)
    assert len(val) > 0.05 * len(corpus) and len(train) + len(val) <= len(corpus)
    assert val not in train


def test_tokens_round_trip():
    ids = encode("<|bos|><|q|>upper: abc<|a|>ABC<|eos|>")
    assert ids[:2] == [256, 258] and ids[-1] == EOS and max(ids) < VOCAB
    assert decode(ids) == "<|bos|><|q|>upper: abc<|a|>ABC<|eos|>"
    assert encode("é") == [0xC3, 0xA9]  # bytes, not characters
    assert encode("<|eos|>", specials=False) == list(b"<|eos|>")
    assert len(SPECIALS) == VOCAB - 256


def test_unknown_special_tokens_are_refused():
    with pytest.raises(ModelError, match=r"unknown special token <\|user\|>"):
        encode("<|user|>hello")
    with pytest.raises(ModelError, match="outside the vocabulary"):
        decode([VOCAB])


def test_context_too_long_is_refused():
    model = TransformerLM(TINY)
    assert model(torch.zeros((2, 16), dtype=torch.long)).shape == (2, 16, VOCAB)
    with pytest.raises(ModelError, match="exceeds the model's context"):
        model(torch.zeros((1, 17), dtype=torch.long))


def test_artifacts_round_trip_byte_for_byte():
    torch.manual_seed(0)
    lm, rm = TransformerLM(TINY), RewardModel(TINY)
    x = torch.as_tensor([encode("def f():")])
    for model in (lm, rm):
        data = save_lm(model)
        again = load_lm(data, arch=model.arch)
        assert type(again) is type(model) and save_lm(again) == data
    assert torch.equal(lm(x), load_lm(save_lm(lm))(x))
    last = torch.as_tensor([x.shape[1] - 1])
    assert torch.equal(rm(x, last), load_lm(save_lm(rm))(x, last))


def test_bad_artifacts_are_refused():
    for data in (b"", b"garbage"):
        with pytest.raises(ArtifactError):
            load_lm(data)
    rm = save_lm(RewardModel(LMConfig(context=8, d_model=8, n_layer=1, n_head=2)))
    with pytest.raises(ArtifactError, match="expected a lm artifact"):
        load_lm(rm, arch="lm")


def test_answer_logp_sums_only_the_answer_tokens():
    assert prompt_ids("upper: ab") == encode("<|bos|><|q|>upper: ab<|a|>")
    torch.manual_seed(0)
    model = TransformerLM(TINY).eval()
    prompt, answer = prompt_ids("upper: ab"), [*b"AB", EOS]
    ids = torch.as_tensor([prompt + answer])
    mask = torch.zeros((1, ids.shape[1] - 1))
    mask[0, len(prompt) - 1:] = 1.0  # the targets that are answer tokens
    with torch.no_grad():
        got = answer_logp(model, ids, mask)
        logits = model(ids[:, :-1])[0]
        nothing = answer_logp(model, ids, torch.zeros_like(mask))
    # the same sum, one answer token at a time: logits[i - 1] predict token i
    n = ids.shape[1]
    want = sum(F.log_softmax(logits[i - 1], -1)[ids[0, i]] for i in range(len(prompt), n))
    assert got.shape == (1,) and torch.allclose(got, want.reshape(1))
    assert float(nothing) == 0.0
