"""``plexnet demo``: the whole story on embedded defaults, every step a real library call.

1. identities: a requester, four providers (cloud GPU-class, idle desktop, laptop,
   edge board; four Ray nodes here), two data contributors, and the ledger operator;
2. credits minted; providers lock stakes and register signed profiles;
3. each contributor signs a share of scikit-learn's digits in as a batch; one batch
   carries planted faults (exact and near copies of the other's records, flipped
   labels, a BadNets backdoor); admission runs the gates (the label-issue gate's
   fold models run as paid, verified jobs on the providers), keeps out what they
   catch, stores signed gate reports and publishes digits@1 (manifest in the blob
   store, Merkle root on the ledger); a contributor proves one record is in it;
4. a training job is quoted (MILP over the providers), escrowed, placed, and run
   on Ray pinned to the chosen provider's node; a second provider trains it again
   and the two model CIDs must agree; both sign receipts; verified work is paid;
5. the model (safetensors, in the blob store) is registered with its lineage;
6. inference on held-out digits runs as a 12-shard parallel job: half the shards
   are replicated on other providers; the laptop fakes half of its results and is
   caught, slashed and re-run elsewhere; the desktop's node is killed mid-job and
   its attempts re-run; accuracy comes from verified shards only;
7-8. the model layer's ending (``demo_models.py``): a student distilled on the
   network, promoted, exported to ONNX and registered; served at the edge with the
   teacher in the cloud and a router between them;
9. the L0 → L1 → L2 chain (``demo_tiers.py``): the general model fine-tuned on
   derived scanned forms (industry), then on one clinic's own scans (vertical), each
   a job on the network, each registered with its tier and parent, scored on every
   domain's held-out digits;
10. every model's lineage verified from the ledger and the blob store;
11. the ledger is verified from scratch; a summary is printed.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.markup import escape

from plexnet.cli.demo_models import (
    ModelStage,
    distil_and_promote,
    serve_and_route,
    verify_models,
)
from plexnet.cli.demo_tiers import fine_tune_tiers
from plexnet.cli.output import err, out, print_json, print_table, short
from plexnet.cli.workspace import OPERATOR, Workspace

__all__ = ["run_demo"]

REQUESTER = "ada"
CONTRIBUTORS = ("clinic-north", "clinic-south")
TEST_FRACTION = 0.2
BUDGET_CREDITS = 5.0
INFER_SHARDS = 12
CHEAT = "laptop"     # fakes half of its inference results
DROPOUT = "desktop"  # its node is killed mid-job
PROVIDER_GRANT_CREDITS = 20.0
CURATOR_GRANT_CREDITS = 20.0
GATE_BUDGET_CREDITS = 2.0
TRIGGER_TARGET = 7    # the backdoor's target label
STAKE_CREDITS = 10.0
TRAIN_PARAMS: dict[str, Any] = {"hidden": [256, 256], "epochs": 30, "seed": 0}  # the teacher


def _profiles() -> list[Any]:
    """Four providers; device figures are the vendors' published peaks, prices from
    the price books in ../shared/testdata/prices (RunPod A100 80GB on-demand 1.64-1.89
    per GPU-hour) and typical electricity-plus-margin asks for idle hardware."""
    from plexnet.compute.profile import ProviderProfile
    from plexnet.ledger.kinds.credits import micro

    return [
        ProviderProfile(name="cloud", device_kind="gpu", device_model="A100-SXM4-80GB",
                        peak_flops=19.5e12, memory_gb=80, tier="cloud", region="us-east",
                        bandwidth_mbps=10_000, rtt_ms=40, price_per_device_hour=1.79,
                        stake_micro=micro(STAKE_CREDITS)),
        ProviderProfile(name="desktop", device_kind="cpu", device_model="Ryzen 9 7950X",
                        peak_flops=1.2e12, memory_gb=64, tier="fog", region="eu-west",
                        bandwidth_mbps=500, rtt_ms=15, price_per_device_hour=0.08,
                        stake_micro=micro(STAKE_CREDITS)),
        ProviderProfile(name="laptop", device_kind="gpu", device_model="Apple M2",
                        peak_flops=3.6e12, memory_gb=24, tier="fog", region="eu-west",
                        bandwidth_mbps=200, rtt_ms=20, price_per_device_hour=0.05,
                        stake_micro=micro(STAKE_CREDITS)),
        ProviderProfile(name="edge", device_kind="npu", device_model="Jetson Orin Nano 8GB",
                        peak_flops=1.28e12, memory_gb=8, tier="edge", region="eu-west",
                        bandwidth_mbps=50, rtt_ms=8, price_per_device_hour=0.02,
                        stake_micro=micro(STAKE_CREDITS)),
    ]


class _Story:
    def __init__(self, ws: Workspace, quiet: bool) -> None:
        self.ws = ws
        self.quiet = quiet
        self.started = time.perf_counter()
        self.facts: dict[str, Any] = {}

    @contextmanager
    def step(self, number: int, title: str) -> Iterator[None]:
        begun = time.perf_counter()
        with err.status(f"[bold]{number}.[/bold] {title} ..."):
            yield
        if not self.quiet:
            err.print(f"[green]✓[/green] [bold]{number}.[/bold] {title} "
                      f"[dim]({time.perf_counter() - begun:.1f} s)[/dim]")

    def say(self, text: str) -> None:
        if not self.quiet:
            err.print(f"   {text}", highlight=False)


def _reset_home(ws: Workspace) -> None:
    s = ws.settings
    for path in (s.keystore, s.blob_root):
        shutil.rmtree(path, ignore_errors=True)
    if s.sqlite_path is not None:
        for suffix in ("", "-wal", "-shm"):
            s.sqlite_path.with_name(s.sqlite_path.name + suffix).unlink(missing_ok=True)


def run_demo(ws: Workspace, *, fresh: bool, json_out: bool) -> None:
    """Run the story; see the module docstring."""
    from plexnet.core.errors import ConfigError

    if ws.settings.sqlite_path is None:
        raise ConfigError("the demo runs on an embedded SQLite ledger; drop --db")
    if not fresh and (ws.settings.sqlite_path.exists() or ws.keystore.names()):
        raise ConfigError(f"{ws.settings.home} already holds plexnet state; pass --fresh to "
                          "wipe it, or --home to use another directory")
    _reset_home(ws)
    story = _Story(ws, quiet=json_out)
    _run(story)
    if json_out:
        print_json(story.facts)
    else:
        _summary(story)


def _run(story: _Story) -> None:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from plexnet.compute.cluster import LocalCluster
    from plexnet.compute.controller import JobReport, run_parallel_job
    from plexnet.compute.job import JobSpec, Requirements, VerificationPolicy, Workload
    from plexnet.compute.placement import ProviderState, place, quote
    from plexnet.compute.runner import Faults
    from plexnet.compute.settlement import Participant
    from plexnet.data import Derivation, Records, Schema, contribute, publish, record_proof
    from plexnet.data.admission import admit, default_policy
    from plexnet.data.network import JobRunner
    from plexnet.data.synthesis import ConditionalVAE
    from plexnet.ledger import Entry, Ledger, merkle, verify_ledger
    from plexnet.ledger.kinds import credits as cr
    from plexnet.ledger.kinds.identity import IdentityRegister
    from plexnet.ledger.kinds.jobs import JobSubmit, ProviderRegister, attempt_key
    from plexnet.models import batch, supervised  # register their task kinds  # noqa: F401
    from plexnet.models.batch import decode_predictions
    from plexnet.models.mlp import MLP
    from plexnet.models.registry import register_from_job

    ws, facts = story.ws, story.facts
    profiles = _profiles()

    with story.step(1, "identities and the ledger"):
        operator = ws.keystore.create(OPERATOR)
        ledger = Ledger.create(ws.engine, operator)
        people = {name: ws.keystore.create(name)
                  for name in (REQUESTER, *(p.name for p in profiles), *CONTRIBUTORS)}
        roles = {REQUESTER: ["requester"], **{p.name: ["provider"] for p in profiles},
                 **{c: ["contributor"] for c in CONTRIBUTORS}}
        ledger.append([Entry.create(i, IdentityRegister(did=i.did, name=n, roles=roles[n]))
                       for n, i in people.items()])
        cluster = LocalCluster(profiles).start()
        story.say(f"ledger {ledger.log_id}; operator {short(operator.did)}")
        story.say(f"Ray cluster: {len(profiles)} provider nodes, "
                  + ", ".join(f"{p.name}={short(n, 8)}" for p, n in
                              zip(profiles, cluster.node_ids().values(), strict=True)))

    try:
        with story.step(2, "credits, stakes and signed provider profiles"):
            requester = people[REQUESTER]
            batch = [Entry.create(operator, cr.Mint(to=requester.did, amount=cr.micro(100),
                                                    memo="demo credits")),
                     Entry.create(operator, cr.Mint(to=people[CONTRIBUTORS[0]].did,
                                                    amount=cr.micro(CURATOR_GRANT_CREDITS),
                                                    memo="curator credits for gate jobs"))]
            for p in profiles:
                me = people[p.name]
                batch += [
                    Entry.create(operator, cr.Mint(to=me.did, amount=cr.micro(
                        PROVIDER_GRANT_CREDITS), memo="onboarding grant")),
                    Entry.create(me, cr.Escrow(escrow_id=f"stake-{p.name}",
                                               amount=p.stake_micro, arbiter=operator.did,
                                               purpose="provider stake")),
                    Entry.create(me, ProviderRegister(profile=p.model_dump(mode="json"))),
                ]
            ledger.append(batch)
            story.say("minted 100 credits to the requester, 20 to the digits curator and to "
                      "each provider; each provider staked 10")

        participants = [
            Participant(ProviderState(p), people[p.name].did, p.name, f"stake-{p.name}")
            for p in profiles]

        with story.step(3, "signed contributions, admission gates, dataset digits@1"):
            digits = load_digits()
            x, y = digits.data.astype(np.float64), digits.target.astype(np.int64)
            x_pool, x_test, y_pool, y_test = train_test_split(
                x, y, test_size=TEST_FRACTION, random_state=0, stratify=y)
            schema = Schema(kind="image", shape=[8, 8], labels=[str(i) for i in range(10)],
                            value_range=(0, 16),
                            description="8x8 handwritten digits, 0-16 grey levels")
            cut = int(len(y_pool) * 0.6)
            north = Records.make(y_pool[:cut], x=x_pool[:cut])
            # clinic-south passes off ten generated digits (plexnet's VAE, which
            # watermarks what it makes) as collected ones
            fake = ConditionalVAE(seed=0, value_range=(0, 16)).fit(north).sample(1, seed=3)
            south, planted = _plant_faults(x_pool[cut:], y_pool[cut:], x_pool[:cut],
                                           y_pool[:cut], fake, np.random.default_rng(3))
            batches = []
            for name, records in zip(CONTRIBUTORS, (north, south), strict=True):
                _cid, entry = contribute(people[name], ws.blobs, "digits", schema, records,
                                         license_="CC-BY-4.0")
                batches.append(entry)
            ledger.append(batches)
            story.say(f"{CONTRIBUTORS[0]} signed {len(north)} records; {CONTRIBUTORS[1]} "
                      f"signed {len(south)}, among them "
                      + ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in planted.items()))
            curator = people[CONTRIBUTORS[0]]
            runner = JobRunner(ledger=ledger, blobs=ws.blobs, blob_root=ws.settings.blob_root,
                               keystore_root=ws.settings.keystore, participants=participants,
                               operator=operator, requester=curator,
                               budget_micro=cr.micro(GATE_BUDGET_CREDITS),
                               requirements=Requirements(device_kinds=["cpu", "gpu"]),
                               prefix="gate-digits")
            admission = admit(curator, ws.blobs, "digits", batches, schema=schema,
                              license_="CC-BY-4.0", policy=default_policy(schema),
                              runner=runner)
            ledger.append(list(admission.entries))
            assert admission.manifest is not None and admission.manifest_cid is not None
            manifest, manifest_cid = admission.manifest, admission.manifest_cid
            caught = _caught(admission.verdicts[1], planted)
            for verdict, name in zip(admission.verdicts, CONTRIBUTORS, strict=True):
                c = verdict.counts()
                story.say(f"{name}: {c['accepted']} accepted, {c['flagged']} flagged, "
                          f"{c['rejected']} rejected")
            for kind, found in caught.items():
                if kind == "clean":
                    story.say(f"clean records kept out anyway: {found['caught']} of "
                              f"{found['planted']} ({', '.join(found['by']) or 'no gate'})")
                    continue
                story.say(f"planted {kind.replace('_', ' ')}: {found['caught']} of "
                          f"{found['planted']} caught ({', '.join(found['by']) or 'no gate'})")
            story.say("gate jobs on the network: "
                      + (", ".join(f"{r.job_id} ({len(r.attempts)} attempts)"
                                   for r in runner.reports) or "none"))
            # clinic-south proves one of its records is in digits@1, against the ledger.
            index = len(manifest.leaves) - 7
            proof = record_proof(manifest, index)
            published = ledger.row("datasets", "digits@1")
            assert published is not None
            merkle.verify_inclusion(bytes.fromhex(manifest.leaves[index]), index,
                                    len(manifest.leaves), proof, bytes.fromhex(published["root"]))
            facts["dataset"] = {"ref": "digits@1", "manifest_cid": manifest_cid,
                                "root": manifest.root, "records": len(manifest.leaves),
                                "shares": {names: manifest.shares.get(people[names].did, 0)
                                           for names in CONTRIBUTORS},
                                "admission": {n: v.counts() for n, v in
                                              zip(CONTRIBUTORS, admission.verdicts,
                                                  strict=True)},
                                "planted": caught, "reports": list(admission.report_cids),
                                "gate_jobs": [r.job_id for r in runner.reports],
                                "held_out": len(y_test)}
            story.say(f"digits@1: {len(manifest.leaves)} records; manifest {manifest_cid}")
            story.say(f"{CONTRIBUTORS[1]} proved record {index} is in digits@1 "
                      f"({len(proof)} hashes against root {manifest.root[:16]}…)")

        def submit(job: JobSpec) -> None:
            ledger.append([
                Entry.create(requester, cr.Escrow(escrow_id=job.job_id,
                                                  amount=job.budget_micro, arbiter=operator.did,
                                                  purpose=f"budget of {job.job_id}")),
                Entry.create(requester, JobSubmit(job_id=job.job_id, task=job.task,
                                                  spec=job.model_dump(mode="json"),
                                                  escrow_id=job.job_id,
                                                  units=job.workload.units)),
            ])

        def run(job: JobSpec, faults: Faults | None = None,
                among: list[Participant] | None = None) -> JobReport:
            return run_parallel_job(job, among or participants, operator=operator,
                                    requester_did=requester.did, escrow_id=job.job_id,
                                    ledger=ledger, blob_root=ws.settings.blob_root,
                                    keystore_root=ws.settings.keystore, faults=faults,
                                    on_event=lambda text: story.say(escape(text)))

        with story.step(4, "a training job: quotes, placement, Ray, replication, payment"):
            n_params = MLP(64, TRAIN_PARAMS["hidden"], 10).num_parameters()
            n_train = round(len(manifest.leaves) * 0.85)
            train = JobSpec(
                job_id="train-digits-1", task="train.supervised", inputs=[manifest_cid],
                params=TRAIN_PARAMS, input_bytes=float(ws.blobs.size(manifest_cid)),
                requirements=Requirements(device_kinds=["cpu", "gpu"], min_memory_gb=16),
                flops=6 * n_params * n_train * TRAIN_PARAMS["epochs"], deadline_s=600,
                budget_micro=cr.micro(BUDGET_CREDITS),
                # one unit, checked in full: a second provider trains it again and the
                # two model CIDs must agree (training is deterministic on CPU)
                verification=VerificationPolicy(replication=1.0, min_replication=1.0))
            for option in quote(train, [p.state for p in participants]):
                story.say(f"quote: {', '.join(a.provider for a in option.assignments)}, "
                          f"~{option.time_s:.1f} s, {option.cost.total_micro} micro-credits "
                          f"({option.solver})")
            for name, why in place(train, [p.state for p in participants]).excluded:
                story.say(f"excluded {name}: {escape(why)}")
            submit(train)
            trained = run(train)
            model_cid = next(iter(trained.results[0]))
            receipt_seq = ledger.row("attempts", attempt_key(train.job_id, 0, 0))["receipt_seq"]
            facts["train"] = _job_facts(trained, train.budget_micro)
            story.say(f"verified: {len(trained.attempts)} providers trained the same model "
                      f"{short(model_cid, 16)}; paid {trained.paid_micro}, refunded "
                      f"{trained.refund_micro} micro-credits")

        with story.step(5, "model registered with its card and lineage"):
            # the lineage (dataset, job, receipts) is read from the ledger, not declared
            ledger.append([register_from_job(ledger, ws.blobs, requester, "digits-mlp-1",
                                             train.job_id, tier="L0")])
            facts["model"] = {"model_id": "digits-mlp-1", "artifact_cid": model_cid,
                              "lineage": {"dataset": "digits@1", "dataset_root": manifest.root,
                                          "job_id": train.job_id, "receipt_seq": receipt_seq}}
            story.say(f"digits-mlp-1 = {model_cid}")

        with story.step(6, "inference on held-out digits, with a cheat and a dropout"):
            holdout = Records.make(y_test, x=x_test, contributor=requester.did)
            holdout_cid, _m, entry = publish(requester, ws.blobs, "digits-holdout", 1, schema,
                                             [(holdout, None)], "CC-BY-4.0", derivation=Derivation(
                                                 op="import", params={"source": "sklearn:digits"}))
            ledger.append([entry])
            infer = JobSpec(
                job_id="infer-holdout-1", task="infer.batch", inputs=[model_cid, holdout_cid],
                workload=Workload(kind="parallel", units=INFER_SHARDS),
                flops=2.0 * n_params * len(y_test), deadline_s=600,
                budget_micro=cr.micro(BUDGET_CREDITS),
                verification=VerificationPolicy(replication=0.5, min_replication=0.5))
            submit(infer)
            story.say(f"{CHEAT} will fake half of its results; {DROPOUT} will vanish "
                      "mid-job")
            killer = threading.Thread(
                target=_pull_plug_after_first_receipt,
                args=(ledger, infer.job_id, people[DROPOUT].did, cluster, DROPOUT), daemon=True)
            killer.start()
            inferred = run(infer, Faults(byzantine={CHEAT: 0.5}, seed=7))
            killer.join(timeout=60)
            predictions = np.concatenate([
                decode_predictions(ws.blobs.get(next(iter(inferred.results[u]))))
                for u in range(INFER_SHARDS)])
            accuracy = float((predictions == y_test).mean())
            facts["accuracy"] = round(accuracy, 4)
            facts["infer"] = _job_facts(inferred, infer.budget_micro)
            story.say(f"accuracy on {len(y_test)} held-out digits, from verified shards only: "
                      f"[bold]{accuracy:.4f}[/bold]")
            story.say(f"caught: {inferred.caught}; vanished: {inferred.lost_providers}; "
                      f"slashed {inferred.slashed_micro}; useful compute "
                      f"{inferred.useful_fraction:.0%} (verification included), "
                      f"{inferred.churn_useful_fraction:.0%} of what churn spared")

        live = [p for p in participants if p.name != DROPOUT]  # the desktop is gone

        def submit_and_run(job: JobSpec) -> JobReport:
            submit(job)
            return run(job, among=live)

        stage = ModelStage(story=story, ledger=ledger, blobs=ws.blobs,
                           blob_root=ws.settings.blob_root, requester=requester,
                           participants=live, run_job=submit_and_run, manifest=manifest,
                           manifest_cid=manifest_cid, teacher_cid=model_cid,
                           x_test=x_test, y_test=y_test, distrusted=list(inferred.caught))
        with story.step(7, "a student distilled on the network, promoted, exported to ONNX"):
            facts["student"] = distil_and_promote(stage)
        if facts["student"]["promoted"]:
            with story.step(8, "the student served at the edge, the teacher in the cloud, "
                               "a router between them"):
                facts["serving"] = serve_and_route(stage, facts["student"])
        with story.step(9, "L0 general → L1 industry → L2 one customer, by fine-tuning"):
            facts["tiers"] = fine_tune_tiers(stage, curator, people[CONTRIBUTORS[1]],
                                             CONTRIBUTORS[1])
        with story.step(10, "every model's lineage verified"):
            facts["verified"] = verify_models(stage)
    finally:
        cluster.shutdown()

    with story.step(11, "ledger verified from scratch"):
        report = verify_ledger(ws.engine, raise_on_problem=True)
        head = ledger.head()
        head.verify(operator.did)
        names = {r["did"]: r["name"] for r in ledger.rows("identities")}
        facts["ledger"] = {"entries": report.entries, "tree_heads": report.tree_heads,
                           "root": report.root, "head": head.model_dump(),
                           "minted_micro": report.minted, "balances_micro": report.balances}
        facts["balances"] = {names.get(r["account"], r["account"]): r["balance"]
                             for r in ledger.rows("accounts")}
        facts["elapsed_s"] = round(time.perf_counter() - story.started, 1)
        story.say(f"{report.entries} entries, {report.tree_heads} signed tree heads, "
                  f"every projection rebuilt and equal; balances sum to what was minted")


def _plant_faults(x: Any, y: Any, x_other: Any, y_other: Any, fake: Any,
                  rng: Any) -> tuple[Any, dict[str, list[int]]]:
    """A batch of ``x, y`` with known faults planted: exact and near copies of another
    contributor's records, flipped labels, a BadNets backdoor (a 2x2 bright patch in
    the corner, label set to TRIGGER_TARGET), and the generated records ``fake`` passed
    off as collected by a person. Returns the records and where each fault is."""
    import numpy as np

    from plexnet.data import Records

    x, y = x.copy(), y.copy()
    n = len(y)
    order = rng.permutation(n)
    spots = {"exact_duplicates": order[:12], "near_duplicates": order[12:24],
             "flipped_labels": order[24:49], "backdoor": order[49:79],
             "undeclared_synthetic": order[79:79 + len(fake)]}
    sources = rng.choice(len(y_other), 24, replace=False)
    for i, j in zip(spots["exact_duplicates"], sources[:12], strict=True):
        x[i], y[i] = x_other[j], y_other[j]
    for i, j in zip(spots["near_duplicates"], sources[12:], strict=True):
        x[i] = np.clip(np.round(x_other[j] + rng.normal(0, 0.6, 64)), 0, 16)
        y[i] = y_other[j]
    for i in spots["flipped_labels"]:
        y[i] = (y[i] + rng.integers(1, 10)) % 10
    for i in spots["backdoor"]:
        image = x[i].reshape(8, 8)
        image[6:8, 6:8] = 16.0
        y[i] = TRIGGER_TARGET
    for i, k in zip(spots["undeclared_synthetic"], range(len(fake)), strict=True):
        x[i], y[i] = fake.x[k], fake.y[k]  # declared human: the provenance is dropped
    return Records.make(y, x=x), {k: sorted(int(i) for i in v) for k, v in spots.items()}


def _caught(verdict: Any, planted: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
    """How many of each planted fault admission kept out, and which gates named them;
    ``clean``: how many of the records with nothing planted were kept out anyway."""
    found: dict[str, dict[str, Any]] = {}
    faulty = {i for where in planted.values() for i in where}
    clean = [i for i in range(len(verdict.decisions)) if i not in faulty]
    for kind, where in {**planted, "clean": clean}.items():
        out = [i for i in where if verdict.decisions[i] != "accepted"]
        gates = sorted({name for i in out for name, _ in verdict.reasons.get(i, ())})
        found[kind] = {"planted": len(where), "caught": len(out), "by": gates}
    return found


def _job_facts(report: Any, budget_micro: int) -> dict[str, Any]:
    """A job's outcome as JSON-ready facts."""
    return {
        "job_id": report.job_id, "solver": report.decision.solver,
        "placed": {a.provider: a.units for a in report.decision.assignments},
        "attempts": [{"unit": a.unit, "attempt": a.attempt, "provider": a.provider,
                      "purpose": a.purpose, "status": a.status, "verdict": a.verdict,
                      "price_micro": a.price_micro} for a in report.attempts],
        "paid_micro": report.paid_micro, "slashed_micro": report.slashed_micro,
        "refund_micro": report.refund_micro, "budget_micro": budget_micro,
        "caught": report.caught, "lost_providers": report.lost_providers,
        "excluded": dict(report.decision.excluded),
        "useful_fraction": round(report.useful_fraction, 4),
        "churn_useful_fraction": round(report.churn_useful_fraction, 4),
    }


