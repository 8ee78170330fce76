"""compute — providers lend compute; jobs are placed on them and run on Ray.

Modules:
    errors (errors.py)       — ComputeError, UnknownTask, PlacementError, ExecutionError
    profile (profile.py)     — ProviderProfile: what a provider offers (units in field names)
    job (job.py)             — JobSpec, Requirements: what a requester asks for
    catalog (catalog.py)     — Device, device(): published peak FLOP/s, memory, power by name
    pricebook (pricebook.py) — load(), PriceBook, Offer: packaged cloud/marketplace price books
    reputation (reputation.py) — Reputation: Beta posterior over verified outcomes
    verification (verification.py) — replication rate, detection maths, checkpoint interval (pure)
    task (task.py)           — TaskKind plug-ins (base class, registry, @register)
    matmul (matmul.py)       — bench.matmul: deterministic, FLOP-counted integer matmul
    placement (placement.py) — place(): job + providers -> a frozen Placement (pure)
    cluster (cluster.py)     — LocalCluster: one Ray node per simulated provider
    runner (runner.py)       — run_job(): pin a job to its provider, get its signed receipt
"""

from plexnet.compute.errors import ComputeError, ExecutionError, PlacementError, UnknownTask
from plexnet.compute.job import JobSpec, Requirements
from plexnet.compute.placement import Placement, place
from plexnet.compute.profile import ProviderProfile
from plexnet.compute.task import TaskContext, TaskKind, TaskResult, register

__all__ = [
    "ComputeError",
    "ExecutionError",
    "JobSpec",
    "Placement",
    "PlacementError",
    "ProviderProfile",
    "Requirements",
    "TaskContext",
    "TaskKind",
    "TaskResult",
    "UnknownTask",
    "place",
    "register",
]
