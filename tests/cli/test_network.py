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
