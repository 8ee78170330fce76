"""The whole story, as `make demo` runs it, in a real process with a real Ray cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_demo_end_to_end(tmp_path):
    env = {**os.environ, "PLEXNET_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "plexnet", "demo", "--fresh", "--json"],
                            env=env, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    facts = json.loads(result.stdout)
    assert facts["accuracy"] > 0.9
    assert facts["dataset"]["records"] + facts["dataset"]["held_out"] == 1797
    assert facts["job"]["provider"] == "desktop"       # cheapest that meets the requirements
    assert "edge" in facts["job"]["excluded"]
    assert facts["job"]["paid_micro"] > 0
    ledger = facts["ledger"]
    assert ledger["entries"] == ledger["head"]["size"] and ledger["root"] == ledger["head"]["root"]
    assert ledger["balances_micro"] == ledger["minted_micro"]
    # the ledger on disk verifies again from a separate process
    again = subprocess.run([sys.executable, "-m", "plexnet", "ledger", "verify", "--json"],
                           env=env, capture_output=True, timeout=120)
    report = json.loads(again.stdout)
    assert again.returncode == 0 and report["ok"], report
    model = subprocess.run([sys.executable, "-m", "plexnet", "blob", "get",
                            facts["model"]["artifact_cid"]], env=env, capture_output=True)
    assert model.returncode == 0 and len(model.stdout) > 10_000
