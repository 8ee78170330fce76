"""Provider profiles: what a provider offers, signed onto the ledger when it joins.

Units are in the field names. A profile is a claim; the compute layer checks it
against what the provider delivers (issue 3 adds benchmarks and reputation).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DeviceKind", "ProviderProfile", "Tier"]

DeviceKind = Literal["cpu", "gpu", "asic", "npu"]
Tier = Literal["cloud", "fog", "edge"]


class ProviderProfile(BaseModel):
    """A provider's offer. ``name`` also names its Ray custom resource and label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    device_kind: DeviceKind
    device_model: Annotated[str, Field(min_length=1, max_length=64)]
    device_count: Annotated[int, Field(ge=1, le=4096)] = 1
    peak_flops: Annotated[float, Field(gt=0, description="per device, FLOP/s")]
    memory_gb: Annotated[float, Field(gt=0, description="per device, GiB")]
    tier: Tier
    region: Annotated[str, Field(min_length=1, max_length=32)]
    bandwidth_mbps: Annotated[float, Field(gt=0)]
    rtt_ms: Annotated[float, Field(ge=0)]
    price_per_device_hour: Annotated[float, Field(ge=0, description="credits")]
    stake_micro: Annotated[int, Field(ge=0, description="micro-credits locked as stake")] = 0
    reliability: Annotated[float, Field(ge=0, le=1, description="observed success rate")] = 1.0

    @property
    def resource(self) -> str:
        """The Ray custom resource that pins work to this provider's node."""
        return f"provider_{self.name}"
