"""models — training recipes run as compute jobs; models registered with their lineage.

Modules:
    errors (errors.py)         — ModelError, ArtifactError
    mlp (mlp.py)               — MLP classifier; safetensors artifacts with the architecture inside
    cnn (cnn.py)               — CNN classifier on flat one-channel images, the MLP's interface
    supervised (supervised.py) — the train.supervised task kind, train_mlp()
    privacy (privacy.py)       — DPSpec, make_private(): DP-SGD (Opacus): the dp parameter
    batch (batch.py)           — the infer.batch task kind: predictions for one shard
    distributed (distributed.py) — train.supervised as a gang task: data-parallel MLP, checkpoints
    registry (registry.py)     — register_model(), register_from_job(): model.register entries
                                 with card and lineage (read from the job)
    lineage (lineage.py)       — model_lineage(): parents, dataset versions, contributors, job
    unsupervised (unsupervised.py) — train.kmeans and train.autoencoder task kinds; encode(),
                                 anomaly_scores()
    gates (gates.py)           — the reconstruction admission gate: an autoencoder's error
    rl (rl.py)                 — the train.rl task kind: CartPole, REINFORCE with a baseline
    lm_model (lm_model.py)     — byte-level transformer LM: corpus, tokens, model, artifacts
    lm (lm.py)                 — its lm.pretrain, lm.sft, lm.reward and lm.dpo task kinds on the
                                 standard library's docstrings; re-exports lm_model
    flops (flops.py)           — measure_flops(), flops_report(): 6·N·D against counted FLOPs
    distill (distill.py)       — the train.distill task kind, distill(), distillation_loss()
    compress (compress.py)     — int8 dynamic quantization, ONNX export and int8, check_onnx()
    promotion (promotion.py)   — measure(), promote(): the accuracy-share and speedup gate
    encrypted (encrypted.py)   — KeyOwner, CKKSServer, PolyModel: CKKS (TenSEAL) inference on
                                 encrypted inputs, packed feature-major
    serving (serving.py)       — create_app(): HTTP model server (FastAPI), models by CID,
                                 micro-batching, Prometheus metrics
    deploy (deploy.py)         — choose_host(), deploy(): serve on a Ray node, by edge/fog/cloud
    router (router.py)         — Router: each request to the cheapest model expected to answer
                                 it well; evaluate(): APGR, CPT, the quality-cost curve
"""

from plexnet.models.errors import ArtifactError, ModelError

__all__ = ["ArtifactError", "ModelError"]
