"""The demo's L0 → L1 → L2 chain: a general model fine-tuned for an industry, then a customer.

Called by ``demo.py`` after the general (L0) model ``digits-mlp-1`` was trained on
digits@1. The article's three levels, on bundled data:

* **L1, industry** — scanned forms: the curator (the first clinic) derives
  ``digits-scans@1`` from digits@1, every record rotated by up to 30 degrees as a
  page fed askew into a scanner would be (``plexnet.data.augment``: each child
  names its parent record and the exact angle). ``digits-scans-1`` is fine-tuned
  from the L0 model on it, as a paid, replicated ``train.supervised`` job whose
  inputs are the new dataset and the parent's artifact.
* **L2, vertical** — one customer: the second clinic's new scanner crops a margin
  into every form (zoomed out to 75-85 %, a style neither earlier model saw). It
  derives ``<customer>-scans@1`` from 200 of its own records in digits@1, and
  ``<customer>-scans-1`` is fine-tuned from the L1 model on them, another job.

Each model is registered with its tier and its parent, so ``plexnet model lineage``
draws L0 → L1 → L2 and ``plexnet model verify`` checks each job read its parent.
The three models are then scored on held-out digits of each domain (children of
the held-out digits the models never saw, made with other seeds): each tier should
be the best on its own domain. One run of the demo: L0 96.9 / 77.7 / 40.3 % on
plain digits / scans / the customer's scans, L1 97.2 / 94.4 / 33.3 %, L2 94.7 /
85.3 / 73.1 % — the vertical model gives up a little generality for its customer,
which is why it is a model of its own and not a replacement of L1. Against a model
trained from scratch on the customer's records alone, see ``bench/models_tiers.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plexnet.cli.demo_models import TEACHER_ID, ModelStage, replicated_job

__all__ = ["CUSTOMER_RECORDS", "L1_PARAMS", "L2_PARAMS", "fine_tune_tiers", "styles"]

CUSTOMER_RECORDS = 200  # the customer's own records its vertical model learns from
SCAN_DEGREES = 30.0     # the industry's style: pages fed askew, up to this angle
CUSTOMER_ZOOM = (0.75, 0.85)  # the customer's scanner: zoomed out to 75-85 %
L1_PARAMS: dict[str, Any] = {"val_fraction": 0.0}  # the recipe's defaults otherwise
L2_PARAMS: dict[str, Any] = {"val_fraction": 0.0, "batch_size": 16}  # 200 records: 13 steps


def styles() -> dict[str, Any]:
    """The two domains' styles as transforms: ``scans`` (industry) and ``customer``."""
    from plexnet.data.augment import Rotate, Zoom

    return {"scans": Rotate(max_degrees=SCAN_DEGREES),
            "customer": Zoom(min_scale=CUSTOMER_ZOOM[0], max_scale=CUSTOMER_ZOOM[1])}


def _derive(st: ModelStage, who: Any, name: str, parents: Any, transform: Any) -> tuple[str, Any]:
    """Publish ``name@1``: one child of each of ``parents`` by ``transform``, signed by
    ``who``; return its manifest CID and manifest."""
    from plexnet.data.augment import augment
    from plexnet.data.derive import derive

    children = augment(parents, st.manifest.schema_, [transform], seed=0, contributor=who.did)
    cid, manifest, entry = derive(who, st.blobs, st.manifest, name, children, "augment", {
        "transform": transform.name, "ranges": _ranges(transform), "seed": 0,
        "records": len(parents)})
    st.ledger.append([entry])
    return cid, manifest


def _ranges(transform: Any) -> dict[str, float]:
    from dataclasses import asdict

    return {k: float(v) for k, v in asdict(transform).items()}


