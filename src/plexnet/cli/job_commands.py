"""``plexnet job quote|submit|status|list|cancel|logs``: compute jobs on the network.

A job spec is JSON (the fields of :class:`plexnet.compute.job.JobSpec`), given as
a file; ``submit`` escrows the budget, submits the job signed by the requester,
and then coordinates it to settlement on the network's Ray cluster with the
operator's key (placement, replication, re-runs, verification, payment),
printing each step as it happens.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from plexnet.cli.output import JsonFlag, err, out, print_json, print_table, short
from plexnet.cli.workspace import Workspace

if TYPE_CHECKING:
    from plexnet.compute.job import JobSpec
    from plexnet.compute.settlement import Participant

__all__ = ["app"]

app = typer.Typer(help="Compute jobs: quote, submit, follow.", no_args_is_help=True)
SpecFile = Annotated[Path, typer.Argument(help="job spec (JSON with the JobSpec fields)",
                                          exists=True, dir_okay=False, readable=True)]


def _spec(path: Path) -> JobSpec:
    from plexnet.compute.job import JobSpec

    return JobSpec.model_validate_json(path.read_bytes())


def participants(ws: Workspace) -> list[Participant]:
    """Active providers on the ledger, with reputations, whose keys this home holds."""
    from plexnet.compute.placement import ProviderState
    from plexnet.compute.profile import ProviderProfile
    from plexnet.compute.reputation import Reputation
    from plexnet.compute.settlement import Participant
    from plexnet.core import canonical

    found = []
    for row in ws.ledger.rows("providers"):
        if row["status"] != "active":
            continue
        profile = ProviderProfile.model_validate(canonical.loads(row["profile"]))
        if not ws.keystore.has(profile.name):
            continue  # another machine's provider: its node signs with its own key
        reputation = Reputation().observe(row["verified_ok"], row["verified_bad"])
        stake = f"stake-{profile.name}"
        found.append(Participant(ProviderState(profile, reputation), row["did"], profile.name,
                                 stake if ws.ledger.row("escrows", stake) else None))
    return found


@app.command("quote")
def quote_(ctx: typer.Context, spec: SpecFile, json_out: JsonFlag = False) -> None:
    """Show the placement options for a job before anything is committed."""
    from plexnet.compute.placement import quote
    from plexnet.compute.task import load_task

    ws: Workspace = ctx.obj
    job = _spec(spec)
    _load_task_kinds()
    load_task(job.task)  # an unknown task kind is refused before any quote
    options = quote(job, [p.state for p in participants(ws)])
    rows = [{"providers": {a.provider: a.units for a in d.assignments}, "time_s": d.time_s,
             "solver": d.solver, "compute_micro": d.cost.compute_micro,
             "transfer_micro": d.cost.transfer_micro,
             "verification_micro": d.cost.verification_micro, "risk_micro": d.cost.risk_micro,
             "total_micro": d.cost.total_micro} for d in options]
    if json_out:
        print_json({"job_id": job.job_id, "options": rows,
                    "excluded": dict(options[0].excluded)})
        return
    print_table(f"quotes for {job.job_id} ({job.task}, {job.workload.units} "
                f"{job.workload.kind} units)",
                ["providers", "time", "compute", "transfer", "verification", "risk", "total µcr"],
                [(", ".join(f"{k}x{v}" for k, v in r["providers"].items()),
                  f"{r['time_s']:.1f} s", r["compute_micro"], r["transfer_micro"],
                  r["verification_micro"], r["risk_micro"], r["total_micro"]) for r in rows])
    for name, why in options[0].excluded:
        out.print(f"excluded {name}: {escape(why)}")


@app.command("submit")
def submit(
    ctx: typer.Context, spec: SpecFile,
    requester: Annotated[str, typer.Option("--as", help="the requester's identity name")],
    address: Annotated[str | None, typer.Option(help="Ray head HOST:PORT")] = None,
    seed: Annotated[int, typer.Option(help="seeds which units are replicated")] = 0,
    json_out: JsonFlag = False,
) -> None:
    """Escrow the budget, submit the job, and coordinate it to settlement.

    Parallel jobs run as independent attempts; coupled jobs as a gang on Ray Train,
    checkpointed and audited. A progress bar follows the attempts on the ledger.
    """
    from plexnet.cli.network_commands import _head_address
    from plexnet.compute.controller import JobReport, run_parallel_job
    from plexnet.compute.coupled import run_coupled_job
    from plexnet.compute.node import connect_ray
    from plexnet.core.errors import ConfigError
    from plexnet.ledger import Entry
    from plexnet.ledger.kinds import credits as cr
    from plexnet.ledger.kinds.jobs import JobSubmit

    ws: Workspace = ctx.obj
    job = _spec(spec)
    me = ws.keystore.load(requester)
    operator = ws.operator()
    if operator is None:
        raise ConfigError("coordinating a job needs the operator's key in this home")
    connect_ray(_head_address(ws, address))
    _load_task_kinds()
    ws.ledger.append([
        Entry.create(me, cr.Escrow(escrow_id=job.job_id, amount=job.budget_micro,
                                   arbiter=operator.did, purpose=f"budget of {job.job_id}")),
        Entry.create(me, JobSubmit(job_id=job.job_id, task=job.task,
                                   spec=job.model_dump(mode="json"), escrow_id=job.job_id,
                                   units=job.workload.units)),
    ])
    run = run_parallel_job if job.workload.kind == "parallel" else run_coupled_job
    with _attempts_progress(ws, job.job_id, disable=json_out):
        report = run(job, participants(ws), operator=operator, requester_did=me.did,
                     escrow_id=job.job_id, ledger=ws.ledger, blob_root=ws.settings.blob_root,
                     keystore_root=ws.settings.keystore, seed=seed,
                     on_event=None if json_out else lambda t: err.print(f"  {escape(t)}"))
    results = (report.results if isinstance(report, JobReport) else {0: report.result})
    result = {"job_id": job.job_id, "results": {u: list(o) for u, o in results.items()},
              "paid_micro": report.paid_micro, "slashed_micro": report.slashed_micro,
              "refund_micro": report.refund_micro, "caught": report.caught,
              "lost_providers": report.lost_providers,
              "useful_fraction": round(report.useful_fraction, 4)}
    if json_out:
        print_json(result)
        return
    out.print(f"{job.job_id} settled: paid {report.paid_micro}, refunded "
              f"{report.refund_micro} micro-credits")


def _load_task_kinds() -> None:
    """Register plexnet's own task kinds (the CLI is the one layer that may know them all)."""
    import plexnet.compute.matmul
    import plexnet.models.batch
    import plexnet.models.distill
    import plexnet.models.distributed
    import plexnet.models.lm
    import plexnet.models.rl
    import plexnet.models.supervised
    import plexnet.models.unsupervised  # noqa: F401


