"""Price books: packaged catalog snapshots, parsed by header, known answers from the CSVs."""

import csv
import io
from importlib import resources
from pathlib import Path

import pytest

from plexnet.compute.catalog import device
from plexnet.compute.errors import ComputeError
from plexnet.compute.pricebook import CENTRALISED, DECENTRALISED, PROVIDERS, load

SHARED = Path("/work/shared/testdata/prices")
FILES = ["SOURCE.txt", "aws_gpu_us-east-1.csv", "gcp_gpu_us-central1.csv",
         "gcp_gpu_us-central1_extra.csv", "hyperbolic_vms_v7.csv", "lambda_vms_v7.csv",
         "runpod_vms_v7.csv", "vast_vms_v7.csv"]


def _text(name: str) -> str:
    return resources.files("plexnet.compute").joinpath("pricebooks", name).read_text()


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_text(name))))


@pytest.fixture(scope="module")
def book():
    return load()


def _range(book, provider, accelerator):
    prices = book.only([provider]).per_device_hour(accelerator)
    return round(min(prices), 4), round(max(prices), 4)


def test_files_are_packaged_unchanged():
    assert "not live quotes" in _text("README.md")
    for name in FILES:
        text = _text(name)
        assert text
        if SHARED.exists():
            assert text == (SHARED / name).read_text(), name


def test_providers_split_into_two_disjoint_classes():
    assert set(DECENTRALISED) | set(CENTRALISED) == set(PROVIDERS)
    assert not set(DECENTRALISED) & set(CENTRALISED)
    assert len(PROVIDERS) == 6


def test_readme_h100_examples(book):
    # testdata/README.md: AWS p5 12.29, Lambda 2.49-3.29, RunPod 2.39-2.99, Hyperbolic 1.29-1.39
    assert _range(book, "aws", "H100") == (12.29, 12.29)  # p5.48xlarge 98.32 / 8
    assert _range(book, "lambda", "H100") == (2.49, 3.29)  # h100_pcie 2.49, 1x sxm5 3.29
    assert _range(book, "runpod", "H100") == (2.39, 2.99)  # PCIe 2.39, NVL 2.79, SXM 2.99
    assert _range(book, "hyperbolic", "H100") == (1.29, 1.39)


def test_readme_a100_80gb_examples(book):
    assert book.only(["aws"]).per_device_hour("A100-80GB") == [pytest.approx(40.96575 / 8)]
    assert _range(book, "aws", "A100-80GB") == (5.1207, 5.1207)  # README rounds to 5.12
    assert _range(book, "lambda", "A100-80GB") == (1.79, 1.79)  # 14.32 / 8
    # README: RunPod 1.64-1.89, read from the 1-GPU rows; the 2-, 4- and 8-GPU PCIe
    # pods cost 3.24, 6.48 and 12.96, i.e. 1.62 per GPU, so the full range starts lower.
    runpod = book.only(["runpod"])
    singles = {o.device_model: o.price_per_hour for o in runpod.for_accelerator("A100-80GB")
               if o.count == 1}
    assert singles == {"A100-80GB-PCIe": 1.64, "A100-80GB": 1.89}
    assert _range(book, "runpod", "A100-80GB") == (1.62, 1.89)


def test_each_file_is_read_by_its_own_header(book):
    # Price is column 7 in AWS, 9 in RunPod, 6 in Lambda; the same parser reads all three.
    p5 = next(o for o in book.offers if o.instance_type == "p5.48xlarge")
    assert (p5.count, p5.vcpus, p5.memory_gb, p5.price_per_hour, p5.spot_price_per_hour,
            p5.region) == (8, 192.0, 2048.0, 98.32, 30.326, "us-east-1")
    pod = next(o for o in book.offers if o.instance_type == "8x_H100-SXM_SECURE")
    assert (pod.price_per_hour, pod.spot_price_per_hour, pod.device_model) == (23.92, 21.52,
                                                                               "H100-SXM")
    lam = next(o for o in book.offers if o.instance_type == "gpu_1x_h100_pcie")
    assert (lam.price_per_hour, lam.spot_price_per_hour, lam.device_model) == (2.49, None,
                                                                               "H100-PCIe")


