"""The Merkle tree as stored in the database: read nodes for proofs and roots.

Proof structure comes from :mod:`plexnet.ledger.merkle` as leaf ranges; each
range splits into O(log n) perfect subtrees, whose hashes are single rows
(``entries.leaf_hash`` for leaves, ``nodes`` for interior nodes). A proof or a
root therefore costs two indexed ``IN`` queries, whatever the size of the log.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from plexnet.ledger import merkle
from plexnet.ledger.errors import LedgerError
from plexnet.ledger.schema import entries, node_key, nodes

__all__ = ["fetch_subtrees", "load_frontier", "range_hashes"]

Subtree = tuple[int, int]  # (level, index)


def fetch_subtrees(conn: Connection, wanted: Iterable[Subtree]) -> dict[Subtree, bytes]:
    """Hashes of the given perfect subtrees.

    Raises:
        LedgerError: if a node the tree must have is missing (a damaged store).
    """
    wanted = set(wanted)
    found: dict[Subtree, bytes] = {}
    leaves = [index for level, index in wanted if level == 0]
    inner = {node_key(level, index): (level, index) for level, index in wanted if level > 0}
    if leaves:
        rows = conn.execute(select(entries.c.seq, entries.c.leaf_hash)
                            .where(entries.c.seq.in_(leaves)))
        found.update({(0, seq): bytes(h) for seq, h in rows})
    if inner:
        rows = conn.execute(select(nodes.c.key, nodes.c.hash).where(nodes.c.key.in_(inner)))
        found.update({inner[key]: bytes(h) for key, h in rows})
    missing = wanted - found.keys()
    if missing:
        level, index = min(missing)
        raise LedgerError(
            f"the stored tree lacks node (level {level}, index {index}); "
            "run `plexnet ledger verify`"
        )
    return found


def range_hashes(conn: Connection, ranges: list[tuple[int, int]]) -> list[bytes]:
    """MTH of each aligned leaf range, from stored nodes."""
    parts = [merkle.perfect_subtrees(start, end) for start, end in ranges]
    found = fetch_subtrees(conn, (s for part in parts for s in part))
    return [merkle.fold_subtrees([found[s] for s in part]) for part in parts]


def load_frontier(conn: Connection, size: int) -> merkle.Frontier:
    """The frontier of the stored tree of ``size`` leaves, ready to append to."""
    subtrees = merkle.perfect_subtrees(0, size)
    found = fetch_subtrees(conn, subtrees)
    return merkle.Frontier(size, [found[s] for s in subtrees])
