"""Errors of the model layer.

::

    PlexnetError                      (core/errors.py)
    └── ModelError
        ├── ArtifactError             a model file is malformed or not what it claims
        └── DeployError               no provider fits a serving target, or a placed
                                      server did not start or stopped answering
"""

from __future__ import annotations

from plexnet.core.errors import PlexnetError

__all__ = ["ArtifactError", "DeployError", "ModelError"]


class ModelError(PlexnetError):
    """An error in the model layer."""


class ArtifactError(ModelError):
    """A model artifact is malformed or does not match its declared architecture."""


class DeployError(ModelError):
    """A model server could not be placed on a provider, or did not come up there."""
