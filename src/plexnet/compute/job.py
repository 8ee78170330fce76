"""Job specs: what a requester asks for, signed onto the ledger with ``job.submit``.

A job names a registered task kind (no code travels), its inputs (CIDs with their
sizes, so placement can price the transfer), parameters, the requirements a
provider must meet, its workload class, a deadline, a budget and a verification
policy:

* ``parallel`` with ``units`` shards: independent pieces, spread over providers;
  each shard is ``flops / units`` of work and ``input_bytes / units`` of input.
* ``coupled`` with ``units`` workers: a gang that all-reduces every step, so all
  workers must sit in one region within ``max_rtt_ms`` of each other, and the
  gang runs at the pace of its slowest member.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plexnet.compute.profile import DeviceKind, Tier

__all__ = ["JobSpec", "Requirements", "VerificationPolicy", "Workload"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Requirements(BaseModel):
    """Constraints each provider must meet. Empty lists mean "any"."""

    model_config = _FROZEN

    device_kinds: list[DeviceKind] = []
    tiers: list[Tier] = []
    regions: list[str] = []
    min_memory_gb: Annotated[float, Field(ge=0, description="per device, GiB")] = 0.0
    max_rtt_ms: Annotated[float | None, Field(gt=0, description="latency target to the "
                                              "requester")] = None
    min_reputation: Annotated[float, Field(ge=0, le=1, description="posterior mean")] = 0.0


class Workload(BaseModel):
    """How the work divides: independent shards, or a gang of coupled workers."""

    model_config = _FROZEN

    kind: Literal["parallel", "coupled"] = "parallel"
    units: Annotated[int, Field(ge=1, le=100_000, description="shards or workers")] = 1
    # For coupled jobs: bytes each worker exchanges per step (gradients), and steps.
    sync_bytes_per_step: Annotated[float, Field(ge=0)] = 0.0
    steps: Annotated[int, Field(ge=0)] = 0


class VerificationPolicy(BaseModel):
    """How much of the work is checked, and how.

    ``replication`` is the share of parallel shards re-run on a second provider
    for a provider of unknown reputation; the rate actually used falls as the
    provider's reputation rises (BOINC-style adaptive replication) but never
    below ``min_replication``. ``checkpoint_every_steps`` is how often a training
    provider commits checkpoint hashes; ``audit_segments`` how many committed
    segments a verifier re-runs.
    """

    model_config = _FROZEN

    replication: Annotated[float, Field(ge=0, le=1)] = 0.2
    min_replication: Annotated[float, Field(ge=0, le=1)] = 0.02
    checkpoint_every_steps: Annotated[int, Field(ge=1)] = 50
    audit_segments: Annotated[int, Field(ge=0)] = 1


class JobSpec(BaseModel):
    """A job: which task kind, on what inputs, with what parameters, for how much."""

    model_config = _FROZEN

    v: Literal[1] = 1
    job_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$")]
    task: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
    inputs: list[str] = []
    input_bytes: Annotated[float, Field(ge=0, description="total size of the inputs")] = 0.0
    params: dict[str, Any] = {}
    requirements: Requirements = Requirements()
    workload: Workload = Workload()
    flops: Annotated[float, Field(ge=0, description="estimated work, FLOPs")] = 0.0
    deadline_s: Annotated[float, Field(gt=0)] = 3600.0
    budget_micro: Annotated[int, Field(gt=0, description="escrowed, micro-credits")]
    verification: VerificationPolicy = VerificationPolicy()
