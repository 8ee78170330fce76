"""``plexnet id new|show|list``: identities in the keystore, and their place on the ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from plexnet.cli.output import JsonFlag, out, print_json, print_table
from plexnet.cli.workspace import Workspace

__all__ = ["app"]

app = typer.Typer(help="Identities: ed25519 keys named by did:key.", no_args_is_help=True)


@app.command("new")
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="local name, e.g. alice")],
    roles: Annotated[str, typer.Option(help="comma-separated roles, e.g. requester,provider")] = "",
    register: Annotated[bool, typer.Option(help="register the DID on this home's ledger")] = True,
    json_out: JsonFlag = False,
) -> None:
    """Create an identity (a key pair) and register it on the ledger."""
    from plexnet.core.keystore import validate_name
    from plexnet.ledger import Entry
    from plexnet.ledger.kinds.identity import IdentityRegister

    ws: Workspace = ctx.obj
    validate_name(name)
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    entry = None
    if register and ws.has_ledger():
        # Build and check the entry before writing the key, so a bad role leaves nothing.
        from plexnet.core.identity import Identity

        identity = Identity.generate(name)
        entry = Entry.create(identity, IdentityRegister(did=identity.did, name=name,
                                                        roles=role_list))
        ws.keystore.add(identity)
        try:
            seq: int | None = ws.ledger.append_one(entry)
        except BaseException:
            ws.keystore.remove(name)  # nothing half-done: no key for an unregistered DID
            raise
    else:
        identity = ws.keystore.create(name)
        seq = None
    result = {"name": name, "did": identity.did, "registered_seq": seq}
    if json_out:
        print_json(result)
        return
    out.print(f"created [bold]{name}[/bold]  {identity.did}")
    if seq is not None:
        out.print(f"registered on the ledger as entry {seq}")
    elif register:
        out.print("not registered: no ledger in this home (run `plexnet ledger init`)")


@app.command("show")
def show(ctx: typer.Context, name: str, json_out: JsonFlag = False) -> None:
    """Show an identity: its DID, registration and balance."""
    ws: Workspace = ctx.obj
    identity = ws.keystore.load(name)
    result: dict[str, object] = {"name": name, "did": identity.did,
                                 "key_file": str(ws.keystore.root / f"{name}.pem")}
    if ws.has_ledger():
        row = ws.ledger.row("identities", identity.did)
        result["registered_seq"] = row["registered_seq"] if row else None
        result["roles"] = row["roles"] if row else None
        result["balance_micro"] = ws.ledger.balance(identity.did)
    if json_out:
        print_json(result)
        return
    print_table(None, ["field", "value"], [(k, v) for k, v in result.items()])


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """List the identities in this home's keystore."""
    ws: Workspace = ctx.obj
    rows = [(n, ws.keystore.load(n).did) for n in ws.keystore.names()]
    if json_out:
        print_json([{"name": n, "did": d} for n, d in rows])
        return
    print_table(f"{len(rows)} identities in {ws.keystore.root}", ["name", "did"], rows)
