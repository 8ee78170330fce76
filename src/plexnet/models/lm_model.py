"""The byte-level transformer language model: its corpus, tokens, network and artifacts.

Everything needed to *use* a trained model. The training stages that make one (the
``lm.pretrain``, ``lm.sft``, ``lm.reward`` and ``lm.dpo`` task kinds) are in
:mod:`plexnet.models.lm`, which re-exports this module's public names. What is here:

* corpus — :func:`stdlib_corpus`, :func:`split_corpus`, :func:`words`,
  :func:`unigram_bits_per_byte` (the baseline a pretrained model must beat);
* tokens — :data:`SPECIALS`, :data:`VOCAB`, the special ids ``BOS EOS Q A PAD``,
  :func:`encode`, :func:`decode`;
* the network — :class:`LMConfig`, :class:`TransformerLM`, :class:`RewardModel`;
* artifacts — :func:`save_lm`, :func:`load_lm`;
* generation and scoring — :func:`prompt_ids`, :func:`exact_match` (greedy answers),
  :func:`answer_logp`.

**Corpus.** :func:`stdlib_corpus` gathers the docstrings (``inspect.getdoc``) of a fixed
list of standard-library modules and of their public functions, classes and methods, in
sorted order, as ``name\\n<docstring>\\n\\n`` entries: English prose and code examples,
available offline on every machine. The bytes depend on the Python version, so the
corpus is put in the blob store and the stages take its CID: a verifier re-runs a stage
on the same bytes. Every tenth entry goes to validation (interleaved, so both splits see
every module's style).

**Tokens.** Bytes 0-255 plus five special tokens (:data:`SPECIALS`): ``<|bos|>``,
``<|eos|>``, ``<|q|>`` (an instruction follows), ``<|a|>`` (the answer follows) and
``<|pad|>``. An instruction pair is ``<|bos|><|q|>prompt<|a|>answer<|eos|>``.
:func:`encode` reads the ``<|name|>`` markup and refuses unknown names.

**Model.** A decoder-only transformer (GPT-2 layout: pre-LayerNorm blocks, causal
self-attention through ``scaled_dot_product_attention``, a 4x GELU MLP, learned position
embeddings, the output head tied to the token embedding). Defaults: 2 layers, d_model 96,
4 heads, context 128 — 0.26 M parameters. :class:`RewardModel` is that trunk plus a scalar
head read at each sequence's last real token.

**Generation and scoring.** An instruction prompt is :func:`prompt_ids`
(``<|bos|><|q|>prompt<|a|>``). :func:`exact_match` decodes greedily, prompts of one length
batched together (so no prompt is padded), and counts an answer right when the bytes
before the first ``<|eos|>`` equal it. :func:`answer_logp` sums the log-probabilities of
an answer's tokens: log π(y) in DPO.

Artifacts are safetensors with the architecture as canonical JSON in the metadata
(``{"arch": "lm", ...}`` or ``{"arch": "lm-reward", ...}``), like ``mlp.py``'s.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plexnet.models.errors import ArtifactError, ModelError
from plexnet.models.mlp import fill_weights, read_artifact, save_artifact

# The ids Q and A are public but unlisted: ruff (RUF022) sorts one-letter names as classes,
# tests/test_public_api.py as constants, and no order satisfies both.
__all__ = [
    "BOS",
    "EOS",
    "MODULES",
    "PAD",
    "SPECIALS",
    "VOCAB",
    "LMConfig",
    "RewardModel",
    "TransformerLM",
    "answer_logp",
    "decode",
    "encode",
    "exact_match",
    "load_lm",
    "prompt_ids",
    "save_lm",
    "split_corpus",
    "stdlib_corpus",
    "unigram_bits_per_byte",
    "words",
]

SPECIALS: Final = ("bos", "eos", "q", "a", "pad")
"""Special tokens, numbered from 256 in this order."""
VOCAB: Final = 256 + len(SPECIALS)
BOS, EOS, Q, A, PAD = range(256, VOCAB)
"""The special tokens' ids, for building sequences without markup."""

MODULES: Final = (
    "argparse", "base64", "bisect", "calendar", "collections", "colorsys", "contextlib",
    "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions",
    "functools", "glob", "heapq", "html", "inspect", "io", "ipaddress", "itertools", "json",
    "logging", "math", "operator", "pathlib", "pprint", "queue", "random", "re", "shlex",
    "shutil", "statistics", "string", "struct", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "typing", "urllib.parse", "uuid", "warnings", "zipfile",
)
"""The standard-library modules whose docstrings make the default corpus."""

_SPECIAL_RE: Final = re.compile(rb"<\|([^|<>]*)\|>")
_WORD_RE: Final = re.compile(rb"\b[a-z]{3,7}\b")
_VAL_EVERY: Final = 10  # every tenth corpus entry is validation


# -- corpus and tokens -------------------------------------------------------------------