@contextlib.contextmanager
def _attempts_progress(ws: Workspace, job_id: str, *, disable: bool) -> Iterator[None]:
    """A progress bar of the job's attempts done, read from the ledger while the job runs."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    stop = threading.Event()
    with Progress(f"{job_id}", BarColumn(), MofNCompleteColumn(), "attempts",
                  TimeElapsedColumn(), console=err, transient=True, disable=disable) as bar:
        task = bar.add_task("attempts", total=None)

        def follow() -> None:
            while not stop.wait(0.5):
                rows = [r for r in ws.ledger.rows("attempts") if r["job_id"] == job_id]
                bar.update(task, total=len(rows) or None,
                           completed=sum(r["status"] != "assigned" for r in rows))

        watcher = threading.Thread(target=follow, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join(timeout=2)


@app.command("status")
def status(ctx: typer.Context, job_id: str, json_out: JsonFlag = False) -> None:
    """A job's status and its attempts."""
    from plexnet.ledger import NotFound

    ws: Workspace = ctx.obj
    job = ws.ledger.row("jobs", job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r} on the ledger")
    attempts = [r for r in ws.ledger.rows("attempts") if r["job_id"] == job_id]
    if json_out:
        print_json({"job": job, "attempts": attempts})
        return
    out.print(f"{job_id}: [bold]{job['status']}[/bold], {job['units']} units of {job['task']}")
    names = _names(ws)
    print_table("attempts", ["unit", "attempt", "provider", "purpose", "status", "verdict",
                             "price µcr", "paid"],
                [(a["unit"], a["attempt"], names.get(a["provider"], short(a["provider"])),
                  a["purpose"], a["status"], a["verdict"], a["price_micro"],
                  "yes" if a["paid_seq"] is not None else "no") for a in attempts])


