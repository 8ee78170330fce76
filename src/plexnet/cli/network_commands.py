"""``plexnet network up|down|status`` and ``plexnet provider join|leave|list|show``.

A network is a Ray head plus the ledger; a provider is a Ray worker node carrying
its custom resource, with its stake locked and its signed profile on the ledger.
On one machine, several providers are several Ray nodes; from other machines the
same ``provider join --address HEAD`` attaches to the head.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from plexnet.cli.output import JsonFlag, out, print_json, print_table, short
from plexnet.cli.workspace import OPERATOR, Workspace

__all__ = ["network_app", "provider_app"]

network_app = typer.Typer(help="The network: a Ray head and the ledger.", no_args_is_help=True)
provider_app = typer.Typer(help="Providers: lend compute as a Ray node.", no_args_is_help=True)


def _head_address(ws: Workspace, address: str | None) -> str:
    from plexnet.compute.node import HEAD, node_records
    from plexnet.core.errors import ConfigError

    if address:
        return address
    if ws.settings.ray_address:
        return ws.settings.ray_address
    for record in node_records(ws.settings.home):
        if record.name == HEAD and record.alive():
            return record.address
    raise ConfigError("no network head here: run `plexnet network up`, or pass --address "
                      "HOST:PORT of a head on another machine")


@network_app.command("up")
def up(ctx: typer.Context,
       port: Annotated[int, typer.Option(min=1024, max=65535, help="Ray head port")] = 6379,
       json_out: JsonFlag = False) -> None:
    """Start a Ray head on this machine and make sure the ledger exists."""
    from plexnet.compute.node import start_head
    from plexnet.ledger import Ledger

    ws: Workspace = ctx.obj
    if not ws.has_ledger():
        Ledger.create(ws.engine, ws.keystore.load_or_create(OPERATOR))
    record = start_head(ws.settings.home, port)
    if json_out:
        print_json({"address": record.address, "pid": record.pid, "log_id": ws.ledger.log_id})
        return
    out.print(f"network up: Ray head at {record.address} (pid {record.pid}); "
              f"ledger {ws.ledger.log_id}")
    out.print(f"providers join with: plexnet provider join NAME --device MODEL "
              f"--address {record.address}")


@network_app.command("down")
def down(ctx: typer.Context) -> None:
    """Stop every provider node and the head that this home started."""
    from plexnet.compute.node import HEAD, node_records, stop_node

    ws: Workspace = ctx.obj
    records = node_records(ws.settings.home)
    for record in sorted(records, key=lambda r: r.name == HEAD):  # providers first
        stopped = stop_node(ws.settings.home, record.name)
        out.print(f"{record.name}: {'stopped' if stopped else 'was not running'}")
    if not records:
        out.print("nothing to stop")


@network_app.command("status")
def status(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Nodes this home started, and the providers on the ledger."""
    from plexnet.compute.node import node_records

    ws: Workspace = ctx.obj
    nodes = [{"name": r.name, "address": r.address, "pid": r.pid, "alive": r.alive()}
             for r in node_records(ws.settings.home)]
    providers = _providers(ws) if ws.has_ledger() else []
    if json_out:
        print_json({"nodes": nodes, "providers": providers})
        return
    print_table("nodes started here", ["name", "address", "pid", "alive"],
                [(n["name"], n["address"], n["pid"], n["alive"]) for n in nodes])
    _print_providers(providers)


def _providers(ws: Workspace) -> list[dict[str, Any]]:
    from plexnet.core import canonical

    names = {r["did"]: r["name"] for r in ws.ledger.rows("identities")}
    rows = []
    for row in ws.ledger.rows("providers"):
        profile = canonical.loads(row["profile"])
        stake = ws.ledger.row("escrows", f"stake-{profile.get('name')}")
        rows.append({"name": names.get(row["did"], ""), "did": row["did"],
                     "status": row["status"], "profile": profile,
                     "verified_ok": row["verified_ok"], "verified_bad": row["verified_bad"],
                     "stake_micro": stake["remaining"] if stake else 0})
    return rows


def _print_providers(providers: list[dict[str, Any]]) -> None:
    print_table("providers on the ledger", ["name", "status", "device", "tier", "region",
                                            "price/h", "stake", "verified ok/bad"],
                [(p["name"], p["status"],
                  f"{p['profile'].get('device_count', 1)}x {p['profile'].get('device_model')}",
                  p["profile"].get("tier"), p["profile"].get("region"),
                  p["profile"].get("price_per_device_hour"), p["stake_micro"],
                  f"{p['verified_ok']}/{p['verified_bad']}") for p in providers])


