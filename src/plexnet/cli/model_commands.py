"""``plexnet model …``: the registered models, one model's card, and its lineage.

* ``register MODEL --job JOB --as NAME`` — put the model a verified job trained on the
  ledger; its artifact, dataset, parents and receipts are read from the job, not
  declared (``plexnet.models.registry.register_from_job``);
* ``list`` — every model on the ledger: publisher, artifact, dataset, job, parents;
* ``show MODEL`` — one model's registry entry (lineage and metrics as recorded);
* ``lineage MODEL [--png FILE]`` — parents, dataset versions, contributors and the job;
* ``verify MODEL`` — every lineage check of ``plexnet.models.lineage.verify_model``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from plexnet.cli.output import JsonFlag, out, print_json, print_table, short, show_lineage
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
            "metrics": canonical.loads(row["metrics"]), "card": canonical.loads(row["card"]),
            "receipts": canonical.loads(row["receipts"]),
            "registered_seq": row["registered_seq"]}


@app.command("register")
def register(
    ctx: typer.Context, model: ModelArg,
    job: Annotated[str, typer.Option(help="the verified job that trained it")],
    publisher: Annotated[str, typer.Option("--as", help="the publisher's identity name")],
    tier: Annotated[str | None, typer.Option(
        help="L0 general, L1 industry or L2 vertical; default: its parent's, L0 without")] = None,
    parent: Annotated[list[str] | None, typer.Option(
        help="a parent model id (repeat for several); default: every registered model "
             "whose artifact the job read")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Register the model a verified job trained, with its card and its lineage."""
    from plexnet.models.registry import register_from_job

    ws: Workspace = ctx.obj
    me = ws.keystore.load(publisher)
    ws.ledger.append([register_from_job(ws.ledger, ws.blobs, me, model, job, tier=tier,
                                        parents=parent or None)])
    card = _card(ws, ws.ledger.row("models", model))
    if json_out:
        print_json(card)
        return
    lineage = card["lineage"]
    out.print(f"registered {model} (tier {card['card']['tier']}): {card['artifact_cid']}; "
              f"dataset {lineage.get('dataset') or '-'}, job {job}, parents "
              f"{', '.join(lineage['parents']) or '-'}, {len(card['receipts'])} receipt(s)")


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


@app.command("verify")
def verify(ctx: typer.Context, model: ModelArg, json_out: JsonFlag = False) -> None:
    """Check a model and its parents from the ledger and blob store alone: signed entry in
    the signed tree, artifact vs CID and card, receipts, dataset root, other formats.
    Exit 1 if any check fails."""
    from plexnet.core.errors import PlexnetError
    from plexnet.models.lineage import verify_model

    ws: Workspace = ctx.obj
    checks = verify_model(ws.ledger, ws.blobs, model)
    if json_out:
        print_json([{"model": c.model_id, "check": c.check, "ok": c.ok, "detail": c.detail}
                    for c in checks])
    else:
        print_table(f"model {model}: lineage checks", ["model", "check", "ok", "detail"],
                    [(c.model_id, c.check, "yes" if c.ok else "NO", c.detail) for c in checks])
    failed = [c for c in checks if not c.ok]
    if failed:
        raise PlexnetError(f"{len(failed)} of {len(checks)} checks failed; first: "
                           f"{failed[0].model_id} {failed[0].check}: {failed[0].detail}")
