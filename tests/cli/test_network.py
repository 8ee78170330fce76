"""The network as users run it: `ray start` nodes, providers joining, a job quoted, run, paid."""

from __future__ import annotations

import json
import socket

import pytest

from tests.cli.test_cli import fails, ok, plexnet

pytestmark = [pytest.mark.ray, pytest.mark.slow]

JOB = {"job_id": "mm-1", "task": "bench.matmul", "params": {"n": 64},
       "workload": {"kind": "parallel", "units": 4}, "flops": 1e6, "deadline_s": 300,
       "budget_micro": 1_000_000, "verification": {"replication": 0.5, "min_replication": 0.5}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def network(tmp_path):
    home = tmp_path / "home"
    ok(plexnet(home, "network", "up", "--port", str(_free_port())))
    try:
        yield home
    finally:
        plexnet(home, "network", "down")


def test_providers_join_a_job_runs_and_they_leave(network, tmp_path):
    home = network
    for name in ("ada", "p1", "p2"):
        ok(plexnet(home, "id", "new", name))
    ok(plexnet(home, "ledger", "mint", "ada", "10"))
    assert "stake is 2" in fails(plexnet(home, "provider", "join", "p1", "--device",
                                         "RTX4090", "--stake", "2"))
    for name in ("p1", "p2"):
        ok(plexnet(home, "ledger", "mint", name, "5"))
    assert "unknown device" in fails(plexnet(home, "provider", "join", "p1", "--device", "GTX9999"))
    joined = json.loads(ok(plexnet(home, "provider", "join", "p1", "--device", "RTX4090",
                                   "--stake", "2", "--json")))
    assert joined["profile"]["device_model"] == "RTX4090" and joined["profile"]["stake_micro"]
    ok(plexnet(home, "provider", "join", "p2", "--device", "A100-80GB", "--stake", "2"))
    providers = json.loads(ok(plexnet(home, "provider", "list", "--json")))
    assert {p["name"] for p in providers} == {"p1", "p2"}
    assert all(p["stake_micro"] == 2_000_000 for p in providers)

    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(JOB))
    quoted = json.loads(ok(plexnet(home, "job", "quote", str(spec), "--json")))
    assert quoted["options"] and quoted["options"][0]["total_micro"] >= 0
    done = json.loads(ok(plexnet(home, "job", "submit", str(spec), "--as", "ada", "--json")))
    assert sorted(done["results"]) == ["0", "1", "2", "3"]
    assert done["refund_micro"] + sum(done["paid_micro"].values()) == JOB["budget_micro"]
    status = json.loads(ok(plexnet(home, "job", "status", "mm-1", "--json")))
    assert status["job"]["status"] == "settled"
    assert any(a["purpose"] == "replica" for a in status["attempts"])
    logs = json.loads(ok(plexnet(home, "job", "logs", "mm-1", "--json")))
    kinds = [e["kind"] for e in logs]
    for kind in ("job.submit", "job.place", "job.receipt", "job.verify", "job.settle"):
        assert kind in kinds
    # the same job id again is refused by the ledger, with the budget still with ada
    assert "already exists" in fails(plexnet(home, "job", "submit", str(spec), "--as", "ada"))
    assert "settled" in fails(plexnet(home, "job", "cancel", "mm-1", "--as", "ada"))
    ok(plexnet(home, "provider", "leave", "p2"))
    shown = json.loads(ok(plexnet(home, "provider", "show", "p2", "--json")))
    assert shown["status"] == "left" and shown["stake_micro"] == 0
    assert "ok:" in ok(plexnet(home, "ledger", "verify"))


def test_bad_job_specs_are_one_line_errors(network, tmp_path):
    home = network
    bad = tmp_path / "bad.json"
    bad.write_text('{"job_id": "x", "task": "Not A Kind", "budget_micro": 1}')
    assert "task" in fails(plexnet(home, "job", "quote", str(bad)))
    bad.write_text("{not json")
    assert "invalid" in fails(plexnet(home, "job", "quote", str(bad)))
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(JOB))
    assert "no provider" in fails(plexnet(home, "job", "quote", str(spec)))
    assert "no job" in fails(plexnet(home, "job", "status", "nope"))
    spec.write_text(json.dumps({**JOB, "task": "mine.bitcoin"}))
    assert "unknown task kind 'mine.bitcoin'" in fails(plexnet(home, "job", "quote", str(spec)))


