"""A small convolutional classifier for single-channel images, with the MLP's interface.

:class:`CNN` takes what :class:`~plexnet.models.mlp.MLP` takes: raw features, one
flat row of ``h·w`` pixel values per record, standardised by the fixed ``mean`` and
``scale`` buffers (length ``h·w``, learned from the training data and stored with
the weights). Only after that first affine step is each row reshaped to a
``(1, h, w)`` image, inside ``forward``. So everything that feeds an MLP feeds a CNN
unchanged: ``infer.batch``, the HTTP server, distillation (as a teacher), the
promotion gate, the router and ONNX export (the reshape is part of the graph, whose
input stays ``(batch, h·w)``).

The body: for each width in ``channels`` a 3x3 convolution (padding 1, so the size
is kept) and a ReLU, then a 2x2 max-pool while the shorter side is still at least 4
pixels (an 8x8 digit goes 8 -> 4 -> 2; a pool below 4 would leave one pixel, or
none, of a 3x3 neighbourhood); then a dense layer of ``hidden`` units with a ReLU
and a linear layer to ``n_out`` logits. No batch normalisation: a model whose
output depends on the rest of its training batch cannot be trained with DP-SGD's
per-example gradients, and would need a train/eval switch the MLP does not have.

The artifact is the MLP's format (:func:`~plexnet.models.mlp.save_artifact`) with
the architecture ``{"arch": "cnn", "in": 64, "shape": [8, 8], "channels": [16, 32],
"hidden": 64, "out": 10}`` in its metadata;
:func:`~plexnet.models.mlp.load_classifier` rebuilds either architecture from it.
Deterministic on CPU with one intra-op thread, as the MLP is: the convolutions then
reduce in one fixed order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from plexnet.models.errors import ArtifactError, ModelError
from plexnet.models.mlp import load_arch, save_artifact

__all__ = ["CNN", "cnn_from_config", "image_shape", "load_cnn", "save_cnn"]


def image_shape(shape: Sequence[int], n_in: int) -> tuple[int, int]:
    """``(h, w)`` of a single-channel image shape (``[h, w]`` or ``[h, w, 1]``) that
    must hold ``n_in`` features.

    Raises:
        ModelError: for another rank, several channels or ``h·w != n_in``.
    """
    dims = [int(s) for s in shape]
    if len(dims) == 3 and dims[2] == 1:
        dims = dims[:2]
    if len(dims) != 2 or min(dims) < 1:
        raise ModelError(f"the CNN takes single-channel images of shape [h, w]; got {list(shape)}"
                         "; train an MLP (arch 'mlp') on other data")
    if dims[0] * dims[1] != n_in:
        raise ModelError(f"an image of shape {dims} holds {dims[0] * dims[1]} values but the "
                         f"records have {n_in} features")
    return dims[0], dims[1]


class CNN(nn.Module):
    """(B, h·w) raw features -> (B, out) logits, through convolutions on (B, 1, h, w)."""

    def __init__(self, n_in: int, shape: Sequence[int], channels: Sequence[int], hidden: int,
                 n_out: int) -> None:
        """Build the layers; the standardisation starts as the identity.

        Args:
            n_in: features per record, ``h·w``.
            shape: ``[h, w]`` (or ``[h, w, 1]``) of the images.
            channels: the width of each convolution, in order.
            hidden: the width of the dense layer.
            n_out: classes.

        Raises:
            ModelError: for a shape that does not hold ``n_in`` values or widths below 1.
        """
        super().__init__()
        h, w = image_shape(shape, n_in)
        if not channels or min(int(c) for c in channels) < 1 or int(hidden) < 1 or n_out < 1:
            raise ModelError(f"the CNN needs positive widths: channels {list(channels)}, "
                             f"hidden {hidden}, out {n_out}")
        self.config: dict[str, Any] = {"arch": "cnn", "in": n_in, "shape": [h, w],
                                       "channels": [int(c) for c in channels],
                                       "hidden": int(hidden), "out": n_out}
        # Standardisation learned from training data, stored with the weights (as the MLP's).
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("scale", torch.ones(n_in))
        layers: list[nn.Module] = []
        width = 1
        for c in self.config["channels"]:
            layers += [nn.Conv2d(width, c, kernel_size=3, padding=1), nn.ReLU()]
            if min(h, w) >= 4:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            width = c
        layers += [nn.Flatten(), nn.Linear(width * h * w, int(hidden)), nn.ReLU(),
                   nn.Linear(int(hidden), n_out)]
        self.net = nn.Sequential(*layers)
        self._image = tuple(self.config["shape"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.scale  # (B, h*w)
        return self.net(z.unflatten(1, (1, *self._image)))  # (B, 1, h, w) -> (B, out)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def cnn_from_config(config: dict[str, Any]) -> CNN:
    """An untrained CNN of the architecture an artifact declares.

    Raises:
        ArtifactError: if the config is not a valid CNN architecture.
    """
    try:
        return CNN(int(config["in"]), [int(s) for s in config["shape"]],
                   [int(c) for c in config["channels"]], int(config["hidden"]),
                   int(config["out"]))
    except (KeyError, TypeError, ValueError, ModelError) as exc:
        raise ArtifactError(f"not a plexnet CNN artifact: {exc}") from None


def save_cnn(model: CNN) -> bytes:
    """Serialize weights and architecture as safetensors bytes (deterministic)."""
    return save_artifact(model, model.config)


def load_cnn(data: bytes) -> CNN:
    """Rebuild a CNN from :func:`save_cnn` bytes.

    Raises:
        ArtifactError: if the bytes are not a plexnet CNN artifact.
    """
    model: CNN = load_arch(data, "cnn", cnn_from_config,
                           lambda arch: f"not a CNN artifact: architecture {arch!r}")
    return model
