"""``plexnet serve --tier``: the placement half as users meet it, refusals as one line, exit 1.

Serving on a real provider node is tested at the library level
(tests/models/test_deploy.py); here the CLI must choose from the ledger's
providers, say why a target cannot be met, and refuse bad flag combinations.
"""

from __future__ import annotations

from plexnet.cli.workspace import Workspace
from plexnet.compute.profile import ProviderProfile
from plexnet.ledger import Entry
from plexnet.ledger.kinds import jobs as jb
from plexnet.ledger.kinds.identity import IdentityRegister
from tests.cli.test_cli import fails, ok, plexnet


def _register(home, name, tier, rtt_ms):
    """A provider on the ledger whose key this home holds (its node is not started)."""
    ws = Workspace({"home": str(home)})
    try:
        me = ws.keystore.create(name)
        profile = ProviderProfile(name=name, device_kind="cpu", device_model="test",
                                  peak_flops=1e11, memory_gb=4, tier=tier, region="local",
                                  bandwidth_mbps=100, rtt_ms=rtt_ms, price_per_device_hour=0.1)
        ws.ledger.append([Entry.create(me, IdentityRegister(did=me.did, name=name)),
                          Entry.create(me, jb.ProviderRegister(
                              profile=profile.model_dump(mode="json")))])
    finally:
        ws.close()


def test_serve_with_a_tier_refuses_clearly(tmp_path):
    home = tmp_path / "home"
    assert "no ledger here" in fails(plexnet(home, "serve", "--tier", "edge"))
    ok(plexnet(home, "ledger", "init", "--log-id", "serve-tier"))
    assert "--tier must be one of edge, fog, cloud" in fails(plexnet(home, "serve", "--tier",
                                                                     "mars"))
    assert "--host applies to a local server only" in fails(
        plexnet(home, "serve", "--tier", "edge", "--host", "0.0.0.0"))
    assert "--max-rtt-ms applies with --tier only" in fails(
        plexnet(home, "serve", "--max-rtt-ms", "5"))
    assert "no providers registered" in fails(plexnet(home, "serve", "--tier", "cloud"))

    _register(home, "cloud1", "cloud", 70)
    text = fails(plexnet(home, "serve", "--tier", "edge"))
    assert "no provider meets the edge target" in text
    assert "cloud1: tier cloud not in ['edge']" in text and len(text.strip().splitlines()) == 1
    # the cloud target is met, so the next step is the network, and there is none here
    assert "no network head here" in fails(plexnet(home, "serve", "--tier", "cloud"))
