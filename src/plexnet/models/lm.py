"""The State-of-GPT training stages of the byte-level LM, as compute task kinds, at toy scale.

The model they train — corpus, tokens, the transformer, its artifacts, greedy generation
and answer scoring — is in :mod:`plexnet.models.lm_model`. Here: the stage parameters and
their defaults, compute accounting (:func:`count_flops`), the instruction and preference
pairs, the four stage functions (:func:`pretrain`, :func:`sft`, :func:`train_reward`,
:func:`dpo`) and their task kinds. This module re-exports every public name of
``lm_model``, so ``from plexnet.models.lm import ...`` gives the whole API.

The four stages of the usual assistant recipe (Karpathy, "State of GPT", 2023), each a
registered compute task kind whose inputs and outputs are CIDs in the blob store:

* ``lm.pretrain`` (inputs: corpus) — next-byte prediction on a text corpus. Reports the
  validation bits per byte against a unigram baseline (the byte frequencies of the
  training split, add-one smoothed): a model that beats it has learnt context.
* ``lm.sft`` (inputs: pretrained model, corpus) — supervised fine-tuning on instruction
  pairs with known answers, built from the corpus's words: ``upper: json -> JSON`` and
  ``reverse: json -> nosj``. The loss is on the answer bytes (and the end token) only.
  Reports greedy exact match on held-out words before and after.
* ``lm.reward`` (inputs: SFT model, corpus) — a reward model: the SFT trunk plus a scalar
  head read at the end token, trained with the Bradley-Terry loss
  ``-log sigmoid(r(chosen) - r(rejected))`` on preference pairs whose preference is known (the
  correct answer over a corrupted one: a byte replaced, dropped or swapped, or the answer
  left undone). Reports pairwise accuracy on held-out pairs (chance is 0.5).
* ``lm.dpo`` (inputs: SFT model, corpus) — Direct Preference Optimization (Rafailov et
  al., 2023) with the SFT model as the frozen reference::

      loss = -log sigmoid(β·((log π(c) - log π_ref(c)) - (log π(r) - log π_ref(r))))

  where log π(y) sums the answer tokens' log-probabilities. Reports the policy's
  chosen-minus-rejected log-likelihood margin and preference accuracy before (policy =
  reference) and after, and the implicit reward margin ``β·(...)`` after.

**Training.** With the default model (2 layers, d_model 96, 4 heads, context 128 — 0.26 M
parameters), 2000 pretraining steps of 16 x 128 bytes (4.1 M tokens) took 214 s on one
shared CPU core and reached 2.23 bits per byte on validation against the unigram 4.78
(``bench/models_lm.py``). SFT's default learning rate, 3e-3 in
the benchmark, is the fastest that learnt: with a 64-wide model, ``upper`` reached exact
match 0.02 after 400 steps, 0.22 after 500 and 0.83 after 800 (1e-2 did not learn in 400);
copying a word at an offset that depends on its length needs an induction-like circuit,
which appears abruptly. Reward (200 steps) and DPO (100 steps, beta 0.1, lr 2e-4) start
from a model that already knows the task and need few steps. Every stage seeds torch
and a numpy generator and uses ``threads`` intra-op threads (default 1, one reduction
order), so the same inputs and seed give the same artifact bytes.

**Compute accounting.** Every stage reports N (``params``), D (``tokens``: positions
through the model, padding included), ``flops_estimate`` = 6·N·D, and ``flops_measured``:
``torch.utils.flop_counter.FlopCounterMode`` on the first training step (forward and
backward; every step has the same shapes, so one step times ``steps`` is exact). PyTorch
2.13 does not count the CPU flash-attention kernel, so :func:`count_flops` maps it to
PyTorch's own SDPA formulas (the full T x T scores, causal masking not discounted).
6·N·D leaves attention's T-dependent work out and counts the position embedding, which
costs no multiplies; their ratio is reported. DPO's measured FLOPs include the frozen
reference's forward pass, which 6·N·D does not. ``wall_s`` is the stage's wall time and
``cost_usd`` = wall_s x ``price_per_device_hour`` / 3600 (default 0.05 USD, a typical
on-demand price of one cloud vCPU-hour; the stage runs on one core). ``wall_s`` and
``cost_usd`` are the only metrics that differ between re-runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plexnet.compute.task import TaskContext, TaskKind, TaskResult, register
from plexnet.models.errors import ModelError
from plexnet.models.lm_model import (
    BOS,
    EOS,
    MODULES,
    PAD,
    SPECIALS,
    VOCAB,
    LMConfig,
    RewardModel,
    TransformerLM,
    answer_logp,
    decode,
    encode,
    exact_match,
    load_lm,
    prompt_ids,
    save_lm,
    split_corpus,
    stdlib_corpus,
    unigram_bits_per_byte,
    words,
)
from plexnet.models.lm_model import A as A  # Q and A: public, not in any __all__
from plexnet.models.lm_model import Q as Q

__all__ = [  # this module's names and lm_model's
    "BOS", "DPO_DEFAULTS", "EOS", "MODULES", "PAD", "PRETRAIN_DEFAULTS", "REWARD_DEFAULTS",
    "SFT_DEFAULTS", "SPECIALS", "VOCAB", "DPOTraining", "LMConfig", "Pretraining", "RewardModel",
    "RewardTraining", "SFTTraining", "TransformerLM", "answer_logp", "count_flops", "decode",
    "dpo", "encode", "exact_match", "instruction_pairs", "load_lm", "preference_pairs", "pretrain",
    "prompt_ids", "save_lm", "sft", "split_corpus", "stdlib_corpus", "train_reward",
    "unigram_bits_per_byte", "words",
]


# -- compute accounting ------------------------------------------------------------------

def _cpu_sdpa_mapping() -> dict[Any, Callable[..., int]]:
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten

    def fwd(q: Any, k: Any, v: Any, *args: Any, out_shape: Any = None, **kw: Any) -> int:
        return sdpa_flop_count(q, k, v)

    def bwd(g: Any, q: Any, k: Any, v: Any, *args: Any, out_shape: Any = None,
            **kw: Any) -> int:
        return sdpa_backward_flop_count(g, q, k, v)

    return {aten._scaled_dot_product_flash_attention_for_cpu: fwd,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: bwd}


def count_flops(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn`` under ``FlopCounterMode`` (CPU attention counted); its result and FLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, custom_mapping=_cpu_sdpa_mapping()) as counter:
        result = fn()
    return result, int(counter.get_total_flops())


class _Run:
    """Steps, tokens and FLOPs of one stage's training loop, and its wall clock."""

    def __init__(self, n_params: int, price_per_device_hour: float) -> None:
        self.n_params = n_params
        self.price = price_per_device_hour
        self.start = time.perf_counter()
        self.steps = 0
        self.tokens = 0
        self.step_flops = 0

    def step(self, fn: Callable[[], torch.Tensor], tokens: int) -> float:
        """Run one step (``fn`` returns the loss after backward); count the first's FLOPs."""
        if self.steps == 0:
            loss, self.step_flops = count_flops(fn)
        else:
            loss = fn()
        self.steps += 1
        self.tokens += tokens
        return float(loss.item())

    def metrics(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.start
        estimate = 6 * self.n_params * self.tokens
        measured = self.step_flops * self.steps
        return {"params": self.n_params, "tokens": self.tokens, "steps": self.steps,
                "flops_estimate": estimate, "flops_measured": measured,
                "flops_ratio": round(measured / estimate, 4) if estimate else None,
                "wall_s": round(wall, 3), "cost_usd": round(wall * self.price / 3600, 8)}


# -- parameters --------------------------------------------------------------------------

_COMMON: Final[dict[str, Any]] = {"seed": 0, "threads": 1, "price_per_device_hour": 0.05}
PRETRAIN_DEFAULTS: Final[dict[str, Any]] = {
    **_COMMON, "context": 128, "d_model": 96, "n_layer": 2, "n_head": 4,
    "steps": 2000, "batch_size": 16, "lr": 3e-3, "eval_windows": 64}
_PAIRS: Final[dict[str, Any]] = {"tasks": ["upper", "reverse"], "pair_seed": 0,
                                 "n_eval": 64, "steps": 400, "batch_size": 32}
SFT_DEFAULTS: Final[dict[str, Any]] = {**_COMMON, **_PAIRS, "steps": 1200, "lr": 3e-3}
REWARD_DEFAULTS: Final[dict[str, Any]] = {**_COMMON, **_PAIRS, "steps": 200, "lr": 5e-4}
DPO_DEFAULTS: Final[dict[str, Any]] = {**_COMMON, **_PAIRS, "steps": 100, "lr": 2e-4,
                                       "beta": 0.1}


def _params(stage: str, defaults: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    unknown = set(params) - set(defaults)
    if unknown:
        raise ModelError(f"unknown {stage} parameters: {sorted(unknown)}; "
                         f"known: {sorted(defaults)}")
    p = {**defaults, **params}
    for name in ("steps", "batch_size", "threads"):
        if int(p[name]) < 1:
            raise ModelError(f"{stage} parameter {name} must be at least 1, got {p[name]}")
    return p


def _seed(p: dict[str, Any]) -> np.random.Generator:
    torch.manual_seed(int(p["seed"]))
    torch.set_num_threads(int(p["threads"]))  # determinism: a fixed reduction order
    return np.random.default_rng(int(p["seed"]))


# -- pretraining -------------------------------------------------------------------------

@torch.no_grad()
def _bits_per_byte(model: TransformerLM, data: np.ndarray, windows: int) -> float:
    t = model.config.context
    n = min(windows, (len(data) - 1) // t)
    if n < 1:
        raise ModelError(f"the validation split ({len(data)} bytes) is shorter than one "
                         f"context window of {t + 1} bytes; use a larger corpus")
    x = torch.as_tensor(data[: n * t + 1].astype(np.int64))
    inp, tgt = x[:-1].view(n, t), x[1:].view(n, t)
    model.eval()
    loss = F.cross_entropy(model(inp).reshape(-1, VOCAB), tgt.reshape(-1))
    return float(loss) / math.log(2)


def pretrain(corpus: bytes, params: dict[str, Any]) -> tuple[TransformerLM, dict[str, Any]]:
    """Train a fresh model on next-byte prediction over ``corpus``; it and its metrics.

    Raises:
        ModelError: for unknown parameters, a bad architecture, or a corpus too small.
    """
    p = _params("lm.pretrain", PRETRAIN_DEFAULTS, params)
    rng = _seed(p)
    train_b, val_b = split_corpus(corpus)
    config = LMConfig(int(p["context"]), int(p["d_model"]), int(p["n_layer"]), int(p["n_head"]))
    train = np.frombuffer(train_b, dtype=np.uint8)
    val = np.frombuffer(val_b, dtype=np.uint8)
    t, batch = config.context, int(p["batch_size"])
    if len(train) <= t + 1:
        raise ModelError(f"the training split ({len(train)} bytes) is shorter than one "
                         f"context window of {t + 1} bytes; use a larger corpus")
    model = TransformerLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=float(p["lr"]), weight_decay=0.01,
                            betas=(0.9, 0.95))
    steps = int(p["steps"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(steps))
    windows = int(p["eval_windows"])
    bpb_init = _bits_per_byte(model, val, windows)
    run = _Run(model.num_parameters(), float(p["price_per_device_hour"]))
    offsets = np.arange(t + 1)
    model.train()
    last = float("nan")
    for _ in range(steps):
        starts = rng.integers(0, len(train) - t - 1, size=batch)
        x = torch.as_tensor(train[starts[:, None] + offsets].astype(np.int64))  # (B, T+1)

        def step(x: torch.Tensor = x) -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(model(x[:, :-1]).reshape(-1, VOCAB), x[:, 1:].reshape(-1))
            loss.backward()
            return loss

        last = run.step(step, batch * t)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    model.eval()
    metrics = {**run.metrics(), "final_loss": round(last, 5),
               "train_bytes": len(train), "val_bytes": len(val),
               "val_bpb_init": round(bpb_init, 4),
               "val_bpb": round(_bits_per_byte(model, val, windows), 4),
               "unigram_bpb": round(unigram_bits_per_byte(train_b, val_b), 4)}
    return model, metrics


def _warmup_cosine(steps: int) -> Callable[[int], float]:
    warm = max(1, steps // 20)  # 5 % linear warm-up, then cosine down to a tenth

    def factor(i: int) -> float:
        if i < warm:
            return (i + 1) / warm
        return 0.1 + 0.45 * (1 + math.cos(math.pi * (i - warm) / max(1, steps - warm)))

    return factor


# -- instruction and preference pairs ----------------------------------------------------

_TASKS: Final[dict[str, Callable[[str], str]]] = {"upper": str.upper,
                                                  "reverse": lambda w: w[::-1]}


def _split_words(corpus: bytes, pair_seed: int, n_eval: int) -> tuple[list[str], list[str]]:
    vocab = words(corpus)
    if len(vocab) < n_eval + 8:
        raise ModelError(f"the corpus has {len(vocab)} distinct words of 3-7 letters; "
                         f"need more than {n_eval + 8} for instruction pairs")
    order = np.random.default_rng(pair_seed).permutation(len(vocab))
    picked = [vocab[i] for i in order]
    return picked[n_eval:], picked[:n_eval]


def instruction_pairs(corpus: bytes, tasks: Sequence[str], *, pair_seed: int = 0,
                      n_eval: int = 64) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, held-out) (prompt, answer) pairs over ``corpus``'s words; held-out words
    (``n_eval`` of them, chosen by ``pair_seed``) never appear in training pairs.

    Raises:
        ModelError: for an unknown task or too few words.
    """
    bad = [t for t in tasks if t not in _TASKS]
    if bad or not tasks:
        raise ModelError(f"unknown or no instruction tasks {bad}; known: {sorted(_TASKS)}")
    train_w, eval_w = _split_words(corpus, pair_seed, n_eval)

    def pairs(ws: list[str]) -> list[tuple[str, str]]:
        return [(f"{t}: {w}", _TASKS[t](w)) for w in ws for t in tasks]

    return pairs(train_w), pairs(eval_w)


def _corrupt(answer: str, prompt: str, rng: np.random.Generator) -> str:
    """A wrong answer near the right one (known to be worse)."""
    word = prompt.split(": ", 1)[1]
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(8):
        kind = int(rng.integers(4))
        i = int(rng.integers(len(answer)))
        if kind == 0:  # one byte replaced
            ch = letters[int(rng.integers(26))]
            ch = ch.upper() if answer[i].isupper() else ch
            bad = answer[:i] + ch + answer[i + 1:]
        elif kind == 1:  # one byte dropped
            bad = answer[:i] + answer[i + 1:]
        elif kind == 2:  # two neighbours swapped
            j = min(i + 1, len(answer) - 1)
            bad = answer[:min(i, j - 1)] + answer[j] + answer[j - 1] + answer[j + 1:] \
                if j > 0 else answer
        else:  # the task left undone
            bad = word
        if bad != answer:
            return bad
    return answer + "x"


def preference_pairs(pairs: Sequence[tuple[str, str]], seed: int
                     ) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) triples: the correct answer over a corrupted one."""
    rng = np.random.default_rng(seed)
    return [(q, a, _corrupt(a, q, rng)) for q, a in pairs]


def _batch(seqs: Sequence[tuple[list[int], list[int]]], length: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (B, length) ids, (B, length-1) answer mask over the *targets*, and
    (B,) index of each row's last token. Causal attention makes right padding harmless."""
    ids = torch.full((len(seqs), length), PAD, dtype=torch.long)
    mask = torch.zeros((len(seqs), length - 1))
    last = torch.zeros(len(seqs), dtype=torch.long)
    for r, (prompt, answer) in enumerate(seqs):
        row = prompt + answer
        ids[r, : len(row)] = torch.as_tensor(row)
        mask[r, len(prompt) - 1 : len(row) - 1] = 1.0  # targets = answer tokens + <|eos|>
        last[r] = len(row) - 1
    return ids, mask, last


def _encode_pairs(pairs: Sequence[tuple[str, str]], context: int
                  ) -> list[tuple[list[int], list[int]]]:
    out = [(prompt_ids(q), [*encode(a, specials=False), EOS]) for q, a in pairs]
    longest = max(len(q) + len(a) for q, a in out)
    if longest > context:
        raise ModelError(f"an instruction pair of {longest} tokens exceeds the model's context "
                         f"of {context}; use shorter pairs or a longer context")
    return out


# -- supervised fine-tuning --------------------------------------------------------------

def _load_policy(data: bytes) -> TransformerLM:
    model = load_lm(data, arch="lm")
    assert isinstance(model, TransformerLM)
    return model


def sft(model: TransformerLM, corpus: bytes, params: dict[str, Any]
        ) -> tuple[TransformerLM, dict[str, Any]]:
    """Fine-tune ``model`` (in place) on instruction pairs; it and its metrics.

    Raises:
        ModelError: for unknown parameters, tasks, or pairs longer than the context.
    """
    p = _params("lm.sft", SFT_DEFAULTS, params)
    rng = _seed(p)
    train, held = instruction_pairs(corpus, p["tasks"], pair_seed=int(p["pair_seed"]),
                                    n_eval=int(p["n_eval"]))
    enc = _encode_pairs(train + held, model.config.context)[: len(train)]
    length = max(len(q) + len(a) for q, a in enc)  # one shape for every step
    em_before = exact_match(model, held)
    opt = torch.optim.AdamW(model.parameters(), lr=float(p["lr"]), weight_decay=0.0)
    run = _Run(model.num_parameters(), float(p["price_per_device_hour"]))
    batch = int(p["batch_size"])
    model.train()
    last = float("nan")
    for _ in range(int(p["steps"])):
        ids, mask, _ = _batch([enc[i] for i in rng.integers(0, len(enc), size=batch)], length)

        def step(ids: torch.Tensor = ids, mask: torch.Tensor = mask) -> torch.Tensor:
            opt.zero_grad()
            logits = model(ids[:, :-1])
            tok = F.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1),
                                  reduction="none").view_as(mask)
            loss = (tok * mask).sum() / mask.sum()  # answer tokens only
            loss.backward()
            return loss

        last = run.step(step, batch * (length - 1))
        opt.step()
    model.eval()
    return model, {**run.metrics(), "final_loss": round(last, 5), "pairs": len(train),
                   "held_out_pairs": len(held), "exact_match_before": round(em_before, 4),
                   "exact_match": round(exact_match(model, held), 4)}


# -- reward model ------------------------------------------------------------------------

def _pref_batches(corpus: bytes, p: dict[str, Any], context: int
                  ) -> tuple[list[tuple[list[int], list[int], list[int]]],
                             list[tuple[list[int], list[int], list[int]]], int]:
    train, held = instruction_pairs(corpus, p["tasks"], pair_seed=int(p["pair_seed"]),
                                    n_eval=int(p["n_eval"]))
    # The held-out triples' corruptions come from a fixed stream, the training ones' from
    # the stage's seed: every stage and seed is scored on the same held-out triples.
    prefs = preference_pairs(train, int(p["seed"]) + 1) + preference_pairs(held, 0)
    flat = [(q, c) for q, c, _ in prefs] + [(q, r) for q, _, r in prefs]
    enc = _encode_pairs(flat, context)
    n = len(prefs)
    triples = [(enc[i][0], enc[i][1], enc[n + i][1]) for i in range(n)]
    length = max(len(q) + len(a) for q, a in enc)
    return triples[: len(train)], triples[len(train):], length


def _pair_tensors(triples: Sequence[tuple[list[int], list[int], list[int]]], length: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Chosen rows then rejected rows, as :func:`_batch` gives them."""
    seqs = [(q, c) for q, c, _ in triples] + [(q, r) for q, _, r in triples]
    return _batch(seqs, length)


@torch.no_grad()
def _reward_accuracy(rm: RewardModel, triples: Sequence[Any], length: int) -> float:
    rm.eval()
    ids, _, last = _pair_tensors(triples, length)
    r = rm(ids, last)
    n = len(triples)
    return _share_positive(r[:n] - r[n:])


def _share_positive(margin: torch.Tensor) -> float:
    """Share of positive margins, a tie counting half (chance is 0.5)."""
    return float(((margin > 0).float() + 0.5 * (margin == 0).float()).mean())


def train_reward(policy: TransformerLM, corpus: bytes, params: dict[str, Any]
                 ) -> tuple[RewardModel, dict[str, Any]]:
    """A reward model with ``policy``'s weights as its trunk, trained with the
    Bradley-Terry loss on preference pairs; it and its metrics.

    Raises:
        ModelError: for unknown parameters, tasks, or pairs longer than the context.
    """
    p = _params("lm.reward", REWARD_DEFAULTS, params)
    rng = _seed(p)
    rm = RewardModel(policy.config)
    rm.trunk.load_state_dict(policy.state_dict())
    train, held, length = _pref_batches(corpus, p, policy.config.context)
    acc_before = _reward_accuracy(rm, held, length)
    opt = torch.optim.AdamW(rm.parameters(), lr=float(p["lr"]), weight_decay=0.0)
    run = _Run(rm.num_parameters(), float(p["price_per_device_hour"]))
    batch = int(p["batch_size"])
    rm.train()
    last = float("nan")
    for _ in range(int(p["steps"])):
        ids, _, ends = _pair_tensors([train[i] for i in rng.integers(0, len(train), batch)],
                                     length)

        def step(ids: torch.Tensor = ids, ends: torch.Tensor = ends) -> torch.Tensor:
            opt.zero_grad()
            r = rm(ids, ends)
            loss = -F.logsigmoid(r[:batch] - r[batch:]).mean()  # Bradley-Terry
            loss.backward()
            return loss

        last = run.step(step, 2 * batch * length)
        opt.step()
    rm.eval()
    return rm, {**run.metrics(), "final_loss": round(last, 5), "pairs": len(train),
                "held_out_pairs": len(held), "pairwise_accuracy_before": round(acc_before, 4),
                "pairwise_accuracy": round(_reward_accuracy(rm, held, length), 4)}


# -- direct preference optimization ------------------------------------------------------

@torch.no_grad()
def _margins(policy: TransformerLM, ref: TransformerLM, triples: Sequence[Any], length: int,
             beta: float) -> dict[str, float]:
    policy.eval()
    ids, mask, _ = _pair_tensors(triples, length)
    n = len(triples)
    lp, lr = answer_logp(policy, ids, mask), answer_logp(ref, ids, mask)
    margin = lp[:n] - lp[n:]  # log π(c) - log π(r)
    reward = beta * ((lp[:n] - lr[:n]) - (lp[n:] - lr[n:]))
    return {"logp_margin": round(float(margin.mean()), 4),
            "policy_accuracy": round(_share_positive(margin), 4),
            "reward_margin": round(float(reward.mean()), 4),
            "reward_accuracy": round(_share_positive(reward), 4)}


def dpo(policy: TransformerLM, corpus: bytes, params: dict[str, Any]
        ) -> tuple[TransformerLM, dict[str, Any]]:
    """DPO of ``policy`` (in place) against a frozen copy of itself; it and its metrics.

    Raises:
        ModelError: for unknown parameters, tasks, or pairs longer than the context.
    """
    p = _params("lm.dpo", DPO_DEFAULTS, params)
    rng = _seed(p)
    beta = float(p["beta"])
    ref = TransformerLM(policy.config)
    ref.load_state_dict(policy.state_dict())
    ref.eval().requires_grad_(False)
    train, held, length = _pref_batches(corpus, p, policy.config.context)
    before = _margins(policy, ref, held, length, beta)
    em_before = exact_match(policy, _held_pairs(corpus, p))
    opt = torch.optim.AdamW(policy.parameters(), lr=float(p["lr"]), weight_decay=0.0)
    run = _Run(policy.num_parameters(), float(p["price_per_device_hour"]))
    batch = int(p["batch_size"])
    policy.train()
    last = float("nan")
    for _ in range(int(p["steps"])):
        ids, mask, _ = _pair_tensors([train[i] for i in rng.integers(0, len(train), batch)],
                                     length)

        def step(ids: torch.Tensor = ids, mask: torch.Tensor = mask) -> torch.Tensor:
            opt.zero_grad()
            with torch.no_grad():
                lr = answer_logp(ref, ids, mask)
            lp = answer_logp(policy, ids, mask)
            z = beta * ((lp[:batch] - lr[:batch]) - (lp[batch:] - lr[batch:]))
            loss = -F.logsigmoid(z).mean()
            loss.backward()
            return loss

        last = run.step(step, 2 * batch * (length - 1))
        opt.step()
    policy.eval()
    after = _margins(policy, ref, held, length, beta)
    return policy, {
        **run.metrics(), "final_loss": round(last, 5), "beta": beta, "pairs": len(train),
        "held_out_pairs": len(held),
        **{f"{k}_before": v for k, v in before.items()}, **after,
        "exact_match_before": round(em_before, 4),
        "exact_match": round(exact_match(policy, _held_pairs(corpus, p)), 4)}


def _held_pairs(corpus: bytes, p: dict[str, Any]) -> list[tuple[str, str]]:
    return instruction_pairs(corpus, p["tasks"], pair_seed=int(p["pair_seed"]),
                             n_eval=int(p["n_eval"]))[1]


# -- task kinds --------------------------------------------------------------------------

def _inputs(kind: str, inputs: list[str], names: tuple[str, ...]) -> None:
    if len(inputs) != len(names):
        raise ModelError(f"{kind} takes {len(names)} input(s): " + ", ".join(names)
                         + f" CIDs; got {len(inputs)}")


@register("lm.pretrain")
class Pretraining(TaskKind):
    """Pretrain a byte-level transformer on the corpus named by the single input."""

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        _inputs("lm.pretrain", inputs, ("corpus",))
        model, metrics = pretrain(ctx.blobs.get(inputs[0]), params)
        return TaskResult(outputs={"model": ctx.blobs.put(save_lm(model))}, metrics=metrics)


@register("lm.sft")
class SFTTraining(TaskKind):
    """Fine-tune a pretrained model (input 0) on instruction pairs from a corpus (input 1)."""

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        _inputs("lm.sft", inputs, ("model", "corpus"))
        model = _load_policy(ctx.blobs.get(inputs[0]))
        model, metrics = sft(model, ctx.blobs.get(inputs[1]), params)
        return TaskResult(outputs={"model": ctx.blobs.put(save_lm(model))}, metrics=metrics)


@register("lm.reward")
class RewardTraining(TaskKind):
    """Train a reward model from an SFT model (input 0) on a corpus's preference pairs."""

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        _inputs("lm.reward", inputs, ("model", "corpus"))
        policy = _load_policy(ctx.blobs.get(inputs[0]))
        rm, metrics = train_reward(policy, ctx.blobs.get(inputs[1]), params)
        return TaskResult(outputs={"reward_model": ctx.blobs.put(save_lm(rm))}, metrics=metrics)


@register("lm.dpo")
class DPOTraining(TaskKind):
    """DPO of an SFT model (input 0, also the reference) on a corpus's preference pairs."""

    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        _inputs("lm.dpo", inputs, ("model", "corpus"))
        policy = _load_policy(ctx.blobs.get(inputs[0]))
        policy, metrics = dpo(policy, ctx.blobs.get(inputs[1]), params)
        return TaskResult(outputs={"model": ctx.blobs.put(save_lm(policy))}, metrics=metrics)
