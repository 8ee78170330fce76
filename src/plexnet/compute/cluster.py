"""A local Ray cluster in which each simulated provider is its own Ray node.

The head node has no CPUs, so no work lands on it by accident; every provider
node carries the custom resource ``provider_<name>`` (how work is pinned to it)
and labels naming the provider, its tier and region. Real providers on other
machines join the same way with ``ray start --address`` (issue 3).
"""

from __future__ import annotations

import logging
import os
from types import TracebackType
from typing import Any

from plexnet.compute.errors import ExecutionError
from plexnet.compute.profile import ProviderProfile

__all__ = ["LocalCluster"]


class LocalCluster:
    """Start with ``with LocalCluster(profiles) as cluster:``; Ray is initialised inside."""

    def __init__(self, providers: list[ProviderProfile], cpus_per_provider: int = 1) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ExecutionError(f"provider names must be unique: {names}")
        self.providers = {p.name: p for p in providers}
        self.cpus_per_provider = cpus_per_provider
        self._cluster: Any = None
        self._nodes: dict[str, Any] = {}

    def start(self) -> LocalCluster:
        # Token authentication (Ray >= 2.5x default) is for clusters reachable by
        # others; this one lives on loopback for the length of one process.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        import ray
        from ray.cluster_utils import Cluster

        self._cluster = Cluster(initialize_head=True,
                                head_node_args={"num_cpus": 0, "include_dashboard": False})
        for p in self.providers.values():
            self._nodes[p.name] = self._cluster.add_node(
                num_cpus=self.cpus_per_provider,
                resources={p.resource: 1},
                labels={"provider": p.name, "tier": p.tier, "region": p.region},
            )
        self._cluster.wait_for_nodes()
        ray.init(address=self._cluster.address, logging_level=logging.ERROR,
                 log_to_driver=False, include_dashboard=False)
        return self

    def node_ids(self) -> dict[str, str]:
        """Ray node id of each provider."""
        return {name: node.node_id for name, node in self._nodes.items()}

    def remove(self, name: str, *, graceful: bool = False) -> None:
        """Take a provider's node away mid-work.

        Without grace the raylet is killed as a crashed machine would be; with grace
        it is shut down as an owner closing the lid would. Either way the work
        running there is lost.
        """
        self._cluster.remove_node(self._nodes.pop(name), allow_graceful=graceful)

    def shutdown(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()
