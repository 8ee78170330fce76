"""The entry kinds of the spine, one module per domain; importing this registers them all.

Modules:
    identity (identity.py) — ledger.genesis, identity.register; shared rules (require, ...)
    credits (credits.py)   — credit.mint|transfer|escrow|release|slash; balances, micro-credits
    jobs (jobs.py)         — provider.register|leave; job.submit|place|assign|receipt|lost|
                             complete|verify|settle|fail; attempts, paid only once verified
    datasets (datasets.py) — data.contribute, dataset.publish
    models (models.py)     — model.register with checked lineage
"""

from plexnet.ledger.kinds import credits, datasets, identity, jobs, models

__all__ = ["credits", "datasets", "identity", "jobs", "models"]
