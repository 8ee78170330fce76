"""Task kinds: the only code a job can run. No code arrives over the network.

A task kind is a class in plexnet (or an operator-installed plug-in) that turns
input blobs and parameters into output blobs and metrics. To add one, subclass
:class:`TaskKind`, set ``name`` (dotted, e.g. ``train.supervised``), implement
``run``, and decorate the class with :func:`register`. The compute layer knows
nothing of what a task does: it looks the kind up by name on the provider's node,
importing the module that registered it, and runs it there.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from plexnet.compute.errors import UnknownTask
from plexnet.core.blobstore import BlobStore
from plexnet.core.plugins import Registry

__all__ = ["TaskContext", "TaskKind", "TaskResult", "load_task", "register", "registered"]


@dataclass(frozen=True)
class TaskContext:
    """What a running task may use: the blob store, where it runs, and which piece it is.

    ``unit`` of ``units`` is the shard (parallel jobs) or worker rank (coupled jobs);
    ``attempt`` numbers the tries at that unit (a replica is another attempt).
    Outputs must depend only on inputs, params and ``unit``, never on ``attempt``
    or ``provider``: replicas are compared byte for byte.
    """

    blobs: BlobStore
    provider: str
    job_id: str
    unit: int = 0
    units: int = 1
    attempt: int = 0


@dataclass(frozen=True)
class TaskResult:
    """Outputs (name -> CID, all already in the blob store) and metrics (JSON values)."""

    outputs: dict[str, str]
    metrics: dict[str, Any] = field(default_factory=dict)


class TaskKind(ABC):
    """Base class of task kinds; see the module docstring."""

    name: ClassVar[str]

    @abstractmethod
    def run(self, ctx: TaskContext, inputs: list[str], params: dict[str, Any]) -> TaskResult:
        """Do the work. Must be deterministic for given inputs, params and seed."""


def _unknown(name: str) -> UnknownTask:
    known = ", ".join(_TASKS.names()) or "none"
    return UnknownTask(f"unknown task kind {name!r}; registered: {known}")


_TASKS: Registry[type[TaskKind]] = Registry("task kind", "name", _unknown)
register = _TASKS.register
"""Class decorator: ``@register("train.supervised")`` makes the class that task kind."""


def registered() -> dict[str, str]:
    """Registered task kinds and the modules that define them."""
    return _TASKS.modules()


def load_task(name: str, module: str | None = None) -> TaskKind:
    """An instance of task kind ``name``, importing ``module`` first if it is not known yet.

    ``module`` comes from the coordinator's own registry (:func:`registered`), never
    from a job spec: a spec names a kind, and only kinds installed here can run.

    Raises:
        UnknownTask: if no such kind is registered (even after the import).
    """
    if name not in _TASKS and module is not None:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            raise UnknownTask(f"task module {module!r} is not installed on this node") from None
    return _TASKS.get(name)()