def test_a_model_trained_and_fine_tuned_on_the_network_is_registered_from_its_jobs(
        network, tmp_path):
    home = network
    for name in ("ada", "alice", "curator", "p1", "p2"):
        ok(plexnet(home, "id", "new", name))
    ok(plexnet(home, "ledger", "mint", "ada", "10"))
    for name in ("p1", "p2"):
        ok(plexnet(home, "ledger", "mint", name, "5"))
        ok(plexnet(home, "provider", "join", name, "--device", "RTX4090", "--stake", "2"))
    ok(plexnet(home, "data", "ingest", "sklearn:wine", "--dataset", "wine", "--as", "alice"))
    ok(plexnet(home, "data", "admit", "wine", "--as", "curator"))
    manifest = json.loads(ok(plexnet(home, "data", "show", "wine@1", "--json")))["manifest_cid"]

    def train(job_id: str, inputs: list[str], params: dict) -> None:
        spec = tmp_path / f"{job_id}.json"
        spec.write_text(json.dumps({
            "job_id": job_id, "task": "train.supervised", "inputs": inputs, "params": params,
            "flops": 1e8, "deadline_s": 300, "budget_micro": 1_000_000,
            "verification": {"replication": 1.0, "min_replication": 1.0}}))
        ok(plexnet(home, "job", "submit", str(spec), "--as", "ada", "--json"))

    train("train-wine-1", [manifest], {"hidden": [16], "epochs": 5})
    general = json.loads(ok(plexnet(home, "model", "register", "wine-1", "--job", "train-wine-1",
                                    "--as", "ada", "--json")))
    # everything is read from the job: the dataset it was given, the receipts of both
    # replicas, the card of the artifact it made; no parent, so tier L0
    assert general["lineage"] == {"dataset": "wine@1", "dataset_root": general["lineage"][
        "dataset_root"], "job_id": "train-wine-1", "parents": []}
    assert general["card"]["tier"] == "L0"
    assert general["card"]["params"] == 13 * 16 + 16 + 16 * 3 + 3  # 13 features, 3 classes
    assert len(general["receipts"]) == 2 and "train_accuracy" in general["metrics"]

    train("tune-wine-1", [manifest, general["artifact_cid"]], {"epochs": 2})
    tuned = json.loads(ok(plexnet(home, "model", "register", "wine-1-tuned", "--job",
                                  "tune-wine-1", "--as", "ada", "--tier", "L1", "--json")))
    assert tuned["lineage"]["parents"] == ["wine-1"]  # the job read wine-1's artifact
    assert tuned["card"]["tier"] == "L1" and tuned["metrics"]["parent"] == general["artifact_cid"]
    checks = json.loads(ok(plexnet(home, "model", "verify", "wine-1-tuned", "--json")))
    assert all(c["ok"] for c in checks) and {c["model"] for c in checks} == {"wine-1",
                                                                              "wine-1-tuned"}
    assert any(c["check"] == "inputs" and "wine-1" in c["detail"] for c in checks)
    # bad input: one line each, nothing written
    assert "already registered" in fails(plexnet(home, "model", "register", "wine-1", "--job",
                                                 "train-wine-1", "--as", "ada"))
    assert "no job 'nope'" in fails(plexnet(home, "model", "register", "x", "--job", "nope",
                                            "--as", "ada"))
    assert "unknown tier 'L9'" in fails(plexnet(home, "model", "register", "x", "--job",
                                                "tune-wine-1", "--as", "ada", "--tier", "L9"))
    assert "more general than parent" in fails(plexnet(
        home, "model", "register", "x", "--job", "tune-wine-1", "--as", "ada", "--parent",
        "wine-1-tuned", "--tier", "L0"))
    assert "x" not in {m["model_id"] for m in json.loads(ok(plexnet(home, "model", "list",
                                                                    "--json")))}
