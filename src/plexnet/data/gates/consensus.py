"""Annotator consensus: Dawid-Skene EM over several annotators' labels, and its gate.

Dawid & Skene ("Maximum likelihood estimation of observer error-rates using the EM
algorithm", Applied Statistics 28, 1979) model each annotator ``a`` by a confusion
matrix ``π_a[c][l]`` (the probability that ``a`` says ``l`` when the truth is ``c``)
and the truth by class priors ``rho_c``. EM alternates:

* E-step: the posterior over each record's true label,
  ``T[i][c] ∝ rho_c · Π_a π_a[c][annotation_ia]`` (missing annotations skipped);
* M-step: ``rho`` and every ``π_a`` re-estimated from ``T``, Laplace-smoothed so an
  annotator who never saw a class gets a uniform row rather than a zero that would
  veto it.

It starts from the (soft) majority vote, which fixes which class is which, and
stops when no posterior moves by more than ``tol``. Unlike the majority vote, it
learns whom to trust: an annotator who labels at random gets a near-uniform
confusion matrix, and so no say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from plexnet.data.errors import GateError
from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register

if TYPE_CHECKING:
    from plexnet.data.records import Records

__all__ = ["AnnotatorConsensus", "Consensus", "dawid_skene", "majority_vote"]


@dataclass(frozen=True, eq=False)
class Consensus:
    """What Dawid-Skene concluded.

    ``posterior`` (n, k): each record's distribution over true labels; ``labels`` (n,):
    its argmax; ``confusion`` (m, k, k): annotator ``a``'s ``P(says l | truth c)`` at
    ``[a, c, l]``; ``accuracy`` (m,): each annotator's chance of being right on a
    random record, ``Σ_c rho_c π_a[c][c]``; ``agreement`` (n,): the share of a record's
    annotations that equal its consensus label (0 for a record nobody labelled);
    ``prior`` (k,): the class priors ``rho``.
    """

    posterior: np.ndarray
    labels: np.ndarray
    confusion: np.ndarray
    accuracy: np.ndarray
    agreement: np.ndarray
    prior: np.ndarray
    iterations: int
    converged: bool


def _checked(annotations: Any, n_classes: int) -> np.ndarray:
    notes = np.asarray(annotations)
    if notes.ndim != 2:
        raise GateError(f"annotations must have shape (n, m), got {notes.shape}")
    if notes.dtype.kind not in "iu":
        raise GateError(f"annotations must be integers (-1 = missing), got dtype {notes.dtype}")
    if n_classes < 2:
        raise GateError(f"n_classes must be at least 2, got {n_classes}")
    bad = np.argwhere((notes < -1) | (notes >= n_classes))
    if len(bad):
        i, a = bad[0]
        raise GateError(f"annotation {notes[i, a]} (record {i}, annotator {a}) is outside "
                        f"0..{n_classes - 1}; use -1 for a missing label")
    return notes.astype(np.int64)


def _votes(notes: np.ndarray, n_classes: int) -> np.ndarray:
    """Vote counts (n, k)."""
    votes = np.zeros((len(notes), n_classes))
    rows, annotators = np.nonzero(notes >= 0)
    np.add.at(votes, (rows, notes[rows, annotators]), 1.0)
    return votes


def majority_vote(annotations: np.ndarray, n_classes: int) -> np.ndarray:
    """The most frequent annotation of each record (ties and unlabelled records: the
    lowest class index).

    Raises:
        GateError: for malformed annotations (see :func:`dawid_skene`).
    """
    return _votes(_checked(annotations, n_classes), n_classes).argmax(axis=1)  # type: ignore[no-any-return]


def dawid_skene(annotations: np.ndarray, n_classes: int, *, smoothing: float = 1.0,
                tol: float = 1e-6, max_iter: int = 200) -> Consensus:
    """Consensus labels and annotator confusion matrices by Dawid-Skene EM.

    Args:
        annotations: ``(n, m)`` integers, annotator ``a``'s label of record ``i`` at
            ``[i, a]``, ``-1`` where it gave none.
        n_classes: ``k``, the size of the label space.
        smoothing: Laplace pseudo-count added to every confusion-matrix cell and prior
            (1.0: add-one; larger pulls sparse annotators towards uniform).
        tol: stop when no posterior probability moves by more than this.
        max_iter: stop after this many EM rounds regardless.

    Returns:
        A :class:`Consensus`. Records nobody labelled get the prior as posterior.

    Raises:
        GateError: for annotations that are not ``(n, m)`` integers in ``-1..k-1``, or a
            non-positive ``smoothing`` or ``max_iter``.
    """
    notes = _checked(annotations, n_classes)
    if smoothing <= 0 or max_iter < 1 or tol < 0:
        raise GateError("smoothing must be > 0, max_iter >= 1 and tol >= 0")
    n, m = notes.shape
    k = n_classes
    votes = _votes(notes, k)
    totals = votes.sum(axis=1, keepdims=True)
    posterior = np.where(totals > 0, votes / np.maximum(totals, 1), 1.0 / k)  # (n, k)
    # Each annotator's labelled records and what it said (m small: loop over annotators).
    said = [(np.flatnonzero(notes[:, a] >= 0), notes[notes[:, a] >= 0, a]) for a in range(m)]
    confusion = np.empty((m, k, k))
    iterations, converged = 0, False
    while iterations < max_iter:
        iterations += 1
        # M-step: priors (k,) and confusion (m, k, k) from the current posterior.
        prior = (posterior.sum(axis=0) + smoothing) / (n + k * smoothing)
        confusion.fill(smoothing)
        for a, (rows, labels) in enumerate(said):
            np.add.at(confusion[a].T, labels, posterior[rows])  # [c, l] += T[i, c]
        confusion /= confusion.sum(axis=2, keepdims=True)
        # E-step, in logs: a product of many small probabilities underflows.
        log_post = np.tile(np.log(prior), (n, 1))
        for a, (rows, labels) in enumerate(said):
            log_post[rows] += np.log(confusion[a][:, labels]).T  # (n_a, k)
        log_post -= log_post.max(axis=1, keepdims=True)
        updated = np.exp(log_post)
        updated /= updated.sum(axis=1, keepdims=True)
        change = float(np.abs(updated - posterior).max())
        posterior = updated
        if change <= tol:
            converged = True
            break
    labels = posterior.argmax(axis=1)
    agreement = np.where(totals[:, 0] > 0,
                         votes[np.arange(n), labels] / np.maximum(totals[:, 0], 1), 0.0)
    accuracy = np.einsum("c,acc->a", prior, confusion)
    return Consensus(posterior=posterior, labels=labels, confusion=confusion,
                     accuracy=accuracy, agreement=agreement, prior=prior,
                     iterations=iterations, converged=converged)


@register("annotator_consensus")
@dataclass(frozen=True)
class AnnotatorConsensus(Gate):
    """Flags batch records the annotators do not agree on, or whose label they contradict.

    Dawid-Skene runs over the dataset's annotated records and the batch's together when
    both come from the same annotators (better estimates of each annotator), else over
    the batch alone. Records without annotations get no finding.
    """

    min_posterior: float = 0.7  # consensus P(label) below this = the annotators disagree
    smoothing: float = 1.0  # Laplace pseudo-count per confusion cell (add-one)
    tol: float = 1e-6  # EM stops when no posterior moves by more than this
    max_iter: int = 200  # EM rounds at most; a few dozen suffice in practice
    action: Action = "flag"  # disagreement calls for a reviewer, not a rejection

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        if not 0 < self.min_posterior <= 1:
            raise GateError(f"min_posterior must be in (0, 1], got {self.min_posterior}")
        if batch.annotations is None or not batch.annotations.shape[1]:
            return GateResult(self.name, (), {"skipped": "the batch has no annotations"})
        pool, start = batch, 0
        together = ctx.candidates(batch)
        if together is not batch and together.annotations is not None:
            pool, start = together, ctx.offset()
        names = list(ctx.schema.labels)
        assert pool.annotations is not None
        result = dawid_skene(pool.annotations, len(names), smoothing=self.smoothing,
                             tol=self.tol, max_iter=self.max_iter)
        annotated = (batch.annotations >= 0).any(axis=1)
        findings = []
        low = differ = 0
        for i in np.flatnonzero(annotated).tolist():
            row = result.posterior[start + i]
            given, consensus = int(batch.y[i]), int(result.labels[start + i])
            problems = []
            if consensus != given:
                differ += 1
                problems.append(f"label {given} differs from the annotators' consensus "
                                f"{consensus} ({names[consensus]!r}, posterior "
                                f"{row[consensus]:.2f}; label {given} {row[given]:.2f})")
            if row[consensus] < self.min_posterior:
                low += 1
                problems.append(f"the annotators disagree: consensus {consensus} has posterior "
                                f"{row[consensus]:.2f} < {self.min_posterior}, agreement "
                                f"{result.agreement[start + i]:.0%}")
            if problems:
                findings.append(Finding(index=i, action=self.action, score=float(row[given]),
                                        reason="; ".join(problems)))
        stats = {"annotated_records": int(annotated.sum()), "pooled_records": len(pool),
                 "low_agreement": low, "label_differs": differ,
                 "annotator_accuracy": {name: round(float(acc), 4) for name, acc in zip(
                     pool.annotators, result.accuracy, strict=True)},
                 "iterations": result.iterations, "converged": result.converged}
        return GateResult(self.name, tuple(findings), stats)
