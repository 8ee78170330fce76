"""Simulation inputs: trace rows turned into provider inventories and job arrivals.

Pure except for reading the packaged traces (``traces/``, see its README) and price
books; randomness comes in as a ``numpy.random.Generator``. Every mapping from a
trace row to a provider or a job is a modelling choice, stated here:

Providers
    * OpenB node (``openb_node_list_all_node.csv``): one provider per node with
      ``gpu`` devices of the node's ``model``, resolved through the catalog
      (``V100M16`` -> V100, ``V100M32`` -> V100-32GB; the undisclosed ``G2``/``G3``
      through ``catalog.STAND_INS``: V100 and A100-40GB). Peak FLOP/s is the
      device's dense tensor rate, memory its device memory. The 310 CPU-only nodes
      are read and counted as skipped: the price books price GPUs only, and the
      comparison is about GPU markets.
    * Synthetic provider: an instance shape drawn from the price books (below),
      with its device model, device count (capped at 8) and region.
    * Price of a device: pick one price book (provider) uniformly among those that
      offer the device's family, then one of that book's distinct quotes
      (instance type and per-device-hour price; regions collapsed) uniformly.
      Drawing over books first keeps a book that lists every shape in 17 regions
      from outweighing one that lists it once. A family no book offers (P100, T4
      in the marketplace books) is priced at FLOP parity: the median over all
      distinct quotes of USD per tensor-FLOP/s-hour, times the device's peak.
    * Network and trust terms (tier, bandwidth, RTT, reliability, stake) come from
      ``ProviderTerms``, the same for every provider of one market.

Jobs
    * OpenB pod (``openb_pod_list_default.csv``), in creation order: arrives at
      ``creation_time / time_scale``; work = ``(deletion - scheduled)`` seconds on
      ``num_gpu`` reference devices (``REFERENCE_DEVICE``, the V100: the cluster's
      most common GPU), times ``gpu_milli / 1000`` for a single-GPU pod that shared
      its GPU (GPU sharing is not simulated: the share shortens the work instead).
      Failed pods count with the time they ran; pods still running at the end of
      the trace with the time observed. Skipped and counted: CPU-only pods
      (``num_gpu = 0``), pods never scheduled (``Pending``), pods that ran 0 s.
    * Philly runtime (``philly_runtime.csv``): ``count`` runtimes drawn uniformly
      with replacement from the positive ones (about 2% are 0 s), one reference
      GPU each (the file has no GPU counts), Poisson arrivals at ``rate_per_hour``.
    * A job's FLOPs are its reference GPU-seconds times the reference device's
      peak times ``placement.MFU``, so on the reference device it takes exactly
      its trace duration.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

import numpy as np

from plexnet.compute import pricebook
from plexnet.compute.catalog import Device, device
from plexnet.compute.errors import ComputeError
from plexnet.compute.placement import MFU
from plexnet.compute.profile import ProviderProfile, Tier

__all__ = [
    "MAX_SYNTHETIC",
    "REFERENCE_DEVICE",
    "Arrivals",
    "Inventory",
    "ProviderTerms",
    "TraceJob",
    "openb_arrivals",
    "openb_inventory",
    "philly_arrivals",
    "reference_flops_per_s",
    "synthetic_inventory",
]

REFERENCE_DEVICE: Final = "V100"
MAX_SYNTHETIC: Final = 10_000
_MAX_DEVICES: Final = 8
_NODES: Final = "openb_node_list_all_node.csv"
_PODS: Final = "openb_pod_list_default.csv"
_PHILLY: Final = "philly_runtime.csv"


@dataclass(frozen=True)
class ProviderTerms:
    """What every provider of one market shares: network, tier, reliability, stake."""

    tier: Tier
    bandwidth_mbps: float
    rtt_ms: float
    reliability: float  # P(no failure within an hour), as ProviderProfile has it
    stake_micro: int = 0


@dataclass(frozen=True)
class Inventory:
    """Providers to simulate, and the trace rows that did not become one (by reason)."""

    profiles: tuple[ProviderProfile, ...]
    skipped: Mapping[str, int]
    source: str


@dataclass(frozen=True)
class TraceJob:
    """One job: when it arrives, how many devices it may use per provider, its work."""

    job_id: str
    arrival_s: float
    gpus: int  # devices requested: placement gives it at most this many per provider
    gpu_hours: float  # reference-device GPU-hours of work

    @property
    def flops(self) -> float:
        return self.gpu_hours * 3600 * reference_flops_per_s()


@dataclass(frozen=True)
class Arrivals:
    """Jobs in arrival order, and the trace rows that did not become one (by reason)."""

    jobs: tuple[TraceJob, ...]
    skipped: Mapping[str, int]
    source: str


def reference_flops_per_s() -> float:
    """Delivered FLOP/s of one reference device: its dense tensor peak times MFU."""
    return device(REFERENCE_DEVICE).peak_flops_tensor * MFU


def _read(filename: str) -> list[dict[str, str]]:
    try:
        text = resources.files("plexnet.compute").joinpath("traces", filename).read_text(
            encoding="utf-8")
    except FileNotFoundError:
        raise ComputeError(f"trace {filename} is not installed with plexnet (see "
                           "plexnet/compute/traces/README.md); use --providers synthetic "
                           "--arrivals philly") from None
    return list(csv.DictReader(io.StringIO(text)))


@dataclass(frozen=True)
class _Quote:
    device: Device
    count: int
    price_per_device_hour: float
    region: str


class _Pricer:
    """Draws a per-device-hour price for a device family from a set of price books."""

    def __init__(self, books: Iterable[str]) -> None:
        book = pricebook.load(tuple(books))
        distinct = {(o.provider, o.instance_type, o.price_per_device_hour): o
                    for o in book.offers}  # regions collapsed, file order kept
        self.by_family: dict[str, dict[str, list[_Quote]]] = {}
        for (provider, _, price), o in distinct.items():
            quote = _Quote(device(o.device_model), o.count, price, o.region[:32] or "default")
            self.by_family.setdefault(o.accelerator, {}).setdefault(provider, []).append(quote)
        quotes = [q for books_ in self.by_family.values() for qs in books_.values() for q in qs]
        if not quotes:
            raise ComputeError("the chosen price books hold no GPU offer")
        self.quotes = quotes
        self.per_flops_hour = statistics.median(q.price_per_device_hour /
                                                q.device.peak_flops_tensor for q in quotes)

    def any_quote(self, rng: np.random.Generator) -> _Quote:
        """A quote of any family: a book first, then one of its quotes (see module doc)."""
        providers = sorted({p for books_ in self.by_family.values() for p in books_})
        provider = providers[int(rng.integers(len(providers)))]
        mine = [q for books_ in self.by_family.values() for q in books_.get(provider, [])]
        return mine[int(rng.integers(len(mine)))]

    def price(self, dev: Device, rng: np.random.Generator) -> tuple[float, str]:
        """(USD per device-hour, region) for one device of ``dev``'s family."""
        books_ = self.by_family.get(dev.family)
        if not books_:  # FLOP parity, in a region drawn from the books
            return self.per_flops_hour * dev.peak_flops_tensor, self.any_quote(rng).region
        providers = sorted(books_)
        quotes = books_[providers[int(rng.integers(len(providers)))]]
        q = quotes[int(rng.integers(len(quotes)))]
        return q.price_per_device_hour, q.region


