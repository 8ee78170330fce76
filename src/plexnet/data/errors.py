"""Errors of the data layer.

::

    PlexnetError                      (core/errors.py)
    └── DataError
        ├── SchemaError               records do not fit the dataset's schema
        ├── IntegrityError            stored records do not match their Merkle root
        ├── IngestError               a source file cannot be read as records
        ├── GateError                 a gate cannot run (bad threshold, missing input)
        │   └── UnknownGate           no gate is registered under that name
        └── AdmissionError            a batch cannot be admitted (unsigned, forged,
                                      not pending, over the synthetic budget)
"""

from __future__ import annotations

from plexnet.core.errors import PlexnetError

__all__ = ["AdmissionError", "DataError", "GateError", "IngestError", "IntegrityError",
           "SchemaError", "UnknownGate"]


class DataError(PlexnetError):
    """An error in the data layer."""


class SchemaError(DataError):
    """Records do not fit the dataset's schema."""


class IntegrityError(DataError):
    """Stored records no longer match the Merkle root they were published under."""


class IngestError(DataError):
    """A source (image folder, CSV, JSONL, ...) cannot be read as records."""


class GateError(DataError):
    """A gate cannot run: an unknown threshold, or input it needs is missing."""


class UnknownGate(GateError):
    """No gate is registered under that name."""


class AdmissionError(DataError):
    """A batch cannot be admitted: unsigned or forged, not pending, or over budget."""