def stdlib_corpus(modules: Sequence[str] = MODULES, *, max_bytes: int = 2_000_000) -> bytes:
    """Docstrings of ``modules`` and their public members, as ``name\\n<doc>\\n\\n`` entries.

    Members are those a module defines itself (re-exports skipped), in sorted order; a
    class contributes its own methods one level down. Imports each module (standard
    library only). Stops before ``max_bytes``.

    Raises:
        ModelError: if a module cannot be imported or nothing is collected.
    """
    import importlib

    entries: list[bytes] = []
    size = 0

    def add(name: str, obj: Any) -> bool:
        nonlocal size
        with warnings.catch_warnings():  # typing.io and typing.re warn when read
            warnings.simplefilter("ignore", DeprecationWarning)
            doc = inspect.getdoc(obj)
        if not doc:
            return True
        entry = f"{name}\n{doc}\n\n".encode()
        if size + len(entry) > max_bytes:
            return False
        entries.append(entry)
        size += len(entry)
        return True

    for mod_name in modules:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            raise ModelError(f"corpus module {mod_name!r} cannot be imported") from None
        if not add(mod_name, mod):
            break
        for attr in sorted(a for a in vars(mod) if not a.startswith("_")):
            obj = vars(mod)[attr]
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != mod.__name__:
                continue
            if not add(f"{mod_name}.{attr}", obj):
                return _joined(entries)
            if inspect.isclass(obj):
                for meth in sorted(m for m in vars(obj) if not m.startswith("_")):
                    if inspect.isfunction(vars(obj)[meth]) and not add(
                            f"{mod_name}.{attr}.{meth}", vars(obj)[meth]):
                        return _joined(entries)
    return _joined(entries)


def _joined(entries: list[bytes]) -> bytes:
    if not entries:
        raise ModelError("the corpus is empty: no docstrings were collected")
    return b"".join(entries)


def split_corpus(corpus: bytes) -> tuple[bytes, bytes]:
    """(train, validation) bytes: every tenth ``\\n\\n``-separated entry is validation.

    Raises:
        ModelError: if the corpus is empty or too small to give both splits bytes.
    """
    if not corpus.strip():
        raise ModelError("the corpus is empty; pass a corpus CID with text in it")
    entries = [e + b"\n\n" for e in corpus.split(b"\n\n") if e.strip()]
    val = b"".join(e for i, e in enumerate(entries) if i % _VAL_EVERY == _VAL_EVERY - 1)
    train = b"".join(e for i, e in enumerate(entries) if i % _VAL_EVERY != _VAL_EVERY - 1)
    if not val:
        raise ModelError(f"the corpus has {len(entries)} entries; at least {_VAL_EVERY} "
                         "(separated by blank lines) are needed for a validation split")
    return train, val


def encode(text: str | bytes, *, specials: bool = True) -> list[int]:
    """Token ids of ``text``: its UTF-8 bytes, with ``<|name|>`` markup read as specials.

    Raises:
        ModelError: for markup naming no special token (see :data:`SPECIALS`).
    """
    data = text.encode() if isinstance(text, str) else bytes(text)
    if not specials:
        return list(data)
    ids: list[int] = []
    pos = 0
    for m in _SPECIAL_RE.finditer(data):
        name = m.group(1).decode(errors="replace")
        if name not in SPECIALS:
            raise ModelError(f"unknown special token <|{name}|>; known: "
                             + ", ".join(f"<|{s}|>" for s in SPECIALS))
        ids += list(data[pos:m.start()])
        ids.append(256 + SPECIALS.index(name))
        pos = m.end()
    return ids + list(data[pos:])


def decode(ids: Sequence[int]) -> str:
    """Text of token ids, specials written as ``<|name|>`` markup.

    Raises:
        ModelError: for an id outside the vocabulary.
    """
    out = bytearray()
    for i in ids:
        if not 0 <= int(i) < VOCAB:
            raise ModelError(f"token id {i} is outside the vocabulary (0..{VOCAB - 1})")
        out += bytes([i]) if i < 256 else f"<|{SPECIALS[i - 256]}|>".encode()
    return out.decode(errors="replace")


def unigram_bits_per_byte(train: bytes, val: bytes) -> float:
    """Cross-entropy of ``val`` under ``train``'s add-one smoothed byte frequencies."""
    counts = np.bincount(np.frombuffer(train, dtype=np.uint8), minlength=256) + 1.0
    logp = np.log2(counts / counts.sum())
    return float(-logp[np.frombuffer(val, dtype=np.uint8)].mean())


def words(corpus: bytes) -> list[str]:
    """The distinct lowercase words of 3-7 letters in ``corpus``, sorted."""
    return sorted({w.decode() for w in _WORD_RE.findall(corpus)})