def _profile(name: str, dev: Device, count: int, price: float, region: str,
             terms: ProviderTerms) -> ProviderProfile:
    return ProviderProfile(name=name, device_kind=dev.kind, device_model=dev.name,
                           device_count=count, peak_flops=dev.peak_flops_tensor,
                           memory_gb=dev.memory_gb, tier=terms.tier, region=region,
                           bandwidth_mbps=terms.bandwidth_mbps, rtt_ms=terms.rtt_ms,
                           price_per_device_hour=price, stake_micro=terms.stake_micro,
                           reliability=terms.reliability)


def openb_inventory(books: Iterable[str], terms: ProviderTerms, rng: np.random.Generator,
                    limit: int | None = None) -> Inventory:
    """The OpenB GPU nodes as providers, priced from ``books`` (see the module doc).

    Args:
        books: price-book names, e.g. ``pricebook.DECENTRALISED``.
        terms: network and trust terms shared by every provider.
        rng: draws the prices; advances.
        limit: keep the first ``limit`` GPU nodes only (tests).
    """
    pricer = _Pricer(books)
    profiles: list[ProviderProfile] = []
    skipped: Counter[str] = Counter()
    for row in _read(_NODES):
        if int(row["gpu"]) == 0 or not row["model"].strip():
            skipped["cpu-only node (the price books price GPUs)"] += 1
            continue
        if limit is not None and len(profiles) >= limit:
            skipped["beyond the node limit"] += 1
            continue
        dev = device(row["model"])
        price, region = pricer.price(dev, rng)
        profiles.append(_profile(row["sn"], dev, int(row["gpu"]), price, region, terms))
    return Inventory(tuple(profiles), dict(skipped), f"openb nodes, {'+'.join(books)} prices")