def _pull_plug_after_first_receipt(ledger: Any, job_id: str, did: str, cluster: Any,
                                   name: str) -> None:
    """Kill ``name``'s Ray node once it has delivered one attempt of ``job_id``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(r["job_id"] == job_id and r["provider"] == did and r["status"] == "done"
               for r in ledger.rows("attempts")):
            cluster.remove(name, graceful=True)  # the owner shuts it down mid-job
            return
        time.sleep(0.05)


def _summary(story: _Story) -> None:
    from plexnet.ledger.kinds.credits import credits

    f = story.facts
    head = f["ledger"]["head"]
    out.print()
    print_table("plexnet demo — summary", ["", "value"], [
        ("ledger entries", f["ledger"]["entries"]),
        ("tree head", f"size {head['size']}, root {head['root']}"),
        ("dataset digits@1", f"{f['dataset']['records']} records, manifest "
                             f"{f['dataset']['manifest_cid']}"),
        *[(f"planted {k.replace('_', ' ')}", f"{v['caught']}/{v['planted']} caught by "
           f"{', '.join(v['by']) or 'no gate'}") for k, v in f["dataset"]["planted"].items()
          if k != "clean"],
        ("clean records kept out", "{caught}/{planted} (by {by})".format(
            **{**f["dataset"]["planted"]["clean"],
               "by": ", ".join(f["dataset"]["planted"]["clean"]["by"]) or "no gate"})),
        ("training job", f"placed on {', '.join(f['train']['placed'])}, verified by "
                         f"replication, paid {sum(f['train']['paid_micro'].values())} µcr"),
        ("inference job", f"{len(f['infer']['attempts'])} attempts; caught "
                          f"{', '.join(f['infer']['caught']) or 'nobody'}; lost "
                          f"{', '.join(f['infer']['lost_providers']) or 'nobody'}; slashed "
                          f"{sum(f['infer']['slashed_micro'].values())} µcr"),
        ("model digits-mlp-1", f["model"]["artifact_cid"]),
        ("held-out accuracy", f"{f['accuracy']:.4f}"),
        *_model_rows(f),
        ("elapsed", f"{f['elapsed_s']} s"),
    ])
    print_table("balances (credits)", ["account", "balance"],
                [(k, f"{credits(v):.6f}") for k, v in sorted(f["balances"].items())])


def _model_rows(f: dict[str, Any]) -> list[tuple[str, str]]:
    """Summary rows of the model steps (7-10)."""
    student = f["student"]
    rows = [("student digits-student-1", "promoted" if student["promoted"] else "NOT promoted"
             f": {student['accuracy_share']:.1%} of the teacher's accuracy, "
             f"{student['speedup']:.1f}x faster, {student['param_ratio']:g}x fewer parameters")]
    if "serving" in f:
        s = f["serving"]
        rows += [
            ("served", f"student (ONNX) on {s['edge_provider']}, teacher on "
                       f"{s['cloud_provider']}"),
            ("router on held-out requests", f"{s['to_edge']}/{s['requests']} to the edge; "
             f"accuracy {s['accuracy']['routed']:.4f} vs {s['accuracy']['teacher_only']:.4f} "
             f"cloud-only; cost {s['cost_saving']:.1%} lower"),
        ]
    tiers = f["tiers"]
    for model_id, model in tiers["models"].items():
        rows.append((f"{model['tier']} {model_id}", ", ".join(
            f"{d} {a:.3f}" for d, a in tiers["accuracy"][model_id].items())))
    rows.append(("lineage verified", f"{f['verified']['checks']} checks over "
                                     f"{', '.join(f['verified']['models'])}"))
    return rows
