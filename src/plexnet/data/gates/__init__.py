"""gates — admission gates: plug-ins that flag or reject records of a batch.

Modules:
    base (base.py)             — Gate, GateContext, GateResult, Finding; register(), gate()
    duplicates (duplicates.py) — exact_duplicates: the same content twice
    near (near.py)             — near_duplicates: noisy, shifted or zoomed images and rows;
                                 edited texts (MinHash LSH)
    semantic (semantic.py)     — semantic_duplicates: MiniLM cosine between texts (opt-in)
    outliers (outliers.py)     — outliers: k-NN distance far from the reference data
    labels (labels.py)         — label_issues: confident learning on out-of-fold probabilities
                                 (the fold models run as gate.out_of_fold compute units)
    consensus (consensus.py)   — annotator_consensus: Dawid-Skene over several annotators
    compliance (compliance.py) — licence, schema_values, pii
    provenance (provenance.py) — provenance: augmented records must reproduce from their parent
    backdoor (backdoor.py)     — backdoor: spectral signatures and activation clustering on an
                                 MLP's activations (trained as gate.representations units)
    synthetic (synthetic.py)   — synthetic (watermark on records declared real, no generator,
                                 a two-sample detector as gate.synthetic_detector units) and
                                 synthetic_budget (the dataset's cap on synthetic records)

Importing this package registers every gate plexnet ships.
"""

from plexnet.data.gates import (
    backdoor,
    compliance,
    consensus,
    duplicates,
    labels,
    near,
    outliers,
    provenance,
    semantic,
    synthetic,
)
from plexnet.data.gates.base import (
    Action,
    Finding,
    Gate,
    GateContext,
    GateResult,
    gate,
    register,
    registered,
)

__all__ = ["Action", "Finding", "Gate", "GateContext", "GateResult", "backdoor", "compliance",
           "consensus", "duplicates", "gate", "labels", "near", "outliers", "provenance",
           "register", "registered", "semantic", "synthetic"]