def synthetic_inventory(count: int, books: Iterable[str], terms: ProviderTerms,
                        rng: np.random.Generator) -> Inventory:
    """``count`` providers whose shapes, prices and regions are drawn from ``books``.

    Raises:
        ComputeError: ``count`` outside 1..MAX_SYNTHETIC.
    """
    if not 1 <= count <= MAX_SYNTHETIC:
        raise ComputeError(f"synthetic population of {count}; choose 1..{MAX_SYNTHETIC:,}")
    books = tuple(books)
    pricer = _Pricer(books)
    profiles = []
    for i in range(count):
        q = pricer.any_quote(rng)
        profiles.append(_profile(f"s{i:05d}", q.device, min(q.count, _MAX_DEVICES),
                                 q.price_per_device_hour, q.region, terms))
    return Inventory(tuple(profiles), {}, f"synthetic {count}, {'+'.join(books)} offers")


def openb_arrivals(limit: int | None = None, time_scale: float = 1.0) -> Arrivals:
    """The OpenB pods as jobs, in creation order (see the module doc for the mapping).

    Args:
        limit: keep the first ``limit`` jobs (after skipping rows that are not jobs).
        time_scale: divide arrival times by this (>1 compresses the trace, raising load).
    """
    if not time_scale > 0:
        raise ComputeError(f"time_scale must be > 0, got {time_scale!r}")
    jobs: list[TraceJob] = []
    skipped: Counter[str] = Counter()
    for row in _read(_PODS):
        gpus = int(row["num_gpu"])
        if gpus == 0:
            skipped["cpu-only pod"] += 1
        elif not row["scheduled_time"].strip():
            skipped["never scheduled in the trace (Pending)"] += 1
        elif (run_s := int(row["deletion_time"]) - int(row["scheduled_time"])) <= 0:
            skipped["ran 0 s"] += 1
        elif limit is not None and len(jobs) >= limit:
            skipped["beyond the job limit"] += 1
        else:
            share = int(row["gpu_milli"]) / 1000 if gpus == 1 else 1.0
            jobs.append(TraceJob(row["name"], int(row["creation_time"]) / time_scale, gpus,
                                 run_s * gpus * share / 3600))
    return Arrivals(tuple(jobs), dict(skipped), "openb pods")


def philly_arrivals(count: int, rate_per_hour: float, rng: np.random.Generator) -> Arrivals:
    """``count`` Philly runtimes as one-GPU jobs with Poisson arrivals at ``rate_per_hour``.

    Raises:
        ComputeError: ``count`` < 1 or a rate that is not positive.
    """
    if count < 1 or not rate_per_hour > 0:
        raise ComputeError(f"need count >= 1 and rate_per_hour > 0, got {count}, "
                           f"{rate_per_hour!r}")
    runtimes = np.array([float(r["runtime"]) for r in _read(_PHILLY)])
    positive = runtimes[runtimes > 0]
    drawn = rng.choice(positive, size=count, replace=True)
    arrivals = np.cumsum(rng.exponential(3600 / rate_per_hour, size=count))
    jobs = tuple(TraceJob(f"philly-{i:06d}", float(t), 1, float(r) / 3600)
                 for i, (t, r) in enumerate(zip(arrivals, drawn, strict=True)))
    zero = int((runtimes <= 0).sum())
    return Arrivals(jobs, {"0 s runtimes left out of the draw": zero},
                    f"philly runtimes, Poisson {rate_per_hour:g}/h")
