"""Differentially private training (DP-SGD with Opacus): the ``dp`` training parameter.

DP-SGD (Abadi et al., 2016) makes each training step private: every example's
gradient is clipped to L2 norm ``max_grad_norm``, the clipped gradients are summed,
and Gaussian noise of standard deviation ``noise_multiplier · max_grad_norm`` is
added before the optimizer sees the sum. Batches are drawn by **Poisson sampling**
(each record joins each step independently with probability ``q = 1 / steps per
epoch``), which is what the accountants assume. The accountant turns (noise, q,
steps) into the (ε, δ) the released model satisfies: no record changes the
probability of any set of models by more than a factor ``e^ε``, except with
probability ``δ``.

A spec names the noise directly (``noise_multiplier``) or asks for a budget
(``target_epsilon``: the smallest noise that spends at most that ε over the planned
epochs, found by Opacus' bisection, to within 0.01 in ε). Why the limits:

* ``delta`` must lie below ``1/n`` (n training records): a mechanism that
  publishes one whole record at random is (0, 1/n)-DP, so a larger δ promises
  nothing. The default 1e-5 is the usual choice for datasets of up to 10⁴ records.
* The accountant is PRV by default (Gopi et al., 2021; Opacus' default): on
  breast cancer (q = 1/8, noise 1.1, 40 steps, δ = 1e-5) it certifies ε = 4.87 where
  RDP certifies 5.52 for the same training; ``"rdp"`` is offered for comparison
  with older reports.

**Reproducible noise, and what it costs.** plexnet verifies a job by re-running it
and comparing output CIDs, so by default (``noise="seeded"``) the Poisson
sampling and the noise come from torch generators seeded from the training
``seed``: two runs give the same model bytes. But job parameters are public, and
whoever knows the seed can regenerate the noise, so the (ε, δ) guarantee then
holds only against someone who does not know the seed, which is a weaker promise
than DP. ``noise="secret"`` draws both generators' seeds from the operating
system's CSPRNG: the guarantee is then the usual one (up to the Mersenne Twister
that torch samples with, which is not a cryptographic generator), and the run is
not reproducible, so verify such a job by audit rather than replication.

The metrics other than the model (``train_accuracy``, ``val_accuracy``,
``final_loss``) are computed on the data without noise and are not covered by ε.

Opacus takes about 5 s to import, so it is imported only when a spec is given.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from plexnet.models.errors import ModelError

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

__all__ = ["DPSpec", "dp_metrics", "dp_spec", "epsilon", "make_private", "quiet"]

# Warnings that say nothing about a run: the seeded generators are the point of
# ``noise="seeded"`` (documented above); the first Linear layer's input needs no
# gradient, which torch reports on every backward pass through Opacus' hooks; and
# the RDP order search of ``target_epsilon`` reports its range while bisecting.
_EXPECTED_WARNINGS = ("Secure RNG turned off", "Full backward hook is firing",
                      "Optimal order is the largest alpha")


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the expected Opacus and torch warnings of a private run (and only those)."""
    with warnings.catch_warnings():
        for message in _EXPECTED_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        yield


