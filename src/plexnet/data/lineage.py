"""Dataset lineage, read from the ledger: versions, what they derive from, who contributed.

:func:`dataset_lineage` walks the ``datasets`` projection from one version back
through its parents (earlier versions, and the datasets a derived one was cut
from) and returns a :class:`Lineage`: nodes (dataset versions and contributors)
and edges (``parent → child`` labelled with how the child was derived; ``contributor
→ version`` labelled with their share of its records). :func:`draw_lineage` draws
it as a PNG (matplotlib, Agg), oldest on the left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plexnet.core import canonical
from plexnet.ledger import Ledger, NotFound

__all__ = ["Lineage", "LineageEdge", "LineageNode", "dataset_lineage", "draw_lineage"]


@dataclass(frozen=True)
class LineageNode:
    """A dataset version (``kind="dataset"``) or a contributor (``kind="contributor"``);
    other layers add their own kinds (``model``, ``job``) with a ``caption`` in
    ``detail``, which :func:`draw_lineage` prints under the label."""

    key: str
    kind: str
    label: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class LineageEdge:
    source: str
    target: str
    label: str


@dataclass(frozen=True)
class Lineage:
    root: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root,
                "nodes": [{"key": n.key, "kind": n.kind, "label": n.label, **n.detail}
                          for n in self.nodes],
                "edges": [{"from": e.source, "to": e.target, "label": e.label}
                          for e in self.edges]}


def dataset_lineage(ledger: Ledger, ref: str) -> Lineage:
    """The lineage of dataset version ``ref`` (``name@version``).

    Raises:
        NotFound: if ``ref`` is not published on the ledger.
    """
    names = {r["did"]: r["name"] for r in ledger.rows("identities")}
    nodes: dict[str, LineageNode] = {}
    edges: list[LineageEdge] = []
    todo = [ref]
    while todo:
        key = todo.pop()
        if key in nodes:
            continue
        row = ledger.row("datasets", key)
        if row is None:
            raise NotFound(f"no dataset version {key!r} on the ledger")
        parents = canonical.loads(row["parents"])
        shares = canonical.loads(row["contributors"])
        nodes[key] = LineageNode(key, "dataset", key, {
            "records": row["records"], "root": row["root"], "op": row["op"],
            "manifest_cid": row["manifest_cid"], "publisher": names.get(row["publisher"],
                                                                        row["publisher"])})
        for parent in parents:
            edges.append(LineageEdge(parent, key, row["op"]))
            todo.append(parent)
        prior = {}
        for parent in parents:
            parent_row = ledger.row("datasets", parent)
            if parent_row is not None and parent_row["name"] == row["name"]:
                prior = canonical.loads(parent_row["contributors"])
        for did, count in shares.items():
            added = count - prior.get(did, 0)
            if added > 0:  # only what this version added; the rest came with its parent
                who = f"contributor:{did}"
                nodes.setdefault(who, LineageNode(who, "contributor", names.get(did, did[:20]),
                                                  {"did": did}))
                edges.append(LineageEdge(who, key, f"+{added}"))
    return Lineage(ref, tuple(sorted(nodes.values(), key=lambda n: n.key)), tuple(edges))


def _depths(lineage: Lineage) -> dict[str, int]:
    incoming: dict[str, list[str]] = {}
    for e in lineage.edges:
        incoming.setdefault(e.target, []).append(e.source)
    depth: dict[str, int] = {}

    def visit(key: str) -> int:
        if key not in depth:
            depth[key] = 0  # guards against a cycle, which the ledger never records
            depth[key] = 1 + max((visit(s) for s in incoming.get(key, [])), default=-1)
        return depth[key]

    for node in lineage.nodes:
        visit(node.key)
    return depth


_COLOURS = {"dataset": "#cfe3ff", "contributor": "#e8f5d0", "model": "#ffe2c4",
            "job": "#eadcf7"}


def draw_lineage(lineage: Lineage, path: Path) -> Path:
    """Draw ``lineage`` as a PNG at ``path``: one column per generation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth = _depths(lineage)
    columns: dict[int, list[LineageNode]] = {}
    for node in lineage.nodes:
        columns.setdefault(depth[node.key], []).append(node)
    where = {}
    for d, column in columns.items():
        for i, node in enumerate(column):
            where[node.key] = (d, -(i - (len(column) - 1) / 2))
    width = max(4.0, 3.2 * len(columns))
    height = max(2.5, 1.1 * max(len(c) for c in columns.values()))
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    for e in lineage.edges:
        (x0, y0), (x1, y1) = where[e.source], where[e.target]
        ax.annotate("", xy=(x1 - 0.28, y1), xytext=(x0 + 0.28, y0),
                    arrowprops={"arrowstyle": "->", "color": "#555"})
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.08, e.label, ha="center", fontsize=7,
                color="#333")
    for node in lineage.nodes:
        x, y = where[node.key]
        colour = _COLOURS.get(node.kind, "#eeeeee")
        if node.kind == "dataset":
            text = f"{node.label}\n{node.detail['records']} records\n{node.detail['root'][:12]}…"
        elif "caption" in node.detail:  # other layers' nodes (models, jobs) bring their own
            text = f"{node.label}\n{node.detail['caption']}"
        else:
            text = node.label
        ax.text(x, y, text, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round", "facecolor": colour, "edgecolor": "#678"})
    ax.set_xlim(-0.6, max(columns) + 0.6)
    ax.set_ylim(-height / 2, height / 2)
    ax.axis("off")
    ax.set_title(f"lineage of {lineage.root}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