# -- the model ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LMConfig:
    """Architecture. ``context`` in tokens; ``d_model`` must divide by ``n_head``."""

    context: int = 128
    d_model: int = 96
    n_layer: int = 2
    n_head: int = 4

    def __post_init__(self) -> None:
        for name in ("context", "d_model", "n_layer", "n_head"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ModelError(f"LMConfig.{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_head:
            raise ModelError(f"d_model {self.d_model} does not divide by n_head {self.n_head}")


class _Block(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.out = nn.Linear(4 * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        # (B, T, C) -> (B, H, T, C/H)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class TransformerLM(nn.Module):
    """(B, T) token ids -> (B, T, VOCAB) next-token logits; T <= ``config.context``."""

    arch: Final = "lm"

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        self.tok = nn.Embedding(VOCAB, config.d_model)
        self.pos = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)  # GPT-2's initialisation
                if isinstance(module, nn.Linear):
                    nn.init.zeros_(module.bias)

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, d_model) final hidden states.

        Raises:
            ModelError: if T exceeds the context.
        """
        t = ids.shape[1]
        if t > self.config.context:
            raise ModelError(f"sequence of {t} tokens exceeds the model's context of "
                             f"{self.config.context}; shorten it or train with a longer context")
        x = self.tok(ids) + self.pos(torch.arange(t))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.hidden(ids) @ self.tok.weight.T  # tied head

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class RewardModel(nn.Module):
    """A language-model trunk with a scalar head read at each sequence's last real token."""

    arch: Final = "lm-reward"

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        self.trunk = TransformerLM(config)
        self.head = nn.Linear(config.d_model, 1)

    def forward(self, ids: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and (B,) index of each row's last token -> (B,) rewards."""
        h = self.trunk.hidden(ids)  # (B, T, C)
        return self.head(h[torch.arange(len(ids)), last]).squeeze(1)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_lm(model: TransformerLM | RewardModel) -> bytes:
    """Serialize weights and architecture as safetensors bytes (deterministic).

    The tied head shares the embedding's storage, so only the embedding is stored.
    """
    return save_artifact(model, {"arch": model.arch, **asdict(model.config)})


def load_lm(data: bytes, *, arch: str | None = None) -> TransformerLM | RewardModel:
    """Rebuild a model from :func:`save_lm` bytes; ``arch`` ("lm", "lm-reward") if given
    must match.

    Raises:
        ArtifactError: if the bytes are not a plexnet language-model artifact of ``arch``.
    """
    tensors, meta = read_artifact(data)
    kind = meta.pop("arch", None)
    if kind not in ("lm", "lm-reward") or (arch is not None and kind != arch):
        raise ArtifactError(f"expected a {arch or 'lm'} artifact, got architecture {kind!r}")
    try:
        config = LMConfig(**meta)
    except (TypeError, ModelError) as exc:
        raise ArtifactError(f"bad language-model configuration: {exc}") from None
    model: TransformerLM | RewardModel = (TransformerLM if kind == "lm" else RewardModel)(config)
    fill_weights(model, tensors)
    return model


# -- generation and scoring --------------------------------------------------------------

def prompt_ids(prompt: str) -> list[int]:
    """Token ids of an instruction prompt: ``<|bos|><|q|>prompt<|a|>``, the prompt as bytes."""
    return [BOS, Q, *encode(prompt, specials=False), A]


def answer_logp(model: TransformerLM, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) summed log-probabilities of the masked (answer) targets.

    ``ids`` is (B, T) token ids; ``mask`` is (B, T-1) over the *targets* ``ids[:, 1:]``,
    1.0 where a target belongs to the answer.
    """
    logp = F.log_softmax(model(ids[:, :-1]), dim=-1)  # (B, T-1, V)
    tok = logp.gather(2, ids[:, 1:, None]).squeeze(2)
    return (tok * mask).sum(1)


@torch.no_grad()
def exact_match(model: TransformerLM, pairs: Sequence[tuple[str, str]]) -> float:
    """Share of ``pairs`` whose greedy answer (up to ``<|eos|>``) equals the answer."""
    model.eval()
    hits = 0
    by_len: dict[int, list[tuple[list[int], str]]] = {}
    for q, a in pairs:
        ids = prompt_ids(q)
        by_len.setdefault(len(ids), []).append((ids, a))
    for group in by_len.values():
        x = torch.as_tensor([ids for ids, _ in group])
        longest = max(len(a) for _, a in group) + 1
        out = []
        for _ in range(min(longest, model.config.context - x.shape[1])):
            nxt = model(x)[:, -1].argmax(-1, keepdim=True)
            out.append(nxt)
            x = torch.cat([x, nxt], 1)
        gen = torch.cat(out, 1).tolist() if out else [[] for _ in group]
        for row, (_, a) in zip(gen, group, strict=True):
            ans = row[: row.index(EOS)] if EOS in row else None
            hits += ans is not None and ans == list(a.encode())
    return hits / len(pairs)

