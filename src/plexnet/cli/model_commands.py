"""``plexnet model …``: the registered models, one model's card, and its lineage.

* ``list`` — every model on the ledger: publisher, artifact, dataset, job, parents;
* ``show MODEL`` — one model's registry entry (lineage and metrics as recorded);
* ``lineage MODEL [--png FILE]`` — parents, dataset versions, contributors and the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from plexnet.cli.output import JsonFlag, print_json, print_table, short, show_lineage
from plexnet.cli.workspace import Workspace

__all__ = ["app"]

app = typer.Typer(help="Models: the registry on the ledger and each model's lineage.",
                  no_args_is_help=True)
ModelArg = Annotated[str, typer.Argument(help="model id, as registered")]


def _card(ws: Workspace, row: dict[str, Any]) -> dict[str, Any]:
    from plexnet.core import canonical

    names = {r["did"]: r["name"] for r in ws.ledger.rows("identities")}
    return {"model_id": row["model_id"], "artifact_cid": row["artifact_cid"],
            "publisher": names.get(row["publisher"], row["publisher"]),
            "lineage": canonical.loads(row["lineage"]),
            "metrics": canonical.loads(row["metrics"]), "registered_seq": row["registered_seq"]}


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Every registered model."""
    ws: Workspace = ctx.obj
    cards = [_card(ws, r) for r in ws.ledger.rows("models")]
    if json_out:
        print_json(cards)
        return
    print_table("models", ["model", "publisher", "artifact", "dataset", "job", "parents"],
                [(c["model_id"], c["publisher"], short(c["artifact_cid"]),
                  c["lineage"].get("dataset") or "-", c["lineage"].get("job_id") or "-",
                  ", ".join(c["lineage"].get("parents", [])) or "-") for c in cards])


@app.command("show")
def show(ctx: typer.Context, model: ModelArg, json_out: JsonFlag = False) -> None:
    """One model's registry entry."""
    from plexnet.ledger import NotFound

    ws: Workspace = ctx.obj
    row = ws.ledger.row("models", model)
    if row is None:
        raise NotFound(f"no model {model!r} on the ledger (plexnet model list)")
    card = _card(ws, row)
    if json_out:
        print_json(card)
        return
    print_table(f"model {model}", ["field", "value"],
                [(k, v if not isinstance(v, dict | list) else str(v))
                 for k, v in card.items()])


@app.command("lineage")
def lineage(
    ctx: typer.Context, model: ModelArg,
    png: Annotated[Path | None, typer.Option(help="also draw it as a PNG here")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Where a model came from: parent models, dataset versions, contributors, the job."""
    from plexnet.models.lineage import model_lineage

    ws: Workspace = ctx.obj
    show_lineage(model_lineage(ws.ledger, model), png, json_out)
