"""Price books: what clouds and GPU marketplaces charge, as catalog snapshots.

The books are SkyPilot catalog (v7) extracts shipped as package data in
``pricebooks/`` (see its README: catalog snapshots, not live quotes). Each CSV is
read by its own header, since column order differs between clouds. Prices are US
dollars per instance-hour; an ``Offer`` divides by its device count for the
per-device-hour figure placement compares.

Accelerator names are canonicalised through ``plexnet.compute.catalog``:
``Offer.accelerator`` is the catalog *family* (every H100 variant is "H100"; "A100"
is the 40 GB part, "A100-80GB" the 80 GB one), because most books cannot tell
SXM from PCIe; ``Offer.device_model`` is the exact catalog device where the book
says more (RunPod's "H100" is the PCIe card, its "A100-80GB" the 80 GB PCIe card,
as SkyPilot's RunPod fetcher maps them; Lambda and Vast name the form factor in
the instance type).

GCP lists accelerators without their host VM, which is billed on top; an A2/A3
GPU row is joined to its machine type from the ``_extra`` file by GCP's fixed
pairing (``_GCP_HOSTS``): A100 x N -> ``a2-highgpu-Ng`` (16 -> ``a2-megagpu-16g``),
A100-80GB x N -> ``a2-ultragpu-Ng``, H100 x N -> ``a3-highgpu-Ng``, H100-MEGA ->
``a3-megagpu-8g``, H200 -> ``a3-ultragpu-8g``. L4, T4 and V100 attach to
g2/n1 VMs of any shape and B200 to ``a4-highgpu-8g``, none of which the extra
file holds; those rows are skipped as "no host VM" rather than priced low.

Rows without an accelerator (CPU-only shapes) or without a positive price are
skipped, and so are exact repeats (RunPod lists each offer once per zone of a
region); ``PriceBook.skipped`` counts every skipped row by provider and reason.
A spot price of 0 or empty means "no spot quote" (``None``); RunPod's L40S rows,
whose spot price exceeds the on-demand price, are kept as the source has them.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Final

from plexnet.compute.catalog import device
from plexnet.compute.errors import ComputeError

__all__ = ["CENTRALISED", "DECENTRALISED", "PROVIDERS", "Offer", "PriceBook", "load"]

DECENTRALISED: Final = ("vast", "hyperbolic", "runpod")
CENTRALISED: Final = ("aws", "gcp", "lambda")
PROVIDERS: Final = DECENTRALISED + CENTRALISED

_FILES: Final[Mapping[str, str]] = {
    "vast": "vast_vms_v7.csv",
    "hyperbolic": "hyperbolic_vms_v7.csv",
    "runpod": "runpod_vms_v7.csv",
    "aws": "aws_gpu_us-east-1.csv",
    "gcp": "gcp_gpu_us-central1.csv",
    "lambda": "lambda_vms_v7.csv",
}
_GCP_EXTRA: Final = "gcp_gpu_us-central1_extra.csv"
_COLUMNS: Final = ("InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs",
                   "MemoryGiB", "Price", "SpotPrice", "Region")
# (accelerator, count) -> the GCP machine type that carries exactly those GPUs.
_GCP_HOSTS: Final[Mapping[tuple[str, int], str]] = {
    **{("A100", n): f"a2-highgpu-{n}g" for n in (1, 2, 4, 8)},
    ("A100", 16): "a2-megagpu-16g",
    **{("A100-80GB", n): f"a2-ultragpu-{n}g" for n in (1, 2, 4, 8)},
    **{("H100", n): f"a3-highgpu-{n}g" for n in (1, 2, 4, 8)},
    ("H100-MEGA", 8): "a3-megagpu-8g",
    ("H200", 8): "a3-ultragpu-8g",
}
# Book names whose meaning differs from the catalog's default for that name.
_BOOK_NAMES: Final[Mapping[tuple[str, str], str]] = {
    ("runpod", "H100"): "H100-PCIe",
    ("runpod", "A100-80GB"): "A100-80GB-PCIe",
}


@dataclass(frozen=True)
class Offer:
    """One instance shape at one price in one region."""

    provider: str
    instance_type: str
    accelerator: str  # catalog family, e.g. "H100"
    device_model: str  # catalog device, e.g. "H100-PCIe"
    count: int
    vcpus: float
    memory_gb: float  # host RAM, GiB
    price_per_hour: float  # USD per instance-hour, on demand
    spot_price_per_hour: float | None
    region: str

    @property
    def price_per_device_hour(self) -> float:
        """On-demand USD per device-hour."""
        return self.price_per_hour / self.count


@dataclass(frozen=True)
class PriceBook:
    """Offers from one or more providers, and what loading them skipped."""

    offers: tuple[Offer, ...]
    skipped: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (provider, why)

    def accelerators(self) -> list[str]:
        """The accelerator families on offer, sorted."""
        return sorted({o.accelerator for o in self.offers})

    def only(self, providers: Iterable[str]) -> PriceBook:
        """The offers (and skip counts) of the given providers alone."""
        keep = set(providers)
        return PriceBook(tuple(o for o in self.offers if o.provider in keep),
                         {k: n for k, n in self.skipped.items() if k[0] in keep})

    def for_accelerator(self, accelerator: str) -> tuple[Offer, ...]:
        """Offers of ``accelerator``'s family (any catalog name or alias is accepted).

        Raises:
            ComputeError: the name is not in the catalog.
        """
        family = device(accelerator).family
        return tuple(o for o in self.offers if o.accelerator == family)

    def per_device_hour(self, accelerator: str) -> list[float]:
        """On-demand USD per device-hour of every offer of ``accelerator``'s family."""
        return [o.price_per_device_hour for o in self.for_accelerator(accelerator)]

    def cheapest(self, accelerator: str) -> Offer:
        """The offer with the lowest per-device-hour price (ties: first loaded).

        Raises:
            ComputeError: nothing on offer for that accelerator.
        """
        return min(self._some(accelerator), key=lambda o: o.price_per_device_hour)

    def median(self, accelerator: str) -> float:
        """Median on-demand USD per device-hour over the offers of ``accelerator``.

        Raises:
            ComputeError: nothing on offer for that accelerator.
        """
        return statistics.median(o.price_per_device_hour for o in self._some(accelerator))

    def _some(self, accelerator: str) -> tuple[Offer, ...]:
        offers = self.for_accelerator(accelerator)
        if not offers:
            providers = sorted({o.provider for o in self.offers})
            raise ComputeError(
                f"no offer for {accelerator!r} from {', '.join(providers) or 'no provider'}; "
                f"on offer: {', '.join(self.accelerators())}")
        return offers


