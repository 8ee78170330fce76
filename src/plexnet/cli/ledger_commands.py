"""``plexnet ledger init|head|show|prove|verify|balances``: the verifiable log."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from plexnet.cli.output import JsonFlag, err, out, print_json, print_table, short
from plexnet.cli.workspace import OPERATOR, Workspace

__all__ = ["app"]

app = typer.Typer(help="The ledger: an RFC 9162 Merkle log of signed entries.",
                  no_args_is_help=True)


@app.command("init")
def init(
    ctx: typer.Context,
    log_id: Annotated[str | None, typer.Option(help="name of the log (default: random)")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Create the operator identity (if needed) and a new ledger in this home."""
    from plexnet.ledger import Ledger

    ws: Workspace = ctx.obj
    operator = ws.keystore.load_or_create(OPERATOR)
    ledger = Ledger.create(ws.engine, operator, log_id)
    head = ledger.head()
    if json_out:
        print_json({"log_id": ledger.log_id, "operator": operator.did, "head": head})
        return
    out.print(f"created ledger [bold]{ledger.log_id}[/bold] at {ws.settings.database_url}")
    out.print(f"operator {operator.did}")


@app.command("head")
def head(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Show the latest signed tree head (after checking its signature)."""
    ws: Workspace = ctx.obj
    sth = ws.ledger.head()
    sth.verify(ws.ledger.operator_did)
    if json_out:
        print_json(sth)
        return
    print_table(f"tree head of {sth.log_id}", ["field", "value"], [
        ("size", sth.size), ("root", sth.root), ("time_ms", sth.time_ms),
        ("signer", sth.signer), ("signature", "valid"),
    ])


@app.command("show")
def show(
    ctx: typer.Context,
    seq: Annotated[int | None, typer.Argument(help="entry number; omit to list entries")] = None,
    kind: Annotated[str | None, typer.Option(help="only entries of this kind")] = None,
    start: Annotated[int, typer.Option(min=0, help="first entry to list")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="most entries to list")] = 50,
    json_out: JsonFlag = False,
) -> None:
    """Show one entry in full, or list entries."""
    from plexnet.core import canonical

    ws: Workspace = ctx.obj
    if seq is not None:
        stored = ws.ledger.get(seq)
        doc = {"seq": stored.seq, "leaf_hash": stored.leaf_hash.hex(),
               "entry": canonical.loads(stored.data)}
        if json_out:
            print_json(doc)
        else:
            out.print_json(data=doc)
        return
    rows = []
    for stored in ws.ledger.scan(start, kind=kind):
        entry = stored.entry
        rows.append({"seq": stored.seq, "kind": entry.kind, "signer": entry.signer,
                     "time_ms": entry.time_ms, "leaf_hash": stored.leaf_hash.hex(),
                     "body": entry.body})
        if len(rows) >= limit:
            break
    if json_out:
        print_json(rows)
        return
    print_table(f"entries from {start}" + (f" of kind {kind}" if kind else ""),
                ["seq", "kind", "signer", "body"],
                [(r["seq"], r["kind"], short(r["signer"]), _brief(r["body"])) for r in rows])


def _brief(body: dict[str, Any]) -> str:
    parts = []
    for key, value in body.items():
        text = value if isinstance(value, str) else str(value)
        parts.append(f"{key}={short(text, 10) if len(text) > 30 else text}")
    return " ".join(parts)


@app.command("prove")
def prove(
    ctx: typer.Context,
    seq: Annotated[int | None, typer.Argument(help="entry to prove included")] = None,
    size: Annotated[int | None, typer.Option(help="tree size to prove against "
                                             "(default: latest)")] = None,
    since: Annotated[int | None, typer.Option(help="prove the tree at --size (default: latest) "
                                              "consistent with this older size")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Print an inclusion proof for an entry, or a consistency proof between two sizes.

    The proof is checked against the operator's signed tree head before it is printed,
    and the JSON carries that head, so anyone can check it again offline.
    """
    ws: Workspace = ctx.obj
    ledger = ws.ledger
    if (seq is None) == (since is None):
        raise typer.BadParameter("give an entry SEQ, or --since OLD_SIZE (not both)")
    sth = ledger.tree_head(size) if size is not None else ledger.head()
    sth.verify(ledger.operator_did)
    proof: Any
    if seq is not None:
        proof = ledger.inclusion_proof(seq, sth.size)
        kind = "inclusion"
    else:
        assert since is not None
        proof = ledger.consistency_proof(since, sth.size)
        kind = "consistency"
    proof.verify()
    root = proof.root if kind == "inclusion" else proof.new_root
    if root != sth.root:
        raise typer.BadParameter("the proof does not lead to the signed root")  # pragma: no cover
    doc = {"kind": kind, "proof": proof, "tree_head": sth}
    if json_out:
        print_json(doc)
        return
    out.print_json(data=doc, default=lambda v: v.model_dump(mode="json"))
    err.print(f"{kind} proof verified against the signed tree head of size {sth.size}")


@app.command("verify")
def verify(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Replay the whole log: signatures, leaf hashes, tree heads, every projection table."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from plexnet.ledger import VerificationFailed, verify_ledger

    ws: Workspace = ctx.obj
    ledger = ws.ledger  # fails cleanly if there is none
    with Progress("replaying", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=json_out) as bar:
        task = bar.add_task("entries", total=ledger.size())
        report = verify_ledger(ws.engine, progress=lambda done, total: bar.update(
            task, completed=done, total=total))
    if json_out:
        print_json({"ok": report.ok, **report.__dict__})
    elif report.ok:
        out.print(f"[green]ok[/green]: {report.entries} entries, {report.tree_heads} signed "
                  f"tree heads, {report.nodes} tree nodes, "
                  f"{sum(report.rows.values())} projection rows; root {report.root}")
        out.print(f"balances sum to the {report.minted} micro-credits minted")
    if not report.ok:
        if not json_out:
            for problem in report.problems:
                err.print(f"[red]✗[/red] {escape(problem)}", highlight=False)
        raise VerificationFailed(report.problems)


@app.command("balances")
def balances(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Every account's balance (credits held by DIDs and escrows)."""
    from plexnet.ledger.kinds.credits import credits

    ws: Workspace = ctx.obj
    names = {r["did"]: r["name"] for r in ws.ledger.rows("identities")}
    rows = ws.ledger.rows("accounts")
    if json_out:
        print_json([{"account": r["account"], "name": names.get(r["account"]),
                     "balance_micro": r["balance"]} for r in rows])
        return
    print_table("balances (credits)", ["account", "name", "balance"],
                [(short(r["account"], 16), names.get(r["account"], ""),
                  f"{credits(r['balance']):.6f}") for r in rows])


@app.command("mint")
def mint(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="identity to credit")],
    amount: Annotated[float, typer.Argument(min=0.000001, help="credits")],
    memo: Annotated[str, typer.Option()] = "",
    json_out: JsonFlag = False,
) -> None:
    """Mint credits to an identity (the operator's key must be in this home)."""
    from plexnet.core.errors import ConfigError
    from plexnet.ledger import Entry
    from plexnet.ledger.kinds import credits as cr

    ws: Workspace = ctx.obj
    operator = ws.operator()
    if operator is None:
        raise ConfigError("minting needs the operator's key, which is not in this home")
    to = ws.keystore.load(name)
    seq = ws.ledger.append_one(Entry.create(operator, cr.Mint(to=to.did, amount=cr.micro(amount),
                                                              memo=memo)))
    balance = ws.ledger.balance(to.did)
    if json_out:
        print_json({"seq": seq, "to": to.did, "amount_micro": cr.micro(amount),
                    "balance_micro": balance})
        return
    out.print(f"minted {amount:g} credits to {name} (entry {seq}); balance "
              f"{cr.credits(balance):.6f}")


@app.command("transfer")
def transfer(
    ctx: typer.Context,
    sender: Annotated[str, typer.Argument(help="identity that pays (its key must be here)")],
    recipient: Annotated[str, typer.Argument(help="identity name or DID that receives")],
    amount: Annotated[float, typer.Argument(min=0.000001, help="credits")],
    memo: Annotated[str, typer.Option()] = "",
) -> None:
    """Transfer credits, signed by the sender."""
    from plexnet.ledger import Entry
    from plexnet.ledger.kinds import credits as cr

    ws: Workspace = ctx.obj
    me = ws.keystore.load(sender)
    to = recipient if recipient.startswith("did:") else ws.keystore.load(recipient).did
    seq = ws.ledger.append_one(Entry.create(me, cr.Transfer(to=to, amount=cr.micro(amount),
                                                            memo=memo)))
    out.print(f"{sender} paid {amount:g} credits to {recipient} (entry {seq})")
