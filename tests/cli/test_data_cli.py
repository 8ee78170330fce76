"""``plexnet data``: ingest, admit, inspect, prove and check, in real processes."""

from __future__ import annotations

import json

import numpy as np

from tests.cli.test_cli import fails, ok, plexnet


def _csv(path, rows):
    lines = ["a,b,label"] + [f"{a},{b},{lab}" for a, b, lab in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_contribute_admit_prove_and_trace(tmp_path):
    home = tmp_path / "home"
    ok(plexnet(home, "ledger", "init", "--log-id", "data-cli"))
    for name in ("alice", "bob", "curator"):
        ok(plexnet(home, "id", "new", name))
    rng = np.random.default_rng(0)
    mine = [(round(float(a), 3), round(float(b), 3), "yes" if a > b else "no")
            for a, b in rng.random((40, 2))]
    theirs = mine[:3] + [(round(float(a), 3), round(float(b), 3), "yes" if a > b else "no")
                         for a, b in rng.random((20, 2))]
    a = json.loads(ok(plexnet(home, "data", "ingest", str(_csv(tmp_path / "a.csv", mine)),
                              "--dataset", "toy", "--as", "alice", "-o", "label=label",
                              "--json")))
    assert a["records"] == 40
    ok(plexnet(home, "data", "ingest", str(_csv(tmp_path / "b.csv", theirs)), "--dataset",
               "toy", "--as", "bob", "-o", "label=label"))
    admitted = json.loads(ok(plexnet(home, "data", "admit", "toy", "--as", "curator",
                                     "--json")))
    assert admitted["version"] == "toy@1"
    bob = admitted["batches"][1]
    assert bob["rejected"] >= 3 and bob["by_gate"]["exact_duplicates"] == 3, json.dumps(admitted)
    shown = json.loads(ok(plexnet(home, "data", "show", "toy@1", "--json")))
    assert shown["records"] == admitted["counts"]["accepted"]
    report = json.loads(ok(plexnet(home, "data", "report", bob["report_cid"], "--json")))
    assert report["counts"]["rejected"] == bob["rejected"]
    people = json.loads(ok(plexnet(home, "data", "contributors", "--json")))
    assert {p["name"] for p in people} == {"alice", "bob"}
    ok(plexnet(home, "data", "prove", "toy@1", "5", "-o", str(tmp_path / "proof.json")))
    checked = json.loads(ok(plexnet(home, "data", "check", str(tmp_path / "proof.json"),
                                    "--json")))
    assert checked["valid"] and checked["dataset"] == "toy@1"
    proof = json.loads((tmp_path / "proof.json").read_text())
    proof["record"] = proof["record"].replace('"y":', '"y":1,"z":')
    (tmp_path / "bad.json").write_text(json.dumps(proof))
    fails(plexnet(home, "data", "check", str(tmp_path / "bad.json")))
    ok(plexnet(home, "data", "lineage", "toy@1", "--png", str(tmp_path / "l.png")))
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
    ok(plexnet(home, "data", "export", "toy@1", "-o", str(tmp_path / "out.csv")))
    assert len((tmp_path / "out.csv").read_text().splitlines()) == shown["records"] + 1
    # bad input: one line, exit 1, nothing half-written
    assert "does not exist" in fails(plexnet(home, "data", "ingest", str(tmp_path / "no.csv"),
                                             "--dataset", "toy", "--as", "alice", "-o",
                                             "label=label"))
    assert "no pending batches" in fails(plexnet(home, "data", "admit", "toy", "--as",
                                                 "curator"))
    assert "unknown gate" in fails(plexnet(home, "data", "gate", "nope", "toy@1"))
    assert "not 99" in fails(plexnet(home, "data", "prove", "toy@1", "99"))
    assert "NAME@VERSION" in fails(plexnet(home, "data", "show", "toy"))
    listed = json.loads(ok(plexnet(home, "data", "list", "--json")))
    assert [v["ref"] for v in listed["versions"]] == ["toy@1"] and not listed["pending"]


def test_augment_signs_in_children_that_the_provenance_gate_rederives(tmp_path):
    from PIL import Image

    home = tmp_path / "home"
    ok(plexnet(home, "ledger", "init", "--log-id", "augment-cli"))
    for name in ("alice", "bob", "curator"):
        ok(plexnet(home, "id", "new", name))
    rng = np.random.default_rng(1)
    for side, label in enumerate(("left", "right")):  # the bright half is the label
        (tmp_path / "img" / label).mkdir(parents=True)
        for k in range(12):
            pixels = rng.integers(0, 150, (8, 8))  # distinct images: far apart
            pixels[:, 4 * side:4 * side + 4] += 100
            pixels = pixels.astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(tmp_path / "img" / label / f"{k}.png")
    ok(plexnet(home, "data", "ingest", str(tmp_path / "img"), "--dataset", "pics", "--as",
               "alice"))
    ok(plexnet(home, "data", "admit", "pics", "--as", "curator"))
    made = json.loads(ok(plexnet(home, "data", "augment", "pics@1", "--as", "bob", "-t",
                                 "flip:horizontal=false,vertical=true", "-t",
                                 "rotate:max_degrees=10", "--json")))
    # one child per parent and transform, less any equal to its parent or a sibling
    assert 40 <= made["records"] <= 48 and made["parents"] == 24
    admitted = json.loads(ok(plexnet(home, "data", "admit", "pics", "--as", "curator",
                                     "--json")))
    assert admitted["version"] == "pics@2"
    assert admitted["batches"][0]["by_gate"]["provenance"] == 0
    assert admitted["counts"]["accepted"] == made["records"], json.dumps(admitted)
    # bad input: one line, exit 1
    assert "unknown transform" in fails(plexnet(home, "data", "augment", "pics@2", "--as",
                                                "bob", "-t", "shear"))
    assert "takes max_degrees" in fails(plexnet(home, "data", "augment", "pics@2", "--as",
                                                "bob", "-t", "rotate:angle=3"))
    assert "max_degrees" in fails(plexnet(home, "data", "augment", "pics@2", "--as", "bob",
                                          "-t", "rotate:max_degrees=400"))


def test_synthesize_signs_in_watermarked_samples_within_the_budget(tmp_path):
    home = tmp_path / "home"
    ok(plexnet(home, "ledger", "init", "--log-id", "synth-cli"))
    for name in ("alice", "gen", "curator"):
        ok(plexnet(home, "id", "new", name))
    ok(plexnet(home, "data", "ingest", "sklearn:wine", "--dataset", "wine", "--as", "alice"))
    first = json.loads(ok(plexnet(home, "data", "admit", "wine", "--as", "curator",
                                  "--synthetic-budget", "0.2", "--json")))
    real = first["counts"]["accepted"]
    made = json.loads(ok(plexnet(home, "data", "synthesize", "wine@1", "--as", "gen",
                                 "--per-class", "20", "--json")))
    assert made["records"] == 60 and made["fidelity"]["column_shapes"] > 0.7
    second = json.loads(ok(plexnet(home, "data", "admit", "wine", "--as", "curator",
                                   "--json")))
    batch = second["batches"][0]
    allowed = int(0.2 * real / 0.8)  # s / (real + s) <= 0.2
    assert batch["by_gate"]["synthetic_budget"] == 60 - allowed
    assert batch["by_gate"]["synthetic"] == 0  # declared synthetic, with its generator
    assert "--per-class must be at least 1" in fails(plexnet(
        home, "data", "synthesize", "wine@2", "--as", "gen", "--per-class", "0"))
    assert "unknown generator" in fails(plexnet(
        home, "data", "synthesize", "wine@2", "--as", "gen", "--generator", "gan"))
