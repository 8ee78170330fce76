"""Job specs: what a requester asks for, signed onto the ledger with ``job.submit``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plexnet.compute.profile import DeviceKind, Tier

__all__ = ["JobSpec", "Requirements"]


class Requirements(BaseModel):
    """Constraints a provider must meet. Empty lists mean "any"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_kinds: list[DeviceKind] = []
    tiers: list[Tier] = []
    regions: list[str] = []
    min_memory_gb: Annotated[float, Field(ge=0)] = 0.0


class JobSpec(BaseModel):
    """A job: which task kind, on what inputs, with what parameters, for how much."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    job_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$")]
    task: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
    inputs: list[str] = []
    params: dict[str, Any] = {}
    requirements: Requirements = Requirements()
    flops: Annotated[float, Field(ge=0, description="estimated work, FLOPs")] = 0.0
    deadline_s: Annotated[float, Field(gt=0)] = 3600.0
    budget_micro: Annotated[int, Field(gt=0, description="escrowed, micro-credits")]
