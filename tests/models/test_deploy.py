"""Model servers placed for a latency target: known choices, then real servers on Ray nodes."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits

from plexnet.compute.cluster import LocalCluster
from plexnet.compute.placement import ProviderState
from plexnet.compute.profile import ProviderProfile
from plexnet.compute.reputation import Reputation
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.errors import BlobNotFound
from plexnet.models.deploy import LATENCY_TIERS, choose_host, deploy
from plexnet.models.errors import DeployError
from plexnet.models.mlp import load_mlp, predict, save_mlp
from plexnet.models.supervised import train_mlp


def _profile(name, tier, rtt_ms, price, memory_gb=8.0):
    return ProviderProfile(name=name, device_kind="cpu", device_model="test", peak_flops=1e11,
                           memory_gb=memory_gb, tier=tier, region="local", bandwidth_mbps=100,
                           rtt_ms=rtt_ms, price_per_device_hour=price)


BOARD = _profile("board", "edge", 4, 0.10, memory_gb=2)
FAR_BOARD = _profile("far-board", "edge", 25, 0.06, memory_gb=2)  # edge tier, fog distance
METRO = _profile("metro", "fog", 12, 0.05)
METRO2 = _profile("metro2", "fog", 20, 0.05)  # same price as metro, farther
REGIONAL = _profile("regional", "fog", 40, 0.01)  # fog tier, beyond the fog bound
CLOUD = _profile("cloud", "cloud", 80, 0.02, memory_gb=80)
CLOUD_CHEAP = _profile("cloud-cheap", "cloud", 120, 0.005, memory_gb=16)
ALL = [BOARD, FAR_BOARD, METRO, METRO2, REGIONAL, CLOUD, CLOUD_CHEAP]


def test_the_targets_bound_tier_and_rtt():
    assert LATENCY_TIERS["edge"].tiers == ["edge"] and LATENCY_TIERS["edge"].max_rtt_ms == 10
    assert set(LATENCY_TIERS["fog"].tiers) == {"fog", "edge"}
    assert LATENCY_TIERS["fog"].max_rtt_ms == 30
    assert LATENCY_TIERS["cloud"].tiers == [] and LATENCY_TIERS["cloud"].max_rtt_ms is None


def test_edge_picks_the_edge_board_and_says_why_the_rest_are_out():
    placed = choose_host(ALL, "edge")
    assert placed.profile.name == "board"
    assert [s.profile.name for s in placed.candidates] == ["board"]
    why = dict(placed.excluded)
    assert set(why) == {p.name for p in ALL} - {"board"}
    assert why["far-board"] == "rtt 25 ms > max_rtt_ms 10"
    assert why["metro"].startswith("tier fog not in") and why["cloud"].startswith("tier cloud")
    assert placed.describe() == "tier edge, rtt <= 10 ms"


def test_fog_picks_the_cheapest_fog_and_breaks_the_price_tie_by_rtt():
    placed = choose_host(ALL, "fog")
    assert placed.profile.name == "metro"  # 0.05 like metro2, but 12 ms against 20
    assert [s.profile.name for s in placed.candidates] == ["metro", "metro2", "far-board",
                                                           "board"]
    why = dict(placed.excluded)
    assert why["regional"] == "rtt 40 ms > max_rtt_ms 30"
    assert set(why) == {"regional", "cloud", "cloud-cheap"}


def test_cloud_picks_the_cheapest_of_all():
    placed = choose_host(ALL, "cloud")
    assert placed.profile.name == "cloud-cheap" and placed.excluded == ()
    assert len(placed.candidates) == len(ALL)


def test_memory_and_an_rtt_override_change_the_answer():
    assert choose_host(ALL, "cloud", min_memory_gb=32).profile.name == "cloud"
    # a looser bound admits the cheaper, farther edge board; the tier still applies
    assert choose_host(ALL, "edge", max_rtt_ms=30).profile.name == "far-board"


def test_an_edge_target_without_an_edge_provider_fails_naming_each_one():
    with pytest.raises(DeployError) as info:
        choose_host([METRO, CLOUD], "edge")
    text = str(info.value)
    assert "no provider meets the edge target (tier edge, rtt <= 10 ms)" in text
    assert "cloud: tier cloud not in ['edge']" in text
    assert "metro: tier fog not in ['edge']" in text
    assert "serve at the fog target" in text


def test_min_reputation_excludes_a_provider_caught_cheating():
    caught = ProviderState(METRO, Reputation().observe(verified=1, failed=9))
    trusted = ProviderState(METRO2, Reputation().observe(verified=20))
    placed = choose_host([caught, trusted, CLOUD], "fog", min_reputation=0.6)
    assert placed.profile.name == "metro2"
    assert dict(placed.excluded)["metro"] == "reputation 0.167 < min_reputation 0.6"
    assert choose_host([caught, trusted], "fog").profile.name == "metro"  # without the bar


def test_bad_targets_and_empty_or_ambiguous_snapshots():
    with pytest.raises(DeployError, match="unknown latency target 'mars'"):
        choose_host(ALL, "mars")
    with pytest.raises(DeployError, match="no providers registered"):
        choose_host([], "cloud")
    with pytest.raises(ValueError, match="unique"):
        choose_host([METRO, METRO], "cloud")


# --- real servers on a real Ray cluster -------------------------------------

EDGE_NODE = _profile("edge1", "edge", 3, 0.08)
CLOUD_NODE = _profile("cloud1", "cloud", 70, 0.01)


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster([EDGE_NODE, CLOUD_NODE]) as c:
        yield c


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    x, y = load_digits(return_X_y=True)
    model, _ = train_mlp(x[:600], y[:600], 10, {"epochs": 2, "hidden": [16]})
    root = tmp_path_factory.mktemp("blobs")
    blobs = LocalBlobStore(root)
    data = save_mlp(model)
    return {"root": root, "cid": blobs.put(data), "model": load_mlp(data),
            "x": x[600:640].astype(np.float32)}


@pytest.mark.ray
@pytest.mark.slow
def test_served_on_the_chosen_node_answers_like_the_model_here(cluster, artifact):
    placed = choose_host([EDGE_NODE, CLOUD_NODE], "edge")
    assert placed.profile.name == "edge1"
    assert dict(placed.excluded) == {"cloud1": "tier cloud not in ['edge']"}
    with deploy(placed.profile, artifact["root"], models=[artifact["cid"]],
                max_rows=100) as served:
        assert served.provider == "edge1" and served.models == (artifact["cid"],)
        assert served.node_id == cluster.node_ids()["edge1"] != cluster.node_ids()["cloud1"]
        r = httpx.post(f"{served.url}/v1/models/{artifact['cid']}/predict",
                       json={"inputs": artifact["x"].tolist()})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == predict(artifact["model"], artifact["x"]).tolist()
        assert httpx.post(f"{served.url}/v1/models/{artifact['cid']}/predict",
                          json={"inputs": [[0.0] * 64] * 101}).status_code == 413  # max_rows
        assert served.alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{served.url}/healthz")
    assert not served.alive()
    served.stop()  # idempotent


@pytest.mark.ray
@pytest.mark.slow
def test_the_cloud_target_serves_from_the_cloud_node(cluster, artifact):
    placed = choose_host([EDGE_NODE, CLOUD_NODE], "cloud")
    assert placed.profile.name == "cloud1"  # cheaper, and the cloud target takes any tier
    served = deploy(placed.profile, artifact["root"])
    try:
        assert served.node_id == cluster.node_ids()["cloud1"] and served.models == ()
        # a model not preloaded loads on its first request
        r = httpx.post(f"{served.url}/v1/models/{artifact['cid']}/predict",
                       json={"inputs": artifact["x"][:3].tolist()})
        assert r.json()["predictions"] == predict(artifact["model"], artifact["x"][:3]).tolist()
    finally:
        served.stop()


@pytest.mark.ray
@pytest.mark.slow
def test_a_bad_model_fails_deploy_with_its_own_error(cluster, artifact):
    with pytest.raises(BlobNotFound, match="no blob"):
        deploy(EDGE_NODE, artifact["root"], models=["bafkrei" + "a" * 52])