def _names(ws: Workspace) -> dict[str, str]:
    return {r["did"]: r["name"] for r in ws.ledger.rows("identities")}


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Every job on the ledger."""
    ws: Workspace = ctx.obj
    jobs = ws.ledger.rows("jobs")
    if json_out:
        print_json(jobs)
        return
    names = _names(ws)
    print_table(f"{len(jobs)} jobs", ["job", "task", "units", "status", "requester"],
                [(j["job_id"], j["task"], j["units"], j["status"],
                  names.get(j["requester"], short(j["requester"]))) for j in jobs])


@app.command("cancel")
def cancel(ctx: typer.Context, job_id: str,
           requester: Annotated[str, typer.Option("--as", help="the requester's name")]) -> None:
    """Cancel a job that has not started running; its escrow is refunded."""
    from plexnet.ledger import Entry, LedgerError
    from plexnet.ledger.kinds import credits as cr
    from plexnet.ledger.kinds.jobs import JobFail, JobSettle

    ws: Workspace = ctx.obj
    me = ws.keystore.load(requester)
    job = ws.ledger.row("jobs", job_id)
    if job is None or job["status"] not in ("submitted", "placed"):
        raise LedgerError(f"job {job_id!r} is {job['status'] if job else 'unknown'}; only a "
                          "submitted or placed job can be cancelled")
    escrow = ws.ledger.row("escrows", job["escrow_id"])
    batch = [Entry.create(me, JobFail(job_id=job_id, reason="cancelled by the requester"))]
    if escrow and escrow["remaining"]:
        batch.append(Entry.create(me, cr.Release(escrow_id=job["escrow_id"], to=me.did,
                                                 amount=escrow["remaining"], memo="refund")))
    batch.append(Entry.create(me, JobSettle(job_id=job_id)))
    ws.ledger.append(batch)
    out.print(f"{job_id} cancelled; {escrow['remaining'] if escrow else 0} micro-credits "
              "refunded")


@app.command("logs")
def logs(ctx: typer.Context, job_id: str, json_out: JsonFlag = False) -> None:
    """Every ledger entry about a job, in order."""
    ws: Workspace = ctx.obj
    names = _names(ws)
    found: list[dict[str, Any]] = []
    for stored in ws.ledger.scan():
        entry = stored.entry
        body = entry.body
        if body.get("job_id") == job_id or body.get("escrow_id") == job_id or any(
                str(a).startswith(f"{job_id}/") for a in body.get("attempts", [])
                if isinstance(a, str)):
            found.append({"seq": stored.seq, "kind": entry.kind,
                          "signer": names.get(entry.signer, entry.signer), "body": body})
    if json_out:
        print_json(found)
        return
    for e in found:
        detail = {k: v for k, v in e["body"].items() if k not in ("job_id", "spec", "metrics")}
        out.print(f"{e['seq']:>6}  {e['kind']:<16} {e['signer']:<12} "
                  f"{escape(str(detail))[:120]}", highlight=False)
