"""Hardware catalog: real devices with their published peak figures, by name.

A provider profile names its device; the catalog turns that name into peak FLOP/s,
memory and power so nobody types them by hand. Figures are the vendors' own
(datasheets, architecture whitepapers, product pages), always *dense*: where a
datasheet prints only a 2:4-sparsity figure, the catalog halves it, and where it
prints FP8 with sparsity (Ada workstation cards) it quarters it. ``source`` says
which document and which step. Units:

- FLOP/s per device (``peak_flops_*``), not TFLOP/s;
- ``memory_gb``: device memory as the vendor prints it (GPU "80 GB" is 80 GiB); for
  CPUs the platform maximum, since a CPU's memory is whatever is installed;
- ``memory_bandwidth_gb_per_s``: gigabytes (not gigabits) per second;
- ``tdp_w``: board or package power, ``None`` where the vendor publishes none.

``peak_flops_tensor`` is the matrix-unit rate in ``tensor_precision``: dense
fp16/bf16 with fp32 accumulate for GPUs (GeForce cards run that at half their
fp16-accumulate rate, so their figure is the lower one), int8 for edge boards
quoted in TOPS, and equal to the fp32 rate for devices without a matrix unit.

Names are matched loosely: case, spaces, ``-`` and ``_`` are ignored, and a vendor
prefix ("NVIDIA", "Tesla", "GeForce", "AMD", ...) is dropped, so "A100-80GB",
"a100 80gb" and "NVIDIA A100-SXM4-80GB" are one device. A bare family name picks
the common variant: "H100" is the SXM part, "A100" the 40 GB SXM part (SkyPilot's
convention, which the price books follow).

Some names in traces and price books have no public datasheet; ``STAND_INS`` maps
each to a real device that resolves in its place, so simulations can run. Those
figures describe the stand-in, not the hidden device.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final, Literal

from plexnet.compute.errors import ComputeError
from plexnet.compute.profile import DeviceKind

__all__ = ["STAND_INS", "Device", "TensorPrecision", "device", "devices"]

TensorPrecision = Literal["fp16", "bf16", "int8", "fp32"]


@dataclass(frozen=True)
class Device:
    """One device model and its published peak figures (units: see the module docstring).

    Attributes:
        name: the canonical name, as ``ProviderProfile.device_model`` should carry it.
        family: the name price books quote it under; every H100 variant is "H100".
        aliases: other spellings that resolve to this entry.
    """

    name: str
    family: str
    kind: DeviceKind
    vendor: str
    peak_flops_fp32: float
    peak_flops_tensor: float
    tensor_precision: TensorPrecision
    memory_gb: float
    memory_bandwidth_gb_per_s: float
    tdp_w: float | None
    source: str
    aliases: tuple[str, ...] = ()


_T: Final = 1e12  # the table is written in TFLOP/s for readability
_NV = "NVIDIA"

# Columns: name, family, kind, vendor, fp32, tensor, precision, memory GB,
# bandwidth GB/s, TDP W, source, aliases.
_DEVICES: Final[tuple[Device, ...]] = (
    # NVIDIA data centre, Hopper and Blackwell
    Device("H100-SXM", "H100", "gpu", _NV, 67 * _T, 989.5 * _T, "bf16", 80, 3350, 700,
           "NVIDIA H100 Tensor Core GPU datasheet, SXM (BF16 1,979 sparse, halved)",
           ("H100", "H100-SXM5", "H100-80GB-HBM3", "H100-MEGA")),
    Device("H100-PCIe", "H100", "gpu", _NV, 51 * _T, 756.5 * _T, "bf16", 80, 2000, 350,
           "NVIDIA H100 Tensor Core GPU datasheet, PCIe (BF16 1,513 sparse, halved)"),
    Device("H100-NVL", "H100", "gpu", _NV, 60 * _T, 835.5 * _T, "bf16", 94, 3900, 400,
           "NVIDIA H100 Tensor Core GPU datasheet, H100 NVL (BF16 1,671 sparse, halved)"),
    Device("H200", "H200", "gpu", _NV, 67 * _T, 989.5 * _T, "bf16", 141, 4800, 700,
           "NVIDIA H200 Tensor Core GPU datasheet, SXM (BF16 1,979 sparse, halved)",
           ("H200-SXM",)),
    Device("H800", "H800", "gpu", _NV, 67 * _T, 989.5 * _T, "bf16", 80, 3350, 700,
           "NVIDIA H800 Tensor Core GPU datasheet, SXM (BF16 1,979 sparse, halved)",
           ("H800-SXM", "H800-SXM5-80GB")),
    Device("GH200", "GH200", "gpu", _NV, 67 * _T, 989.5 * _T, "bf16", 96, 4000, 1000,
           "NVIDIA GH200 Grace Hopper Superchip datasheet (GPU HBM3 only; TDP is the "
           "whole module, configurable 450-1000 W)"),
    Device("B200", "B200", "gpu", _NV, 75 * _T, 2250 * _T, "bf16", 180, 8000, 1000,
           "NVIDIA HGX B200 / DGX B200 datasheets, 8-GPU totals divided by 8 "
           "(BF16 36 PFLOPS sparse -> 2.25 dense per GPU; 64 TB/s -> 8 TB/s)"),
    # NVIDIA data centre, Ampere and older
    Device("A100-80GB", "A100-80GB", "gpu", _NV, 19.5 * _T, 312 * _T, "bf16", 80, 2039, 400,
           "NVIDIA A100 Tensor Core GPU datasheet, 80GB SXM",
           ("A100-80GB-SXM", "A100-80GB-SXM4", "A100-SXM4-80GB")),
    Device("A100-80GB-PCIe", "A100-80GB", "gpu", _NV, 19.5 * _T, 312 * _T, "bf16", 80, 1935,
           300, "NVIDIA A100 Tensor Core GPU datasheet, 80GB PCIe", ("A100-PCIe-80GB",)),
    Device("A100-40GB", "A100-40GB", "gpu", _NV, 19.5 * _T, 312 * _T, "bf16", 40, 1555, 400,
           "NVIDIA A100 Tensor Core GPU datasheet, 40GB SXM", ("A100", "A100-SXM4-40GB")),
    Device("A800", "A800", "gpu", _NV, 19.5 * _T, 312 * _T, "bf16", 80, 2039, 400,
           "NVIDIA A800 Tensor Core GPU datasheet, 80GB SXM", ("A800-SXM4-80GB", "A800-80GB")),
    Device("A40", "A40", "gpu", _NV, 37.4 * _T, 149.7 * _T, "bf16", 48, 696, 300,
           "NVIDIA A40 datasheet (BF16 299.4 sparse, halved)"),
    Device("A10", "A10", "gpu", _NV, 31.2 * _T, 125 * _T, "bf16", 24, 600, 150,
           "NVIDIA A10 Tensor Core GPU datasheet"),
    Device("L40S", "L40S", "gpu", _NV, 91.6 * _T, 362.05 * _T, "bf16", 48, 864, 350,
           "NVIDIA L40S datasheet (BF16 733 sparse, halved)"),
    Device("L40", "L40", "gpu", _NV, 90.5 * _T, 181.05 * _T, "bf16", 48, 864, 300,
           "NVIDIA L40 datasheet (BF16 362.1 sparse, halved)"),
    Device("L4", "L4", "gpu", _NV, 30.3 * _T, 121 * _T, "bf16", 24, 300, 72,
           "NVIDIA L4 Tensor Core GPU datasheet (BF16 242 sparse, halved)"),
    Device("T4", "T4", "gpu", _NV, 8.1 * _T, 65 * _T, "fp16", 16, 320, 70,
           "NVIDIA T4 Tensor Core GPU datasheet (mixed-precision FP16/FP32)"),
    Device("V100", "V100", "gpu", _NV, 15.7 * _T, 125 * _T, "fp16", 16, 900, 300,
           "NVIDIA Tesla V100 datasheet, SXM2 16GB",
           ("V100-SXM2", "V100-16GB", "V100-SXM2-16GB", "V100M16")),
    Device("V100-32GB", "V100-32GB", "gpu", _NV, 15.7 * _T, 125 * _T, "fp16", 32, 900, 300,
           "NVIDIA Tesla V100 datasheet, SXM2 32GB", ("V100-SXM2-32GB", "V100M32")),
    Device("P100", "P100", "gpu", _NV, 9.3 * _T, 18.7 * _T, "fp16", 16, 732, 250,
           "NVIDIA Tesla P100 PCIe datasheet, 16GB (no tensor cores: packed FP16 rate)",
           ("P100-PCIe", "P100-16GB")),
    # NVIDIA workstation
    Device("RTX6000-Ada", "RTX6000-Ada", "gpu", _NV, 91.1 * _T, 364.25 * _T, "fp16", 48, 960,
           300, "NVIDIA RTX 6000 Ada Generation datasheet (tensor 1,457 = FP8 sparse, /4)",
           ("RTX 6000 Ada Generation",)),
    Device("RTX4000-Ada", "RTX4000-Ada", "gpu", _NV, 26.7 * _T, 81.9 * _T, "fp16", 20, 360, 130,
           "NVIDIA RTX 4000 Ada Generation datasheet (tensor 327.6 = FP8 sparse, /4)",
           ("RTX 4000 Ada Generation",)),
    Device("RTXA6000", "RTXA6000", "gpu", _NV, 38.7 * _T, 154.85 * _T, "fp16", 48, 768, 300,
           "NVIDIA RTX A6000 datasheet (tensor 309.7 sparse, halved)", ("A6000",)),
    Device("RTXA5000", "RTXA5000", "gpu", _NV, 27.8 * _T, 111.1 * _T, "fp16", 24, 768, 230,
           "NVIDIA RTX A5000 datasheet (tensor 222.2 sparse, halved)", ("A5000",)),
    Device("RTXA4500", "RTXA4500", "gpu", _NV, 23.7 * _T, 94.6 * _T, "fp16", 20, 640, 200,
           "NVIDIA RTX A4500 datasheet (tensor 189.2 sparse, halved)", ("A4500",)),
    Device("RTXA4000", "RTXA4000", "gpu", _NV, 19.2 * _T, 76.7 * _T, "fp16", 16, 448, 140,
           "NVIDIA RTX A4000 datasheet (tensor 153.4 sparse, halved)", ("A4000",)),
    Device("RTX6000", "RTX6000", "gpu", _NV, 16.3 * _T, 130.5 * _T, "fp16", 24, 672, 295,
           "NVIDIA Quadro RTX 6000 datasheet (Turing)"),
    # NVIDIA GeForce: tensor = FP16 with FP32 accumulate, dense (half the FP16-accumulate rate)
    Device("RTX5090", "RTX5090", "gpu", _NV, 104.8 * _T, 209.5 * _T, "fp16", 32, 1792, 575,
           "NVIDIA RTX Blackwell GPU architecture whitepaper, GeForce RTX 5090"),
    Device("RTX4090", "RTX4090", "gpu", _NV, 82.6 * _T, 165.2 * _T, "fp16", 24, 1008, 450,
           "NVIDIA Ada GPU architecture whitepaper, GeForce RTX 4090"),
    Device("RTX4080", "RTX4080", "gpu", _NV, 48.7 * _T, 97.5 * _T, "fp16", 16, 716.8, 320,
           "NVIDIA Ada GPU architecture whitepaper, GeForce RTX 4080 16GB"),
    Device("RTX3090", "RTX3090", "gpu", _NV, 35.6 * _T, 71 * _T, "fp16", 24, 936, 350,
           "NVIDIA Ampere GA102 GPU architecture whitepaper, GeForce RTX 3090"),
    Device("RTX3060", "RTX3060", "gpu", _NV, 12.7 * _T, 25.3 * _T, "fp16", 12, 360, 170,
           "NVIDIA GeForce RTX 3060 specifications (13 shader TFLOPS; 101 tensor TFLOPS "
           "= sparse FP16 accumulate, /4)"),
    # Other accelerators
    Device("MI300X", "MI300X", "gpu", "AMD", 163.4 * _T, 1307.4 * _T, "bf16", 192, 5300, 750,
           "AMD Instinct MI300X data sheet (dense matrix BF16)"),
    Device("Inferentia2", "Inferentia2", "asic", "AWS", 47.5 * _T, 190 * _T, "bf16", 32, 820,
           None, "AWS Neuron documentation, Inferentia2 architecture (per chip; no TDP published)",
           ("Inf2",)),
    # Edge and personal devices
    Device("Jetson-Orin-Nano-8GB", "Jetson-Orin-Nano-8GB", "gpu", _NV, 1.28 * _T, 20 * _T,
           "int8", 8, 68, 15,
           "NVIDIA Jetson Orin Nano series datasheet (INT8 40 TOPS sparse / 20 dense; FP32 = "
           "1,024 CUDA cores x 2 x 625 MHz)", ("Jetson Orin Nano", "Orin Nano")),
    Device("M2", "M2", "gpu", "Apple", 3.6 * _T, 3.6 * _T, "fp32", 24, 100, None,
           "Apple M2 announcement, June 2022 (10-core GPU 3.6 TFLOPS, up to 24 GB at 100 GB/s; "
           "the 15.8 TOPS Neural Engine is not counted; no TDP published)"),
    Device("Ryzen9-7950X", "Ryzen9-7950X", "cpu", "AMD", 2.304 * _T, 2.304 * _T, "fp32", 128,
           83.2, 170,
           "AMD Ryzen 9 7950X product page (16 cores, 4.5 GHz base, 128 GB max at launch, "
           "dual-channel DDR5-5200); FLOP/s derived: 16 x 32 FP32 FLOP/cycle x 4.5 GHz",
           ("7950X",)),
    Device("EPYC-9654", "EPYC-9654", "cpu", "AMD", 7.3728 * _T, 7.3728 * _T, "fp32", 6144,
           460.8, 360,
           "AMD EPYC 9654 product page (96 cores, 2.4 GHz base, 6 TB max, 12-channel "
           "DDR5-4800); FLOP/s derived: 96 x 32 FP32 FLOP/cycle x 2.4 GHz"),
)

STAND_INS: Final[Mapping[str, str]] = {
    # AWS g5: NVIDIA publishes no A10G datasheet; it is an A10 derivative.
    "A10G": "A10",
    # Alibaba OpenB trace (ATC'23): "G1, G2, G3 are undisclosed internal GPU codes".
    # Chosen by node shape only: G2 nodes hold 8 GPUs with 96 vCPUs (a V100-era
    # shape), G3 nodes 8 GPUs with 128 vCPUs and 768 GiB (an A100-era shape); G1 is
    # named in the trace's README but on no node.
    "G1": "T4",
    "G2": "V100",
    "G3": "A100-40GB",
    # Alibaba spot trace (ASPLOS'26): anonymised series, chosen by node shape only
    # (series 1 is mostly single-GPU nodes like the trace's A10s; series 2 is 8-GPU).
    "GPU-series-1": "A10",
    "GPU-series-2": "H800",
}

_VENDOR_PREFIXES: Final = ("nvidia", "tesla", "geforce", "quadro", "amd", "instinct", "apple",
                           "aws")


def _key(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    stripped = True
    while stripped:
        stripped = False
        for prefix in _VENDOR_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                key, stripped = key[len(prefix):], True
    return key


@cache
def _index() -> dict[str, Device]:
    by_name = {d.name: d for d in _DEVICES}
    index: dict[str, Device] = {}
    for d in _DEVICES:
        for name in (d.name, *d.aliases):
            assert _key(name) not in index, f"catalog name {name!r} is ambiguous"
            index[_key(name)] = d
    for name, target in STAND_INS.items():
        assert _key(name) not in index, f"stand-in {name!r} shadows a catalog name"
        index[_key(name)] = by_name[target]
    return index


def device(name: str) -> Device:
    """Look a device up by name, alias, family or stand-in (case and punctuation ignored).

    Args:
        name: e.g. "H100", "A100-80GB", "RTX4090", "NVIDIA A100-SXM4-80GB", "V100M32".

    Returns:
        The catalog entry. For a name in ``STAND_INS``, the stand-in's entry.

    Raises:
        ComputeError: no device of that name; the message suggests close names.
    """
    index = _index()
    found = index.get(_key(name))
    if found is not None:
        return found
    close = sorted({index[k].name for k in difflib.get_close_matches(_key(name), index, n=5)})
    hint = (f"did you mean {', '.join(close)}?" if close
            else f"known devices: {', '.join(d.name for d in _DEVICES)}")
    raise ComputeError(f"unknown device {name!r}; {hint} Add it to plexnet.compute.catalog "
                       "or pick a listed name.")


def devices() -> list[Device]:
    """Every catalog entry, data centre first, then workstation, consumer and edge."""
    return list(_DEVICES)
