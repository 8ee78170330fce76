"""plexnet — an open network for AI work: pooled compute, open data and models, on one ledger.

Layers (imports point down only; a test enforces it):
    core (core/)       — identity, canonical JSON, CIDs, blob store, config, database
    ledger (ledger/)   — the RFC 9162 Merkle log of signed entries, proofs, projections
    compute (compute/) — providers, jobs, placement, execution on Ray
    data (data/)       — signed contributions, versioned datasets with Merkle roots
    models (models/)   — training recipes as jobs, model artifacts, the registry
    cli (cli/)         — the ``plexnet`` command
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
