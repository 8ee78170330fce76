"""``ledger verify``: replay the whole log from nothing and compare with what is stored.

Checks, naming the row of any mismatch:

1. ``log_meta`` agrees with the genesis entry (log id, operator).
2. Entries: sequence numbers run 0..n-1 without gaps; each entry's bytes are
   canonical, its signature verifies, its leaf hash is the RFC 9162 hash of those
   bytes, its denormalized columns (kind, signer, nonce, time) match them, and it
   is accepted by the same rules that admitted it (``apply_entry``).
3. The tree: every stored interior node equals the recomputed one, none is
   missing or extra; ``log_state`` holds the true size.
4. Tree heads: each is signed by the operator, its root is the recomputed root
   at its size, times never go backwards, and the newest covers every entry.
5. Projections: every table rebuilt by the replay equals the stored table, row
   by row and column by column; and the balances sum to what was minted.

Memory: one 32-byte hash per interior node (about 32 MB per million entries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import Engine, select

from plexnet.ledger import merkle
from plexnet.ledger.entry import Entry, apply_entry
from plexnet.ledger.errors import EntryRejected, VerificationFailed
from plexnet.ledger.kinds.credits import Mint
from plexnet.ledger.schema import (
    PROJECTIONS,
    entries,
    key_column,
    log_meta,
    log_state,
    node_position,
    nodes,
    tree_heads,
)
from plexnet.ledger.state import MemoryState
from plexnet.ledger.treehead import SignedTreeHead

__all__ = ["VerifyReport", "verify_ledger"]

_PAGE: Final = 5_000


@dataclass
class VerifyReport:
    """What a replay found. ``ok`` iff ``problems`` is empty."""

    entries: int = 0
    tree_heads: int = 0
    nodes: int = 0
    root: str = ""
    minted: int = 0
    balances: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Replay:
    def __init__(self, engine: Engine, progress: Callable[[int, int], None] | None,
                 max_problems: int) -> None:
        self.engine = engine
        self.progress = progress
        self.max_problems = max_problems
        self.report = VerifyReport()
        # Interior nodes recomputed, per level: concatenated 32-byte hashes by index.
        self.levels: dict[int, bytearray] = {}

    def problem(self, text: str) -> None:
        if len(self.report.problems) < self.max_problems:
            self.report.problems.append(text)

    def run(self) -> VerifyReport:
        with self.engine.connect() as conn:
            meta = dict(conn.execute(select(log_meta.c.key, log_meta.c.value)).all())
            heads = conn.execute(select(tree_heads).order_by(tree_heads.c.size)).mappings().all()
            states = conn.execute(select(log_state.c.id, log_state.c.size)).all()
        stored_size = states[0][1] if len(states) == 1 and states[0][0] == 1 else None
        if stored_size is None:
            self.problem(f"log_state: expected one row with id 1, found {states!r}")
        total = stored_size or 0
        if set(meta) != {"log_id", "operator", "schema_version"} or \
                meta.get("schema_version") != "1":
            self.problem(f"log_meta: unexpected keys or schema version: {sorted(meta.items())}")
        operator = meta.get("operator", "")
        state = MemoryState(operator)
        frontier = merkle.Frontier()
        head_iter = iter(heads)
        next_head = next(head_iter, None)
        last_time = -1
        expected = 0
        for seq, leaf, kind, signer, nonce, time_ms, data in self._entries():
            if seq != expected:
                self.problem(f"entries: expected seq {expected}, found seq {seq} "
                             "(an entry is missing or was renumbered)")
                expected = seq
            self._check_entry(seq, leaf, kind, signer, nonce, time_ms, data, state, meta)
            for level, index, h in frontier.append(merkle.leaf_hash(data)):
                buf = self.levels.setdefault(level, bytearray())
                if len(buf) != index * 32:
                    raise AssertionError("frontier produced nodes out of order")
                buf += h
            expected += 1
            while next_head is not None and next_head["size"] == frontier.size:
                last_time = self._check_head(next_head, frontier.root(), meta, last_time)
                next_head = next(head_iter, None)
            if self.progress and expected % 1000 == 0:
                self.progress(expected, total)
        for head in ([next_head] if next_head else []) + list(head_iter):
            self.problem(f"tree_heads: head of size {head['size']} is beyond the "
                         f"{frontier.size} entries in the log")
        self.report.entries = frontier.size
        self.report.tree_heads = len(heads)
        self.report.root = frontier.root().hex()
        if stored_size is not None and stored_size != frontier.size:
            self.problem(f"log_state: size is {stored_size}, but the log holds {frontier.size}")
        if not heads or heads[-1]["size"] != frontier.size:
            self.problem(f"tree_heads: no signed head covers all {frontier.size} entries")
        self._check_nodes()
        self._check_projections(state)
        if self.progress:
            self.progress(frontier.size, total)
        return self.report

    def _entries(self) -> Any:
        pos = -1
        cols = (entries.c.seq, entries.c.leaf_hash, entries.c.kind, entries.c.signer,
                entries.c.nonce, entries.c.time_ms, entries.c.data)
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(*cols).where(entries.c.seq > pos)
                                    .order_by(entries.c.seq).limit(_PAGE)).all()
            if not rows:
                return
            for row in rows:
                yield (int(row[0]), bytes(row[1]), row[2], row[3], row[4], row[5], bytes(row[6]))
            pos = int(rows[-1][0])

    def _check_entry(self, seq: int, leaf: bytes, kind: str, signer: str, nonce: str,
                     time_ms: int, data: bytes, state: MemoryState, meta: dict[str, str]) -> None:
        if merkle.leaf_hash(data) != leaf:
            self.problem(f"entries: seq {seq}: leaf_hash does not match the entry's data")
        try:
            entry = Entry.parse(data)
        except EntryRejected as exc:
            self.problem(f"entries: seq {seq}: data: {exc}")
            return
        for column, stored, actual in (("kind", kind, entry.kind), ("signer", signer, entry.signer),
                                       ("nonce", nonce, entry.nonce),
                                       ("time_ms", time_ms, entry.time_ms)):
            if stored != actual:
                self.problem(f"entries: seq {seq}: column {column} is {stored!r} "
                             f"but the signed entry says {actual!r}")
        if seq == 0:
            body = entry.body
            if (body.get("operator"), body.get("log_id")) != (meta.get("operator"),
                                                               meta.get("log_id")):
                self.problem("log_meta: operator or log_id differs from the genesis entry")
        try:
            applied = apply_entry(entry, seq, state)
        except EntryRejected as exc:
            self.problem(f"entries: seq {seq} ({entry.kind}): rejected on replay: {exc}")
            return
        if isinstance(applied, Mint):
            self.report.minted += applied.amount

    def _check_head(self, head: Any, root: bytes, meta: dict[str, str], last_time: int) -> int:
        size = head["size"]
        if bytes(head["root"]) != root:
            self.problem(f"tree_heads: size {size}: root does not match the entries")
        if head["v"] != 1:
            self.problem(f"tree_heads: size {size}: unsupported version {head['v']}")
            return int(head["time_ms"])
        try:
            SignedTreeHead(v=head["v"], log_id=meta.get("log_id", ""), size=size,
                           root=bytes(head["root"]).hex(), time_ms=head["time_ms"],
                           signer=head["signer"], sig=head["sig"]).verify(meta.get("operator"))
        except Exception as exc:  # a tampered row may not even validate as a model
            self.problem(f"tree_heads: size {size}: bad signature: {exc}")
        if head["time_ms"] < last_time:
            self.problem(f"tree_heads: size {size}: time goes backwards")
        return int(head["time_ms"])

    def _check_nodes(self) -> None:
        seen = 0
        pos = -1
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(nodes.c.key, nodes.c.hash).where(nodes.c.key > pos)
                                    .order_by(nodes.c.key).limit(_PAGE)).all()
            if not rows:
                break
            for key, h in rows:
                level, index = node_position(key)
                buf = self.levels.get(level, bytearray())
                want = bytes(buf[index * 32 : index * 32 + 32])
                if not want:
                    self.problem(f"nodes: key {key} (level {level}, index {index}) "
                                 "is not a node of this tree")
                elif bytes(h) != want:
                    self.problem(f"nodes: key {key} (level {level}, index {index}): hash differs "
                                 "from the recomputed node")
                else:
                    seen += 1
            pos = int(rows[-1][0])
        computed = sum(len(b) // 32 for b in self.levels.values())
        self.report.nodes = seen
        if seen < computed:
            self.problem(f"nodes: {computed - seen} interior node(s) are missing or wrong")

    def _check_projections(self, state: MemoryState) -> None:
        for name, table in PROJECTIONS.items():
            pk = key_column(table)
            with self.engine.connect() as conn:
                stored = {row[pk]: dict(row) for row in
                          conn.execute(select(table)).mappings().all()}
            rebuilt = state.tables[name]
            self.report.rows[name] = len(stored)
            for key in sorted(stored.keys() | rebuilt.keys(), key=str):
                have, want = stored.get(key), rebuilt.get(key)
                if have is None:
                    self.problem(f"{name}: row {key!r} is missing")
                elif want is None:
                    self.problem(f"{name}: row {key!r} should not exist")
                else:
                    for column in (c.name for c in table.columns):
                        if have.get(column) != want.get(column):
                            self.problem(f"{name}: row {key!r}: column {column} is "
                                         f"{have.get(column)!r}, replay gives {want.get(column)!r}")
        stored_total = sum(int(r["balance"]) for r in state.tables["accounts"].values())
        with self.engine.connect() as conn:
            balances = conn.execute(select(PROJECTIONS["accounts"].c.balance))
            db_total = sum(int(b) for (b,) in balances)
        self.report.balances = db_total
        if stored_total != self.report.minted or db_total != self.report.minted:
            self.problem(f"accounts: balances sum to {db_total}, but {self.report.minted} "
                         "micro-credits were minted")


def verify_ledger(engine: Engine, *, progress: Callable[[int, int], None] | None = None,
                  max_problems: int = 100, raise_on_problem: bool = False) -> VerifyReport:
    """Replay and check the whole ledger in ``engine`` (see the module docstring).

    Args:
        progress: called with (entries checked, total) as the replay advances.
        max_problems: stop recording after this many problems (the count still fails).
        raise_on_problem: raise :class:`VerificationFailed` instead of returning a
            report with problems.
    """
    report = _Replay(engine, progress, max_problems).run()
    if raise_on_problem and report.problems:
        raise VerificationFailed(report.problems)
    return report
