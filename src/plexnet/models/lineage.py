"""Model lineage, read from the ledger: parent models, the dataset version, the job.

:func:`model_lineage` walks the ``models`` projection from one model back through
its parent models; for every model that names a dataset version it adds that
version's own lineage (``plexnet.data.lineage.dataset_lineage``: earlier versions,
derivations, contributors), and for every model that names a job, the job. The
result is the same :class:`~plexnet.data.lineage.Lineage` the data layer draws, so
:func:`~plexnet.data.lineage.draw_lineage` renders it as a PNG: contributors →
dataset versions → model ← job, and parent → child for fine-tuned models.
"""

from __future__ import annotations

from plexnet.core import canonical
from plexnet.data.lineage import Lineage, LineageEdge, LineageNode, dataset_lineage
from plexnet.ledger import Ledger, NotFound

__all__ = ["model_lineage"]


def model_lineage(ledger: Ledger, model_id: str) -> Lineage:
    """The lineage of ``model_id``.

    Raises:
        NotFound: if ``model_id`` is not registered on the ledger.
    """
    names = {r["did"]: r["name"] for r in ledger.rows("identities")}
    nodes: dict[str, LineageNode] = {}
    edges: list[LineageEdge] = []
    todo = [model_id]
    while todo:
        key = todo.pop()
        if f"model:{key}" in nodes:
            continue
        row = ledger.row("models", key)
        if row is None:
            raise NotFound(f"no model {key!r} on the ledger (plexnet model list)")
        lineage = canonical.loads(row["lineage"])
        metrics = canonical.loads(row["metrics"])
        nodes[f"model:{key}"] = LineageNode(f"model:{key}", "model", key, {
            "artifact_cid": row["artifact_cid"], "metrics": metrics,
            "publisher": names.get(row["publisher"], row["publisher"]),
            "caption": f"{row['artifact_cid'][:14]}…"})
        for parent in lineage.get("parents", []):
            edges.append(LineageEdge(f"model:{parent}", f"model:{key}", "parent"))
            todo.append(parent)
        if lineage.get("dataset"):
            data = dataset_lineage(ledger, lineage["dataset"])
            for node in data.nodes:
                nodes.setdefault(node.key, node)
            edges.extend(e for e in data.edges if e not in edges)
            edges.append(LineageEdge(lineage["dataset"], f"model:{key}", "trained on"))
        if lineage.get("job_id"):
            job = ledger.row("jobs", lineage["job_id"])
            status = "?" if job is None else job["status"]
            nodes.setdefault(f"job:{lineage['job_id']}", LineageNode(
                f"job:{lineage['job_id']}", "job", lineage["job_id"],
                {"status": status, "caption": status}))
            edges.append(LineageEdge(f"job:{lineage['job_id']}", f"model:{key}", "trained by"))
    return Lineage(f"model:{model_id}", tuple(sorted(nodes.values(), key=lambda n: n.key)),
                   tuple(edges))
