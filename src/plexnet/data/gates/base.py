"""The gate plug-in point: a gate looks at a batch and says which records to flag or reject.

To write a gate:

1. subclass :class:`Gate` as a frozen dataclass whose fields are its thresholds,
   each with a default and a comment giving its unit and why that value;
2. set ``kinds`` to the dataset kinds it can judge (``image``, ``tabular``, ``text``);
3. implement :meth:`Gate.check`: look at ``batch`` (and at ``ctx.existing``, the
   records already in the dataset, for gates that compare against them) and
   return a :class:`GateResult` listing a :class:`Finding` for every record to flag
   or reject, with a reason a contributor can act on, plus ``stats`` (JSON) that
   say what was measured;
4. decorate it with ``@register("name")``.

A gate decides; it changes nothing. ``check`` must be deterministic for a given
batch, context and seed, so anyone can re-run admission from the report and get
the same verdicts. Heavy work (training the fold models of the label-issue gate,
say) goes through ``ctx.runner`` so it can run as a compute job on the network.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from plexnet.core.blobstore import BlobStore
from plexnet.core.plugins import Registry
from plexnet.data.errors import UnknownGate
from plexnet.data.records import Records
from plexnet.data.runner import UnitRunner
from plexnet.data.schema import Schema

__all__ = ["Action", "Finding", "Gate", "GateContext", "GateResult", "gate", "register",
           "registered"]

Action = Literal["flag", "reject"]


@dataclass(frozen=True)
class Finding:
    """One record a gate objects to.

    ``index`` is the record's position in the batch; ``action`` is ``reject`` (keep
    it out) or ``flag`` (hold it for review); ``score`` is the gate's measure for
    it, in the gate's own unit; ``related`` names another record when the finding
    is about a pair (the original of a duplicate: ``batch:<i>`` or ``dataset:<i>``).
    """

    index: int
    action: Action
    reason: str
    score: float | None = None
    related: str | None = None


@dataclass(frozen=True)
class GateResult:
    """A gate's verdicts on a batch: findings, and JSON stats of what it measured."""

    gate: str
    findings: tuple[Finding, ...]
    stats: dict[str, Any] = field(default_factory=dict)

    def indices(self, action: Action | None = None) -> set[int]:
        return {f.index for f in self.findings if action is None or f.action == action}


@dataclass(frozen=True)
class GateContext:
    """What a gate may look at besides the batch.

    ``existing`` holds the records already in the dataset (the version the batch
    would extend; ``None`` for a new dataset). ``runner`` runs heavy work as task
    units (in process, or as a job on the compute network); ``blobs`` is where
    such work reads its inputs and writes its outputs. ``batch_license`` is the
    licence the contributor granted; ``dataset_license`` the dataset's own.
    ``synthetic_budget`` is the dataset's cap on the share of synthetic records
    (``None``: no cap).
    """

    schema: Schema
    existing: Records | None = None
    blobs: BlobStore | None = None
    runner: UnitRunner | None = None
    batch_license: str | None = None
    dataset_license: str | None = None
    synthetic_budget: float | None = None
    seed: int = 0

    def candidates(self, batch: Records) -> Records:
        """The existing records followed by the batch (batch record i is at
        ``len(existing) + i``)."""
        if self.existing is None or not len(self.existing):
            return batch
        return Records.concat([self.existing, batch])

    def offset(self) -> int:
        """Where the batch starts in :meth:`candidates`."""
        return 0 if self.existing is None else len(self.existing)

    def reference(self, batch: Records, min_reference: int) -> tuple[Records, bool]:
        """What a batch is judged against: the existing records when there are at least
        ``min_reference`` of them (trusted, already admitted), else :meth:`candidates`;
        and whether it is the existing records alone."""
        own = self.existing is not None and len(self.existing) >= min_reference
        return (self.existing if own and self.existing is not None
                else self.candidates(batch)), own


class Gate(ABC):
    """Base class of admission gates; see the module docstring."""

    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]] = frozenset({"image", "tabular", "text"})

    @abstractmethod
    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        """Judge ``batch``; see the module docstring."""

    def params(self) -> dict[str, Any]:
        """The gate's thresholds, as recorded in the gate report."""
        if dataclasses.is_dataclass(self):
            return dataclasses.asdict(self)
        return {}

    def applies_to(self, schema: Schema) -> bool:
        return schema.kind in self.kinds


def _unknown(name: str) -> UnknownGate:
    known = ", ".join(_GATES.names()) or "none"
    return UnknownGate(f"unknown gate {name!r}; registered: {known}")


_GATES: Registry[type[Gate]] = Registry("gate", "name", _unknown)
register = _GATES.register
"""Class decorator: ``@register("near_duplicates")`` makes the class that gate."""


def registered() -> list[str]:
    """Names of the registered gates."""
    return _GATES.names()


def gate(name: str, **params: Any) -> Gate:
    """A gate by name, with thresholds overriding its defaults.

    Raises:
        UnknownGate: for a name no gate is registered under.
        GateError: for a threshold the gate does not have.
    """
    cls = _GATES.get(name)
    try:
        return cls(**params)
    except TypeError as exc:
        from plexnet.data.errors import GateError

        raise GateError(f"gate {name!r}: {exc}") from None