@provider_app.command("join")
def join(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="provider (and identity) name")],
    device: Annotated[str, typer.Option(help="device model from the catalog, e.g. A100-80GB, "
                                        "RTX4090, 'Ryzen 9 7950X'")],
    count: Annotated[int, typer.Option(min=1, help="number of devices")] = 1,
    price: Annotated[float | None, typer.Option(min=0, help="credits per device-hour "
                                                "(default: the marketplace median)")] = None,
    tier: Annotated[str, typer.Option(help="cloud, fog or edge")] = "fog",
    region: Annotated[str, typer.Option()] = "local",
    bandwidth_mbps: Annotated[float, typer.Option(min=0.001)] = 1000.0,
    rtt_ms: Annotated[float, typer.Option(min=0)] = 10.0,
    stake: Annotated[float, typer.Option(min=0, help="credits to lock as stake")] = 1.0,
    cpus: Annotated[int, typer.Option(min=1, help="CPUs the Ray node offers")] = 1,
    address: Annotated[str | None, typer.Option(help="Ray head HOST:PORT")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Lend compute: start a Ray node for NAME, lock its stake, register its signed profile."""
    from plexnet.compute.catalog import device as find_device
    from plexnet.compute.node import start_provider, stop_node
    from plexnet.compute.pricebook import DECENTRALISED
    from plexnet.compute.pricebook import load as load_prices
    from plexnet.compute.profile import ProviderProfile
    from plexnet.core.errors import ConfigError
    from plexnet.ledger import Entry
    from plexnet.ledger.kinds import credits as cr
    from plexnet.ledger.kinds.identity import IdentityRegister
    from plexnet.ledger.kinds.jobs import ProviderRegister

    ws: Workspace = ctx.obj
    head = _head_address(ws, address)
    spec = find_device(device)
    if price is None:
        books = load_prices()
        # the marketplace median if a marketplace lists the device, else the clouds'
        for book in (books.only(DECENTRALISED), books):
            if book.for_accelerator(spec.family):
                price = float(book.median(spec.family))
                break
        else:
            raise ConfigError(f"no price book lists {spec.name}; pass --price")
    profile = ProviderProfile(
        name=name, device_kind=spec.kind, device_model=spec.name, device_count=count,
        peak_flops=spec.peak_flops_tensor or spec.peak_flops_fp32, memory_gb=spec.memory_gb,
        tier=tier, region=region, bandwidth_mbps=bandwidth_mbps, rtt_ms=rtt_ms,  # type: ignore[arg-type]
        price_per_device_hour=price, stake_micro=cr.micro(stake))
    me = ws.keystore.load_or_create(name)
    ledger = ws.ledger
    if ledger.row("identities", me.did) is None:
        ledger.append_one(Entry.create(me, IdentityRegister(did=me.did, name=name,
                                                            roles=["provider"])))
    if ledger.balance(me.did) < profile.stake_micro:
        raise ConfigError(f"{name} holds {cr.credits(ledger.balance(me.did)):.6f} credits but "
                          f"the stake is {stake:g}; get credits first "
                          f"(`plexnet ledger mint {name} {stake:g}` as the operator)")
    record = start_provider(ws.settings.home, profile, head, cpus)
    try:
        batch = [Entry.create(me, ProviderRegister(profile=profile.model_dump(mode="json")))]
        if profile.stake_micro:
            batch.insert(0, Entry.create(me, cr.Escrow(
                escrow_id=f"stake-{name}", amount=profile.stake_micro,
                arbiter=ledger.operator_did, purpose="provider stake")))
        ledger.append(batch)
    except BaseException:
        stop_node(ws.settings.home, name)  # no node without its ledger record
        raise
    result = {"name": name, "did": me.did, "address": head, "pid": record.pid,
              "profile": profile.model_dump(mode="json")}
    if json_out:
        print_json(result)
        return
    out.print(f"{name} joined {head} as a Ray node (pid {record.pid}): {count}x {spec.name}, "
              f"{price:.4f} credits/device-hour, stake {stake:g}")


@provider_app.command("leave")
def leave(ctx: typer.Context, name: str,
          reason: Annotated[str, typer.Option()] = "leaving") -> None:
    """Stop NAME's node, mark it gone on the ledger and return its stake."""
    from plexnet.compute.node import stop_node
    from plexnet.ledger import Entry
    from plexnet.ledger.kinds import credits as cr
    from plexnet.ledger.kinds.jobs import ProviderLeave

    ws: Workspace = ctx.obj
    me = ws.keystore.load(name)
    ledger = ws.ledger
    batch = [Entry.create(me, ProviderLeave(reason=reason))]
    stake = ledger.row("escrows", f"stake-{name}")
    operator = ws.operator()
    if stake and stake["status"] == "open" and operator is not None:
        batch.append(Entry.create(operator, cr.Release(
            escrow_id=f"stake-{name}", to=me.did, amount=stake["remaining"],
            memo="stake returned on leaving")))
    ledger.append(batch)
    stopped = stop_node(ws.settings.home, name)
    out.print(f"{name} left the network" + ("" if stopped else " (its node was not running)"))


@provider_app.command("list")
def list_(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Providers on the ledger, with their reputations and stakes."""
    ws: Workspace = ctx.obj
    providers = _providers(ws)
    if json_out:
        print_json(providers)
        return
    _print_providers(providers)


@provider_app.command("show")
def show(ctx: typer.Context, name: str, json_out: JsonFlag = False) -> None:
    """One provider's profile, reputation and stake."""
    from plexnet.compute.reputation import Reputation
    from plexnet.ledger import NotFound

    ws: Workspace = ctx.obj
    found = [p for p in _providers(ws) if p["name"] == name]
    if not found:
        raise NotFound(f"no provider named {name!r} on the ledger")
    p = found[0]
    rep = Reputation().observe(p["verified_ok"], p["verified_bad"])
    p = {**p, "reputation_mean": round(rep.mean, 4),
         "reputation_lower_bound": round(rep.lower_bound(), 4)}
    if json_out:
        print_json(p)
        return
    rows = [(k, v) for k, v in p.items() if k != "profile"]
    rows += [(f"profile.{k}", v) for k, v in p["profile"].items()]
    print_table(f"provider {name} ({short(p['did'])})", ["field", "value"], rows)