class _Skip(Exception):
    """A row that is not an offer; the message is the reason counted in ``skipped``."""


def load(names: Iterable[str] | None = None) -> PriceBook:
    """Read the packaged price books.

    Args:
        names: providers to load (``PROVIDERS``, ``DECENTRALISED``, ``CENTRALISED``
            or any subset); all of them when ``None``.

    Returns:
        A ``PriceBook`` of the offers, in file order, with the skip counts.

    Raises:
        ComputeError: an unknown provider name, or a file missing a column.
    """
    wanted = PROVIDERS if names is None else tuple(names)
    unknown = sorted(set(wanted) - set(PROVIDERS))
    if unknown:
        raise ComputeError(f"no price book for {', '.join(unknown)}; "
                           f"choose from {', '.join(PROVIDERS)}")
    offers: dict[Offer, None] = {}  # insertion-ordered set
    skipped: Counter[tuple[str, str]] = Counter()
    for provider in wanted:
        rows = _rows(_FILES[provider])
        hosts: dict[str, dict[str, str]] = {}
        if provider == "gcp":
            rows += _rows(_GCP_EXTRA)
            hosts = {r["InstanceType"]: r for r in rows if not r["AcceleratorName"]}
            rows = [r for r in rows if r["AcceleratorName"]]  # host VMs are not offers
        for row in rows:
            try:
                offer = _offer(provider, row, hosts)
            except _Skip as why:
                skipped[provider, str(why)] += 1
                continue
            if offer in offers:
                skipped[provider, "duplicate"] += 1
            offers[offer] = None
    return PriceBook(tuple(offers), dict(skipped))


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("plexnet.compute").joinpath("pricebooks", filename).read_text(
        encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ComputeError(f"price book {filename} lacks column(s) {', '.join(missing)}")
    return list(reader)


def _money(text: str) -> float | None:
    value = float(text) if text.strip() else 0.0
    return value if value > 0 else None


def _offer(provider: str, row: dict[str, str], hosts: Mapping[str, dict[str, str]]) -> Offer:
    name = row["AcceleratorName"].strip()
    if not name:
        raise _Skip("no accelerator")
    price = _money(row["Price"])
    if price is None:
        raise _Skip("no price")
    try:
        model = device(_device_name(provider, name, row["InstanceType"]))
    except ComputeError:
        raise _Skip("unknown accelerator") from None
    count = round(float(row["AcceleratorCount"]))
    spot = _money(row["SpotPrice"])
    instance, vcpus, memory = row["InstanceType"], row["vCPUs"], row["MemoryGiB"]
    if provider == "gcp":
        host = hosts.get(_GCP_HOSTS.get((name, count), ""))
        host_price = _money(host["Price"]) if host is not None else None
        if host is None or host_price is None:
            raise _Skip("no host VM")
        instance, vcpus, memory = host["InstanceType"], host["vCPUs"], host["MemoryGiB"]
        host_spot = _money(host["SpotPrice"])
        price += host_price
        spot = spot + host_spot if spot is not None and host_spot is not None else None
    return Offer(provider=provider, instance_type=instance, accelerator=model.family,
                 device_model=model.name, count=count, vcpus=float(vcpus),
                 memory_gb=float(memory), price_per_hour=price, spot_price_per_hour=spot,
                 region=row["Region"].strip())


def _device_name(provider: str, name: str, instance_type: str) -> str:
    """The most specific catalog name the row supports, within the book name's family."""
    if (provider, name) in _BOOK_NAMES:
        return _BOOK_NAMES[provider, name]
    hint = None
    if provider == "vast":  # "1x-H100_NVL-32-65536"
        parts = instance_type.split("-")
        hint = parts[1] if len(parts) > 1 else None
    elif provider == "lambda":  # "gpu_1x_h100_pcie"
        match = re.fullmatch(r"gpu_\d+x_(.+)", instance_type)
        hint = match.group(1) if match else None
    if hint is not None:
        try:
            specific = device(hint)
        except ComputeError:
            return name
        if specific.family == device(name).family:
            return specific.name
    return name
