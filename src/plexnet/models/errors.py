"""Errors of the model layer.

::

    PlexnetError                      (core/errors.py)
    └── ModelError
        └── ArtifactError             a model file is malformed or not what it claims
"""

from __future__ import annotations

from plexnet.core.errors import PlexnetError

__all__ = ["ArtifactError", "ModelError"]


class ModelError(PlexnetError):
    """An error in the model layer."""


class ArtifactError(ModelError):
    """A model artifact is malformed or does not match its declared architecture."""