def _fine_tune(st: ModelStage, job_id: str, data: tuple[str, Any], parent: tuple[str, str],
               params: dict[str, Any], model_id: str, tier: str) -> str:
    """Fine-tune ``parent`` (id, artifact CID) on ``data`` (manifest CID, manifest) as a
    replicated job; register the result as ``model_id`` (its parent and dataset read
    from the job's inputs); return its CID."""
    from plexnet.models.mlp import load_classifier
    from plexnet.models.registry import register_from_job
    from plexnet.models.supervised import DEFAULTS

    (data_cid, manifest), (parent_id, parent_cid) = data, parent
    n_params = load_classifier(st.blobs.get(parent_cid)).num_parameters()
    epochs = int(params.get("epochs", DEFAULTS["epochs"]))
    job = replicated_job(st, job_id, "train.supervised", [data_cid, parent_cid], params,
                         flops=6.0 * n_params * len(manifest.leaves) * epochs)
    report = st.run_job(job)
    cid = next(iter(report.results[0]))
    st.ledger.append([register_from_job(st.ledger, st.blobs, st.requester, model_id,
                                        job.job_id, tier=tier)])
    st.story.say(f"{model_id} (tier {tier}) fine-tuned from {parent_id} on {manifest.ref} "
                 f"({len(manifest.leaves)} records) by "
                 f"{', '.join(a.provider for a in report.attempts)}: {cid[:16]}…")
    return cid


def fine_tune_tiers(st: ModelStage, curator: Any, customer: Any,
                    customer_name: str) -> dict[str, Any]:
    """The chain's step; returns its facts (datasets, models, the accuracy matrix)."""
    from plexnet.data import Records
    from plexnet.data.augment import augment
    from plexnet.data.dataset import load_records
    from plexnet.models.mlp import load_classifier, predict

    style = styles()
    records, _ = load_records(st.blobs, st.manifest_cid)
    scans = _derive(st, curator, "digits-scans", records, style["scans"])
    own = np.flatnonzero(np.asarray(records.contributor) == customer.did)[:CUSTOMER_RECORDS]
    if len(own) < CUSTOMER_RECORDS:
        from plexnet.core.errors import PlexnetError

        raise PlexnetError(f"{customer_name} has {len(own)} records in {st.manifest.ref}, "
                           f"not the {CUSTOMER_RECORDS} its vertical model needs")
    theirs = _derive(st, customer, f"{customer_name}-scans", records.subset(own),
                     style["customer"])
    st.story.say(f"derived {scans[1].ref} ({len(scans[1].leaves)} records rotated up to "
                 f"{SCAN_DEGREES:g}°) and {theirs[1].ref} ({len(theirs[1].leaves)} of "
                 f"{customer_name}'s records, zoomed out to {CUSTOMER_ZOOM[0]:.0%}-"
                 f"{CUSTOMER_ZOOM[1]:.0%}); every child names its parent record and transform")
    l1_id, l2_id = "digits-scans-1", f"{customer_name}-scans-1"
    l1_cid = _fine_tune(st, "tune-scans-1", scans, (TEACHER_ID, st.teacher_cid),
                        L1_PARAMS, l1_id, "L1")
    l2_cid = _fine_tune(st, f"tune-{customer_name}-1", theirs, (l1_id, l1_cid),
                        L2_PARAMS, l2_id, "L2")

    # held-out digits of each domain: children of the records no model trained on
    held = Records.make(st.y_test, x=st.x_test)
    domains = {"digits": (st.x_test, st.y_test)}
    for domain, key in (("scans", "scans"), (customer_name, "customer")):
        kids = augment(held, st.manifest.schema_, [style[key]], seed=1)
        domains[domain] = (kids.x, kids.y)
    models = {TEACHER_ID: ("L0", st.teacher_cid), l1_id: ("L1", l1_cid), l2_id: ("L2", l2_cid)}
    matrix: dict[str, dict[str, float]] = {}
    for model_id, (_tier, cid) in models.items():
        model = load_classifier(st.blobs.get(cid))
        matrix[model_id] = {d: round(float((predict(model, x) == y).mean()), 4)
                            for d, (x, y) in domains.items()}
    st.story.say("held-out accuracy by domain ("
                 + ", ".join(f"{d} {len(y)}" for d, (_x, y) in domains.items()) + " records):")
    for model_id, (tier, _cid) in models.items():
        st.story.say(f"  {tier} {model_id:<24} " + "  ".join(
            f"{d} {a:.3f}" for d, a in matrix[model_id].items()))
    st.story.say(f"the chain on the ledger: plexnet model lineage {l2_id} --png chain.png")
    return {"datasets": {"scans": scans[1].ref, "customer": theirs[1].ref},
            "models": {m: {"tier": t, "artifact_cid": c} for m, (t, c) in models.items()},
            "accuracy": matrix, "leaf": l2_id, "customer": customer_name}