class DPSpec(BaseModel):
    """How to train privately; see the module docstring. Give exactly one of
    ``noise_multiplier`` and ``target_epsilon``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    noise_multiplier: Annotated[float | None, Field(gt=0, le=100, description=(
        "noise standard deviation / max_grad_norm"))] = None
    target_epsilon: Annotated[float | None, Field(gt=0, le=1000, description=(
        "privacy budget to spend over the planned epochs"))] = None
    max_grad_norm: Annotated[float, Field(gt=0, description="per-example clipping bound, "
                                          "L2 norm")] = 1.0
    delta: Annotated[float, Field(gt=0, lt=1)] = 1e-5
    accountant: Literal["prv", "rdp"] = "prv"
    noise: Literal["seeded", "secret"] = "seeded"

    @model_validator(mode="after")
    def _one_noise(self) -> DPSpec:
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ValueError("give exactly one of noise_multiplier and target_epsilon")
        return self


def dp_spec(value: Any) -> DPSpec | None:
    """The ``dp`` training parameter as a :class:`DPSpec` (``None``: train without DP).

    Raises:
        ModelError: naming what is wrong with the spec.
    """
    if value is None or isinstance(value, DPSpec):
        return value
    if not isinstance(value, dict):
        raise ModelError(f"dp must be an object such as {{\"noise_multiplier\": 1.1}}, "
                         f"got {value!r}")
    try:
        return DPSpec.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'dp'}: {e['msg']}"
                             for e in exc.errors())
        raise ModelError(f"bad dp parameters: {problems}") from None


def _seeds(spec: DPSpec, seed: int) -> tuple[int, int]:
    """Seeds of the sampling and the noise generators (see the module docstring)."""
    if spec.noise == "secret":
        return secrets.randbits(63), secrets.randbits(63)
    sampling, noise = np.random.SeedSequence([seed, 0x0D9]).generate_state(2, dtype=np.uint64)
    return int(sampling >> 1), int(noise >> 1)


def make_private(model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader[Any],
                 spec: DPSpec, *, epochs: int, seed: int) -> tuple[
                     Any, torch.optim.Optimizer, DataLoader[Any], Any]:
    """Wrap a model, its optimizer and its data for DP-SGD.

    ``loader`` gives the batch size (the expected size of the Poisson batches); its
    sampler is replaced. ``model``'s parameters are trained in place through the
    returned wrapper; call ``wrapper._close()`` when done to drop Opacus' hooks.

    Returns:
        (wrapped model (an Opacus ``GradSampleModule``), DP optimizer, Poisson-sampling
        loader, accountant); the noise multiplier used is ``optimizer.noise_multiplier``.

    Raises:
        ModelError: if ``delta`` is not below ``1 / len(loader.dataset)``.
    """
    import torch
    from opacus import PrivacyEngine  # type: ignore[import-untyped]
    from opacus.accountants.utils import get_noise_multiplier  # type: ignore[import-untyped]
    from torch.utils.data import DataLoader

    n = len(loader.dataset)  # type: ignore[arg-type]
    if spec.delta * n >= 1:
        raise ModelError(f"dp delta {spec.delta:g} must be below 1/n = {1 / n:.3g} for "
                         f"{n} training records; lower delta (1/(10 n) or less is usual)")
    if epochs < 1:
        raise ModelError("DP training needs at least one epoch")
    sampling_seed, noise_seed = _seeds(spec, seed)
    seeded = DataLoader(loader.dataset, batch_size=loader.batch_size,
                        generator=torch.Generator().manual_seed(sampling_seed))
    noise = spec.noise_multiplier
    if noise is None:
        assert spec.target_epsilon is not None  # DPSpec holds exactly one of the two
        noise = get_noise_multiplier(target_epsilon=spec.target_epsilon,
                                     target_delta=spec.delta, sample_rate=1 / len(seeded),
                                     epochs=epochs, accountant=spec.accountant)
    engine = PrivacyEngine(accountant=spec.accountant)
    private, opt, data = engine.make_private(
        module=model, optimizer=optimizer, data_loader=seeded, noise_multiplier=float(noise),
        max_grad_norm=spec.max_grad_norm, poisson_sampling=True,
        noise_generator=torch.Generator().manual_seed(noise_seed))
    return private, opt, data, engine.accountant


def epsilon(accountant: Any, delta: float) -> float:
    """The ε spent so far at ``delta`` (0 before the first step)."""
    return float(accountant.get_epsilon(delta)) if len(accountant) else 0.0


def dp_metrics(spec: DPSpec, optimizer: torch.optim.Optimizer, accountant: Any,
               sample_rate: float) -> dict[str, Any]:
    """The privacy metrics a private run reports."""
    return {"dp_epsilon": round(epsilon(accountant, spec.delta), 4), "dp_delta": spec.delta,
            "dp_noise_multiplier": round(float(optimizer.noise_multiplier), 6),  # type: ignore[attr-defined]
            "dp_max_grad_norm": spec.max_grad_norm, "dp_accountant": spec.accountant,
            "dp_noise": spec.noise, "dp_sample_rate": round(sample_rate, 6)}
