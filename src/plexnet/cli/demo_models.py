"""The demo's model-layer ending: distil, promote, export, serve at the edge, route, verify.

Called by ``demo.py`` after the teacher (``digits-mlp-1``) was trained, verified and
registered and the held-out digits were published:

7. a student is distilled from the teacher as a paid, replicated ``train.distill``
   job; the promotion gate measures both on the first half of the held-out digits
   (accuracy share and speedup); the promoted student is exported to ONNX (checked
   against PyTorch) and registered with its card (architecture, N, tier L0, the ONNX
   artifact) and its lineage (the teacher as parent, the dataset, the job's receipts);
8. a model server is placed for each latency target — the ONNX student on the
   cheapest provider of the ``edge`` target, the teacher on the cheapest ``cloud``
   one — each a Ray actor pinned to that provider's node; a router is fitted on the
   first half of the held-out digits (each server's answers over HTTP, each model's
   priced cost per request) and then routes the second half, request by request,
   to one of the two servers; the measured cost saving and accuracy against sending
   everything to the cloud are reported;
10. every model's lineage is verified from the ledger and the blob store alone
   (``plexnet model verify``: signed entries in the signed tree, artifacts matching
   their CIDs and cards, receipts, the jobs' inputs, dataset roots, ONNX computing
   what PyTorch does) — the student's and the fine-tuned chain's (step 9,
   ``demo_tiers.py``).

Cost per request is priced, not metered: the provider's price per device-hour times
the time its device needs for the model's forward FLOPs (2·N per request) at its
published peak. It is the same rule for both models, so the ratio is what matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ModelStage", "distil_and_promote", "replicated_job", "serve_and_route",
           "verify_models"]

STUDENT_PARAMS: dict[str, Any] = {"hidden": [32], "seed": 0}
TEACHER_ID, STUDENT_ID = "digits-mlp-1", "digits-student-1"


@dataclass
class ModelStage:
    """What the model steps share with the rest of the demo."""

    story: Any
    ledger: Any
    blobs: Any
    blob_root: Any
    requester: Any
    participants: list[Any]
    run_job: Any        # (JobSpec) -> JobReport, escrowed and submitted
    manifest: Any
    manifest_cid: str
    teacher_cid: str
    x_test: np.ndarray
    y_test: np.ndarray
    distrusted: list[str]  # providers caught cheating: never chosen to serve


def replicated_job(st: ModelStage, job_id: str, task: str, inputs: list[str],
                   params: dict[str, Any], flops: float) -> Any:
    """A model-training job of the demo: 2 credits, every unit re-run by a second
    provider (training is deterministic, so the two artifact CIDs must agree)."""
    from plexnet.compute.job import JobSpec, Requirements, VerificationPolicy
    from plexnet.ledger.kinds import credits as cr

    return JobSpec(job_id=job_id, task=task, inputs=inputs, params=params,
                   input_bytes=float(sum(st.blobs.size(c) for c in inputs)),
                   requirements=Requirements(device_kinds=["cpu", "gpu"], min_memory_gb=16),
                   flops=flops, deadline_s=600, budget_micro=cr.micro(2),
                   verification=VerificationPolicy(replication=1.0, min_replication=1.0))


def _halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibration and evaluation halves of the held-out requests (a fixed shuffle)."""
    order = np.random.default_rng(11).permutation(n)
    return order[: n // 2], order[n // 2 :]


def distil_and_promote(st: ModelStage) -> dict[str, Any]:
    """Step 7; returns the student's facts."""
    import torch

    from plexnet.models import distill  # registers train.distill  # noqa: F401
    from plexnet.models.compress import check_onnx, export_onnx
    from plexnet.models.mlp import load_mlp
    from plexnet.models.promotion import measure, promote, torch_forward
    from plexnet.models.registry import register_from_job

    say = st.story.say
    teacher = load_mlp(st.blobs.get(st.teacher_cid))
    n_train = round(len(st.manifest.leaves) * 0.85)
    job = replicated_job(st, "distill-digits-1", "train.distill",
                         [st.manifest_cid, st.teacher_cid], STUDENT_PARAMS,
                         flops=6.0 * 2_410 * n_train * 40)
    report = st.run_job(job)
    student_cid = next(iter(report.results[0]))
    student = load_mlp(st.blobs.get(student_cid))
    say(f"distilled on {', '.join(a.provider for a in report.attempts)}: student "
        f"{student.num_parameters():,} parameters vs the teacher's "
        f"{teacher.num_parameters():,}; both replicas made {student_cid[:16]}…")

    calib, _ = _halves(len(st.y_test))
    x, y = st.x_test[calib].astype(np.float32), st.y_test[calib]
    with torch.inference_mode():
        t_m = measure(torch_forward(teacher), x, y)
        s_m = measure(torch_forward(student), x, y)
    decision = promote(t_m, s_m)
    for reason in decision.reasons:
        say(f"promotion gate: {reason}")
    facts: dict[str, Any] = {"model_id": STUDENT_ID, "artifact_cid": student_cid,
                             "job_id": job.job_id, "promoted": decision.decision,
                             "accuracy_share": round(decision.accuracy_share, 4),
                             "speedup": round(decision.speedup, 2),
                             "teacher_accuracy": t_m.accuracy, "student_accuracy": s_m.accuracy,
                             "params_teacher": teacher.num_parameters(),
                             "params_student": student.num_parameters(),
                             "param_ratio": round(teacher.num_parameters()
                                                  / student.num_parameters(), 1)}
    if not decision.decision:
        say("[bold]the student was not promoted[/bold]: it is not registered or served")
        return facts
    onnx = export_onnx(student, torch.as_tensor(x[:2]))
    diff = check_onnx(student, onnx, x)
    onnx_cid = st.blobs.put(onnx)
    st.ledger.append([register_from_job(  # the teacher, read from the job's inputs, is its parent
        st.ledger, st.blobs, st.requester, STUDENT_ID, job.job_id, artifacts={"onnx": onnx_cid},
        metrics={"promotion": {"accuracy_share": facts["accuracy_share"],
                               "speedup": facts["speedup"],
                               "teacher": t_m.to_dict(), "student": s_m.to_dict()},
                 "onnx_max_diff": diff})])
    facts.update(onnx_cid=onnx_cid, onnx_bytes=len(onnx), onnx_max_diff=diff)
    say(f"promoted and exported: ONNX {onnx_cid[:16]}… ({len(onnx):,} bytes; logits within "
        f"{diff:.1g} of PyTorch); registered {STUDENT_ID} (tier L0, parent {TEACHER_ID})")
    return facts


def _cost_per_request(profile: Any, params: int) -> float:
    """Micro-credits per request: the device-time of 2·N FLOPs at peak, at its price."""
    seconds = 2.0 * params / profile.peak_flops
    return float(profile.price_per_device_hour) * 1e6 / 3600 * seconds


def _ask(client: Any, url: str, cid: str, x: np.ndarray) -> np.ndarray:
    """The server's predictions for the rows of ``x`` (one HTTP request per 64 rows)."""
    out: list[int] = []
    for start in range(0, len(x), 64):
        r = client.post(f"{url}/v1/models/{cid}/predict",
                        json={"inputs": x[start : start + 64].tolist()})
        r.raise_for_status()
        out.extend(r.json()["predictions"])
    return np.asarray(out)


def serve_and_route(st: ModelStage, student: dict[str, Any]) -> dict[str, Any]:
    """Step 8; returns the serving and routing facts."""
    import httpx

    from plexnet.models.deploy import choose_host, deploy
    from plexnet.models.router import Router, evaluate

    say = st.story.say
    # a server is long-lived: the requester keeps providers caught cheating (step 6)
    # off its shortlist
    states = [p.state for p in st.participants if p.name not in st.distrusted]
    edge = choose_host(states, "edge")
    cloud = choose_host(states, "cloud", min_memory_gb=16)
    for placed, what in ((edge, "student (ONNX)"), (cloud, "teacher (PyTorch)")):
        excluded = "; ".join(f"{n}: {why}" for n, why in placed.excluded) or "none"
        say(f"{what} → {placed.profile.name} ({placed.profile.tier}, rtt "
            f"{placed.profile.rtt_ms:g} ms, {placed.profile.price_per_device_hour:g}/h); "
            f"excluded: {excluded}")
    models = [(student["onnx_cid"], edge, student["params_student"]),
              (st.teacher_cid, cloud, student["params_teacher"])]
    costs = np.array([_cost_per_request(p.profile, n) for _c, p, n in models])
    calib, held = _halves(len(st.y_test))
    x = st.x_test.astype(np.float32)
    with deploy(edge.profile, st.blob_root, models=[models[0][0]]) as small, \
            deploy(cloud.profile, st.blob_root, models=[models[1][0]]) as large, \
            httpx.Client(timeout=30) as client:
        servers = [(small, models[0][0]), (large, models[1][0])]
        say(f"serving: {small.url} on {small.provider}, {large.url} on {large.provider}")
        answers = np.stack([_ask(client, d.url, cid, x) for d, cid in servers], axis=1)
        quality = (answers == st.y_test[:, None]).astype(float)
        router = Router(costs).fit(x[calib], quality[calib])
        choice = router.route(x[held])
        routed = np.empty(len(held), dtype=np.int64)
        for j, (d, cid) in enumerate(servers):  # each request to the server chosen for it
            mine = np.flatnonzero(choice == j)
            if len(mine):
                routed[mine] = _ask(client, d.url, cid, x[held][mine])
    measures = evaluate(router, x[held], quality[held])
    y_held = st.y_test[held]
    spent, cloud_only = float(costs[choice].sum()), float(costs[1] * len(held))
    facts = {
        "edge_provider": small.provider, "cloud_provider": large.provider,
        "cost_micro_per_1k": {"student_edge": round(costs[0] * 1000, 6),
                              "teacher_cloud": round(costs[1] * 1000, 6)},
        "requests": len(held), "to_edge": int((choice == 0).sum()),
        "accuracy": {"routed": round(float((routed == y_held).mean()), 4),
                     "teacher_only": round(float(quality[held, 1].mean()), 4),
                     "student_only": round(float(quality[held, 0].mean()), 4)},
        "cost_saving": round(1 - spent / cloud_only, 4),
        "apgr": round(measures["apgr"], 3),
    }
    say(f"router: {facts['to_edge']} of {len(held)} held-out requests to the edge, "
        f"{len(held) - facts['to_edge']} to the cloud; accuracy {facts['accuracy']['routed']:.4f}"
        f" (cloud only {facts['accuracy']['teacher_only']:.4f}, edge only "
        f"{facts['accuracy']['student_only']:.4f}); cost "
        f"[bold]{facts['cost_saving']:.1%} lower[/bold] than sending all to the cloud; "
        f"APGR {facts['apgr']:.2f}")
    return facts


def verify_models(st: ModelStage) -> dict[str, Any]:
    """Step 10: each model's lineage checked from the ledger and blob store alone,
    leaf by leaf (a model no other names as parent); each check once."""
    from plexnet.core import canonical
    from plexnet.models.lineage import verify_model

    rows = st.ledger.rows("models")
    parents = {p for r in rows for p in canonical.loads(r["lineage"]).get("parents", [])}
    checks, seen = [], set()
    for leaf in sorted(r["model_id"] for r in rows if r["model_id"] not in parents):
        for c in verify_model(st.ledger, st.blobs, leaf):
            if (c.model_id, c.check) not in seen:
                seen.add((c.model_id, c.check))
                checks.append(c)
    failed = [c for c in checks if not c.ok]
    for c in checks:
        st.story.say(f"{'✓' if c.ok else '✗'} {c.model_id} {c.check}: {c.detail}")
    if failed:
        from plexnet.core.errors import PlexnetError

        raise PlexnetError(f"lineage check failed: {failed[0].model_id} {failed[0].check}: "
                           f"{failed[0].detail}")
    return {"checks": len(checks), "models": sorted({c.model_id for c in checks})}