def test_gcp_gpu_rows_carry_their_host_vm(book):
    gcp = book.only(["gcp"])
    one = next(o for o in gcp.offers if o.accelerator == "A100-40GB" and o.count == 1)
    assert one.instance_type == "a2-highgpu-1g"
    assert one.price_per_hour == pytest.approx(2.93391 + 0.73948)  # GPU row + host row
    assert one.spot_price_per_hour == pytest.approx(1.1472 + 0.29576)
    assert (one.vcpus, one.memory_gb) == (12.0, 85.0)
    sixteen = next(o for o in gcp.offers if o.count == 16)
    assert sixteen.instance_type == "a2-megagpu-16g"
    assert sixteen.price_per_hour == pytest.approx(46.94253 + 8.79698)
    assert {o.instance_type for o in gcp.offers if o.accelerator == "A100-80GB"} == {
        f"a2-ultragpu-{n}g" for n in (1, 2, 4, 8)}
    mega = next(o for o in gcp.offers if o.instance_type == "a3-megagpu-8g")
    assert mega.price_per_hour == pytest.approx(82.75421 + 9.46006)
    # L4 (g2), T4 and V100 (n1) and B200 (a4) have no host VM row: 4 + 3 + 4 + 1 rows
    assert gcp.skipped == {("gcp", "no host VM"): 12}
    assert {"L4", "T4", "V100", "B200"}.isdisjoint(gcp.accelerators())


def test_skipped_rows_are_counted_against_the_csv_text(book):
    for provider, name in [("lambda", "lambda_vms_v7.csv"), ("runpod", "runpod_vms_v7.csv")]:
        empty = sum(1 for r in _rows(name) if not r["AcceleratorName"])
        assert book.skipped[provider, "no accelerator"] == empty
    assert book.skipped["lambda", "no accelerator"] == 17
    assert book.skipped["runpod", "no accelerator"] == 750
    # RunPod repeats each offer once per zone of a region; only the first row is kept.
    gpu_rows = [r for r in _rows("runpod_vms_v7.csv") if r["AcceleratorName"]]
    distinct = {(r["InstanceType"], r["Region"], r["Price"], r["SpotPrice"]) for r in gpu_rows}
    assert len(book.only(["runpod"]).offers) == len(distinct)
    assert book.skipped["runpod", "duplicate"] == len(gpu_rows) - len(distinct)
    assert not any(why == "unknown accelerator" for _, why in book.skipped)


def test_every_accelerator_in_the_books_resolves_in_the_catalog(book):
    for name in FILES[1:]:
        for row in _rows(name):
            if row["AcceleratorName"]:
                device(row["AcceleratorName"])
    for offer in book.offers:
        assert device(offer.device_model).family == offer.accelerator


def test_offers_are_sane(book):
    assert {o.provider for o in book.offers} == set(PROVIDERS)
    for o in book.offers:
        assert o.count >= 1 and o.price_per_hour > 0
        assert o.spot_price_per_hour is None or o.spot_price_per_hour > 0
    assert all(o.spot_price_per_hour is None for o in book.only(["vast"]).offers)  # 0.00


def test_summaries(book):
    decentral = load(DECENTRALISED)
    assert {o.provider for o in decentral.offers} == set(DECENTRALISED)
    cheapest = decentral.cheapest("H100")
    assert cheapest.provider == "hyperbolic"
    assert cheapest.price_per_device_hour == pytest.approx(1.29)
    assert book.only(CENTRALISED).cheapest("A100-80GB").provider == "lambda"
    assert book.only(["aws"]).median("H100") == pytest.approx(12.29)
    assert book.only(["lambda"]).median("H100") == pytest.approx(3.09)
    # any catalog name of a family selects the whole family
    assert book.per_device_hour("H100-PCIe") == book.per_device_hour("H100")


def test_errors_say_what_to_do(book):
    with pytest.raises(ComputeError, match=r"no offer for 'GH200' from .*on offer: A10"):
        book.only(DECENTRALISED).median("GH200")
    with pytest.raises(ComputeError, match="unknown device"):
        book.cheapest("H1000")
    with pytest.raises(ComputeError, match="no price book for azure; choose from vast"):
        load(["azure"])
