"""Errors of the compute layer.

::

    PlexnetError                      (core/errors.py)
    └── ComputeError
        ├── UnknownTask               no task kind of that name is registered
        ├── PlacementError            no provider can take the job (names the binding constraint)
        └── ExecutionError            the job failed or its provider vanished
"""

from __future__ import annotations

from plexnet.core.errors import PlexnetError

__all__ = ["ComputeError", "ExecutionError", "PlacementError", "UnknownTask"]


class ComputeError(PlexnetError):
    """An error in the compute layer."""


class UnknownTask(ComputeError):
    """No task kind of the requested name is registered."""


class PlacementError(ComputeError):
    """No provider satisfies the job's requirements; the message says which one binds."""


class ExecutionError(ComputeError):
    """A job failed while running, or its provider vanished."""
