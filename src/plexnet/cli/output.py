"""How commands print: a rich table or line for people, or JSON with ``--json``.

Results go to stdout; progress and errors go to stderr, so ``--json`` output can
be piped into ``jq`` while a progress bar runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["JsonFlag", "err", "out", "print_json", "print_table", "short"]

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]
"""The --json option every command that prints a result takes."""

out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=_default) + "\n")


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def print_table(title: str | None, columns: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(c) if c is not None else "-" for c in row))
    out.print(table)


def short(text: str, keep: int = 12) -> str:
    """Shorten a DID, CID or hash for tables: 'did:key:z6Mk…Xy9'."""
    if len(text) <= 2 * keep + 1:
        return text
    return f"{text[:keep]}…{text[-6:]}"


def show_lineage(graph: Any, png: Any, json_out: bool) -> None:
    """Print a lineage (``plexnet.data.lineage.Lineage``) as JSON or one edge per line,
    and draw it to ``png`` if given."""
    if png is not None:
        from plexnet.data.lineage import draw_lineage

        draw_lineage(graph, png)
    if json_out:
        print_json(graph.to_json())
        return
    labels = {n.key: n.label for n in graph.nodes}
    for e in graph.edges:
        out.print(f"{labels[e.source]} --{e.label}--> {labels[e.target]}", highlight=False)
    if png is not None:
        err.print(f"drew {png}")
