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
    placement (placement.py) — place(), quote(): job + provider snapshot -> frozen Decision (pure)
    solver (solver.py)       — MILP/greedy shard split and gang enumeration behind placement (pure)
    cluster (cluster.py)     — LocalCluster: one Ray node per simulated provider
    node (node.py)           — Ray node processes: the network head, a node per provider
    runner (runner.py)       — submit_attempt(), run_job(): one attempt on a provider; Faults
    controller (controller.py) — run_parallel_job(): place, replicate, run, re-run, verify, settle
    settlement (settlement.py) — Participant, Attempt; settle(), abort(): pay, slash, refund
    gang (gang.py)           — GangTask plug-ins, segments, the Ray Train worker, replays (audits)
    coupled (coupled.py)     — run_coupled_job(): gangs checkpointed, resumed, audited, settled
    workload (workload.py)   — Inventory, Arrivals: OpenB nodes/pods, Philly runtimes, synthetic
    scenario (scenario.py)   — Market, SimulationConfig: the simulator's assumptions, as parameters
    simulator (simulator.py) — simulate(): discrete-event market driving place() and verification
    simulation_report (simulation_report.py) — Report, Comparison, SweepPoint: JSON-ready results
    comparison (comparison.py) — compare(), replication_sweep(): decentralised vs centralised
    simulation_plots (simulation_plots.py) — write_plots(): cost, queueing, fraud, utilisation
"""

from plexnet.compute.errors import ComputeError, ExecutionError, PlacementError, UnknownTask
from plexnet.compute.job import JobSpec, Requirements
from plexnet.compute.placement import Decision, ProviderState, place, quote
from plexnet.compute.profile import ProviderProfile
from plexnet.compute.task import TaskContext, TaskKind, TaskResult, register

__all__ = [
    "ComputeError",
    "Decision",
    "ExecutionError",
    "JobSpec",
    "PlacementError",
    "ProviderProfile",
    "ProviderState",
    "Requirements",
    "TaskContext",
    "TaskKind",
    "TaskResult",
    "UnknownTask",
    "place",
    "quote",
    "register",
]
