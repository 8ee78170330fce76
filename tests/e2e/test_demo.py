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
    data = facts["dataset"]
    admitted = data["admission"]
    assert data["records"] == sum(c["accepted"] for c in admitted.values())
    assert sum(sum(c.values()) for c in admitted.values()) + data["held_out"] == 1797
    # admission: every planted fault is kept out, by the right gate, and few clean records
    planted = data["planted"]
    assert planted["exact_duplicates"] == {"planted": 12, "caught": 12,
                                           "by": ["exact_duplicates"]}
    assert planted["near_duplicates"]["caught"] == 12
    assert "near_duplicates" in planted["near_duplicates"]["by"]
    assert planted["flipped_labels"]["caught"] >= 18
    assert "label_issues" in planted["flipped_labels"]["by"]
    assert planted["backdoor"]["caught"] >= 27 and "backdoor" in planted["backdoor"]["by"]
    assert planted["undeclared_synthetic"] == {"planted": 10, "caught": 10, "by": ["synthetic"]}
    assert planted["clean"]["caught"] <= 0.02 * planted["clean"]["planted"]
    # the label-issue folds and the backdoor gate's model ran as jobs on the network, for
    # each of the two batches
    assert len(data["gate_jobs"]) == 4
    train, infer = facts["train"], facts["infer"]
    # training: the cheapest eligible provider; the edge NPU is excluded; one replica agreed
    assert "edge" in train["excluded"] and list(train["placed"]) == ["laptop"]
    assert sorted(a["verdict"] for a in train["attempts"]) == ["ok", "ok"]
    assert all(v > 0 for v in train["paid_micro"].values())
    # inference: the cheat is caught and slashed and never paid; the dropout is recovered
    assert infer["caught"] == ["laptop"] and "laptop" not in infer["paid_micro"]
    assert infer["slashed_micro"]["laptop"] > 0
    # the model layer: a promoted student served at the edge, the teacher in the cloud,
    # a router between them saving cost, every model's lineage verified
    student, serving = facts["student"], facts["serving"]
    assert student["promoted"] and student["accuracy_share"] >= 0.97
    assert student["speedup"] >= 2 and student["param_ratio"] >= 5
    assert serving["edge_provider"] == "edge" and serving["cloud_provider"] == "cloud"
    assert serving["cost_saving"] > 0.5
    assert serving["accuracy"]["routed"] >= serving["accuracy"]["teacher_only"] - 0.02
    # L0 -> L1 -> L2: each tier is the best of the three on its own domain's held-out
    # digits (measured 0.944 vs 0.777 on scans, 0.731 vs 0.333 on the clinic's scans)
    tiers = facts["tiers"]
    acc = tiers["accuracy"]
    l0, l1, l2 = "digits-mlp-1", "digits-scans-1", "clinic-south-scans-1"
    assert [tiers["models"][m]["tier"] for m in (l0, l1, l2)] == ["L0", "L1", "L2"]
    assert acc[l1]["scans"] >= acc[l0]["scans"] + 0.08
    assert acc[l2]["clinic-south"] >= max(acc[l0]["clinic-south"], acc[l1]["clinic-south"]) + 0.2
    assert acc[l1]["digits"] >= acc[l0]["digits"] - 0.02  # the industry model keeps digits
    assert facts["verified"]["models"] == sorted([l0, l1, l2, "digits-student-1"])
    assert infer["lost_providers"] == ["desktop"]
    # the model's lineage reads back from the ledger: data, contributors and the job
    lineage = subprocess.run([sys.executable, "-m", "plexnet", "model", "lineage",
                              facts["model"]["model_id"], "--json"], env=env,
                             capture_output=True, timeout=120)
    assert lineage.returncode == 0, lineage.stderr.decode()
    edges = {(e["from"], e["label"]) for e in json.loads(lineage.stdout)["edges"]}
    assert ("digits@1", "trained on") in edges
    assert (f"job:{train['job_id']}", "trained by") in edges
    chain = subprocess.run([sys.executable, "-m", "plexnet", "model", "lineage", l2, "--json",
                            "--png", str(tmp_path / "chain.png")], env=env,
                           capture_output=True, timeout=120)
    assert chain.returncode == 0, chain.stderr.decode()
    edges = {(e["from"], e["to"], e["label"]) for e in json.loads(chain.stdout)["edges"]}
    assert {(f"model:{l0}", f"model:{l1}", "parent"),
            (f"model:{l1}", f"model:{l2}", "parent"),
            ("digits@1", "clinic-south-scans@1", "augment")} <= edges
    assert (tmp_path / "chain.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(a["status"] == "lost" for a in infer["attempts"])
    assert any(a["verdict"] == "bad" for a in infer["attempts"])
    ledger = facts["ledger"]
    assert ledger["entries"] == ledger["head"]["size"] and ledger["root"] == ledger["head"]["root"]
    assert ledger["balances_micro"] == ledger["minted_micro"]
    # the student's lineage verifies again from a separate process, teacher included
    checked = subprocess.run([sys.executable, "-m", "plexnet", "model", "verify",
                              "digits-student-1", "--json"], env=env, capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stderr
    assert all(c["ok"] for c in json.loads(checked.stdout))
    # the ledger on disk verifies again from a separate process
    again = subprocess.run([sys.executable, "-m", "plexnet", "ledger", "verify", "--json"],
                           env=env, capture_output=True, timeout=120)
    report = json.loads(again.stdout)
    assert again.returncode == 0 and report["ok"], report
    model = subprocess.run([sys.executable, "-m", "plexnet", "blob", "get",
                            facts["model"]["artifact_cid"]], env=env, capture_output=True)
    assert model.returncode == 0 and len(model.stdout) > 10_000
