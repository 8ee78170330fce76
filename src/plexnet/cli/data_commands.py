"""``plexnet data …``: contribute records, admit them through the gates, prove and trace them.

* ``ingest SOURCE --dataset D --as NAME`` — read a source (``sklearn:digits``, a
  folder of images, a CSV/Parquet table, JSON lines), sign it in as a batch;
* ``admit D --as CURATOR`` — run the gates over every pending batch of D and
  publish the next version with the accepted records;
* ``gate NAME TARGET`` — run one gate alone on a pending batch or a version;
* ``list`` / ``show D@V`` / ``report CID`` / ``contributors`` — what is there;
* ``prove D@V RECORD`` / ``check PROOF`` — a record's offline-verifiable proof;
* ``lineage D@V [--png FILE]`` — where a version came from;
* ``export D@V -o FILE`` — records as .npz, .csv, .parquet or .jsonl;
* ``augment D@V --transform rotate --as NAME`` — sign in augmented copies of a
  version's images (each naming its parent and transform) as a pending batch;
* ``synthesize D@V --generator copula|vae --as NAME`` — fit a generator on a
  version, sign in watermarked samples tagged with the generator's CID.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from plexnet.cli.output import JsonFlag, err, out, print_json, print_table, short, show_lineage
from plexnet.cli.workspace import Workspace

if TYPE_CHECKING:
    from plexnet.data import Manifest, Records
    from plexnet.ledger import Entry

__all__ = ["app"]

app = typer.Typer(help="Datasets: signed contributions, admission gates, proofs, lineage.",
                  no_args_is_help=True)
RefArg = Annotated[str, typer.Argument(help="dataset version, NAME@VERSION")]


def _params(values: list[str] | None) -> dict[str, Any]:
    """``key=value`` options; values parsed as JSON when they are JSON, else kept as text."""
    import json

    from plexnet.core.errors import ConfigError

    found: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected KEY=VALUE, got {item!r}")
        try:
            found[key] = json.loads(value)
        except ValueError:
            found[key] = value
    return found


def _version(ws: Workspace, ref: str) -> tuple[dict[str, Any], Manifest]:
    from plexnet.data import load_manifest, parse_ref
    from plexnet.ledger import NotFound

    parse_ref(ref)
    row = ws.ledger.row("datasets", ref)
    if row is None:
        raise NotFound(f"no dataset version {ref!r} on the ledger (plexnet data list)")
    return row, load_manifest(ws.blobs, row["manifest_cid"])


def _latest(ws: Workspace, name: str) -> dict[str, Any] | None:
    row = ws.ledger.row("dataset_names", name)
    return None if row is None else ws.ledger.row("datasets", f"{name}@{row['latest']}")


def _pending(ws: Workspace, dataset: str) -> list[Entry]:
    rows = sorted((r for r in ws.ledger.rows("contributions")
                   if r["dataset"] == dataset and r["status"] == "pending"),
                  key=lambda r: r["contributed_seq"])
    return [ws.ledger.get(int(r["contributed_seq"])).entry for r in rows]


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="sklearn:NAME, an image folder, .csv, "
                                          ".parquet or .jsonl")],
    dataset: Annotated[str, typer.Option(help="dataset to contribute to")],
    who: Annotated[str, typer.Option("--as", help="the contributor's identity name")],
    license_: Annotated[str, typer.Option("--license", help="licence granted (SPDX id)")]
    = "CC-BY-4.0",
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="loader option KEY=VALUE (label=COLUMN, shape=[8,8], "
        "mode=L, labels_csv=FILE, tag=device, ...)")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Read a source and sign its records in as a batch (data.contribute)."""
    from plexnet.data import contribute
    from plexnet.data.ingest import load_source

    ws: Workspace = ctx.obj
    me = ws.keystore.load(who)
    schema, records = load_source(source, **_params(option))
    latest = _latest(ws, dataset)
    if latest is not None:
        from plexnet.data import load_manifest
        from plexnet.data.errors import SchemaError

        theirs = load_manifest(ws.blobs, latest["manifest_cid"]).schema_
        if theirs != schema:
            raise SchemaError(f"{source} gives a {schema.kind} schema with labels "
                              f"{schema.labels[:5]}…; {latest['ref']} has another (kind "
                              f"{theirs.kind}, labels {theirs.labels[:5]}…)")
    cid, entry = contribute(me, ws.blobs, dataset, schema, records, license_=license_)
    ws.ledger.append([entry])
    if json_out:
        print_json({"batch_cid": cid, "records": len(records), "dataset": dataset,
                    "schema_cid": entry.body["schema_cid"], "root": entry.body["root"]})
        return
    out.print(f"{who} contributed {len(records)} {schema.kind} records to {dataset}: "
              f"batch {cid} (pending admission)", highlight=False)


def _transform(spec: str) -> Any:
    """``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` as an augmentation transform."""
    import dataclasses

    from plexnet.data.augment import BrightnessContrast, Flip, Rotate, Zoom
    from plexnet.data.errors import DataError

    kinds = {cls.name: cls for cls in (Rotate, Zoom, BrightnessContrast, Flip)}
    name, _, rest = spec.partition(":")
    if name not in kinds:
        raise DataError(f"unknown transform {name!r}; use one of {', '.join(kinds)}")
    params = _params([p for p in rest.split(",") if p]) if rest else {}
    known = {f.name for f in dataclasses.fields(kinds[name])}
    if set(params) - known:
        raise DataError(f"transform {name!r} takes {', '.join(sorted(known))}; got "
                        f"{', '.join(sorted(set(params) - known))}")
    try:
        return kinds[name](**params)
    except TypeError as exc:  # a range given as text, say
        raise DataError(f"transform {spec!r}: {exc}") from None


@app.command("augment")
def augment_(
    ctx: typer.Context, ref: RefArg,
    who: Annotated[str, typer.Option("--as", help="who augments (signs the batch)")],
    transform: Annotated[list[str], typer.Option(
        "--transform", "-t", help="rotate, zoom, brightness_contrast or flip, with ranges: "
        "rotate:max_degrees=10, zoom:min_scale=0.9,max_scale=1.1")],
    per_record: Annotated[int, typer.Option(help="children per record and transform")] = 1,
    seed: Annotated[int, typer.Option(help="seeds the drawn parameters")] = 0,
    license_: Annotated[str, typer.Option("--license", help="licence granted (SPDX id)")]
    = "CC-BY-4.0",
    json_out: JsonFlag = False,
) -> None:
    """Augment a version's images and sign the children in as a batch for its dataset
    (pending admission; the provenance gate re-derives every child from its parent)."""
    from plexnet.data import contribute, load_records
    from plexnet.data.augment import augment

    ws: Workspace = ctx.obj
    me = ws.keystore.load(who)
    transforms = [_transform(t) for t in transform]
    row, manifest = _version(ws, ref)
    parents, _ = load_records(ws.blobs, row["manifest_cid"])
    children = augment(parents, manifest.schema_, transforms, per_record=per_record,
                       seed=seed, contributor=me.did)
    from plexnet.data.errors import DataError

    if not len(children):
        raise DataError(f"the transforms left every record of {ref} unchanged")
    cid, entry = contribute(me, ws.blobs, manifest.name, manifest.schema_, children,
                            license_=license_)
    ws.ledger.append([entry])
    if json_out:
        print_json({"batch_cid": cid, "records": len(children), "parents": len(parents),
                    "dataset": manifest.name, "transforms": [t.name for t in transforms]})
        return
    out.print(f"{who} contributed {len(children)} augmented records (from {len(parents)} of "
              f"{ref}) to {manifest.name}: batch {cid} (pending admission)", highlight=False)


@app.command("synthesize")
def synthesize(
    ctx: typer.Context, ref: RefArg,
    who: Annotated[str, typer.Option("--as", help="who generates (signs the batch)")],
    generator: Annotated[str, typer.Option(help="copula (tables) or vae (images)")] = "copula",
    per_class: Annotated[int, typer.Option(help="records to make per class")] = 10,
    seed: Annotated[int, typer.Option(help="seeds the generator and its samples")] = 0,
    license_: Annotated[str, typer.Option("--license", help="licence granted (SPDX id)")]
    = "CC-BY-4.0",
    json_out: JsonFlag = False,
) -> None:
    """Fit a generator on a version's records and sign its samples in as a batch for the
    same dataset: watermarked, tagged synthetic with the generator's CID (stored in the
    blob store), pending admission and the dataset's synthetic budget."""
    from plexnet.data import contribute, load_records
    from plexnet.data.errors import DataError
    from plexnet.data.synthesis import ConditionalVAE, GaussianCopula, fidelity

    ws: Workspace = ctx.obj
    me = ws.keystore.load(who)
    if per_class < 1:
        raise DataError(f"--per-class must be at least 1, got {per_class}")
    row, manifest = _version(ws, ref)
    real, _ = load_records(ws.blobs, row["manifest_cid"])
    value_range = manifest.schema_.value_range
    if generator == "copula":
        model: Any = GaussianCopula(value_range=value_range)
    elif generator == "vae":
        model = ConditionalVAE(seed=seed, value_range=value_range)
    else:
        raise DataError(f"unknown generator {generator!r}; use copula or vae")
    with err.status(f"fitting a {generator} on {len(real)} records of {ref} ..."):
        model.fit(real)
        made = model.sample(per_class, seed=seed, contributor=me.did, blobs=ws.blobs)
    quality = fidelity(real.x, made.x)
    cid, entry = contribute(me, ws.blobs, manifest.name, manifest.schema_, made,
                            license_=license_)
    ws.ledger.append([entry])
    facts = {"batch_cid": cid, "records": len(made), "dataset": manifest.name,
             "generator": generator, "generator_cid": model.cid,
             "fidelity": {"column_shapes": round(quality.column_shapes, 4),
                          "pair_trends": round(quality.pair_trends, 4)}}
    if json_out:
        print_json(facts)
        return
    out.print(f"{who} contributed {len(made)} synthetic records ({generator} "
              f"{short(model.cid)}, fidelity: column shapes {quality.column_shapes:.3f}, pair "
              f"trends {quality.pair_trends:.3f}) to {manifest.name}: batch {cid} (pending "
              "admission)", highlight=False)


@app.command("admit")
def admit_(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="dataset whose pending batches to admit")],
    who: Annotated[str, typer.Option("--as", help="the curator's identity name")],
    license_: Annotated[str, typer.Option("--license", help="the dataset's licence (new "
                                          "datasets)")] = "CC-BY-4.0",
    skip: Annotated[list[str] | None, typer.Option(help="leave out this gate")] = None,
    admit_flagged: Annotated[bool, typer.Option(help="admit flagged records too")] = False,
    seed: Annotated[int, typer.Option(help="seeds the gates' models")] = 0,
    synthetic_budget: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="most synthetic records the dataset may hold, as a share "
        "(default: the latest version's; none for a new dataset)")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Run the admission gates over every pending batch and publish the next version."""
    from plexnet.data import load_schema
    from plexnet.data.admission import Policy, admit, default_policy
    from plexnet.data.errors import AdmissionError

    ws: Workspace = ctx.obj
    me = ws.keystore.load(who)
    batches = _pending(ws, dataset)
    if not batches:
        raise AdmissionError(f"no pending batches for {dataset!r} (plexnet data ingest)")
    latest = _latest(ws, dataset)
    if latest is not None:
        manifest = _version(ws, latest["ref"])[1]
        schema, license_, base = manifest.schema_, manifest.license, latest["manifest_cid"]
    else:
        cid = batches[0].body.get("schema_cid")
        if cid is None:
            raise AdmissionError(f"the first batch of {dataset!r} names no schema")
        schema, base = load_schema(ws.blobs, cid), None
    policy = default_policy(schema, skip=skip or ())
    policy = Policy(policy.gates, admit_flagged=admit_flagged)
    with err.status(f"admitting {len(batches)} batches through "
                    f"{len(policy.gates)} gates ..."):
        result = admit(me, ws.blobs, dataset, batches, schema=schema, license_=license_,
                       policy=policy, base=base, seed=seed,
                       synthetic_budget=synthetic_budget)
    ws.ledger.append(list(result.entries))
    names = {r["did"]: r["name"] for r in ws.ledger.rows("identities")}
    summary = {
        "dataset": dataset, "version": result.manifest.ref if result.manifest else None,
        "manifest_cid": result.manifest_cid, "counts": result.counts(),
        "batches": [{"batch_cid": v.batch_cid, "contributor": names.get(v.contributor,
                                                                        v.contributor),
                     "report_cid": cid, **v.counts(),
                     "by_gate": {r.gate: len(r.findings) for r in v.results}}
                    for v, cid in zip(result.verdicts, result.report_cids, strict=True)],
        "timings_s": {k: round(t, 3) for k, t in result.timings_s.items()},
    }
    if json_out:
        print_json(summary)
        return
    print_table(f"admission into {dataset}", ["batch", "contributor", "accepted", "flagged",
                                              "rejected", "findings by gate"],
                [(short(b["batch_cid"]), b["contributor"], b["accepted"], b["flagged"],
                  b["rejected"], ", ".join(f"{g} {n}" for g, n in b["by_gate"].items() if n)
                  or "-") for b in summary["batches"]])
    out.print(f"published {summary['version'] or 'nothing (no record accepted)'}"
              + (f": manifest {result.manifest_cid}" if result.manifest_cid else ""),
              highlight=False)


@app.command("gate")
def gate_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="gate name (plexnet data gates lists them)")],
    target: Annotated[str, typer.Argument(help="a pending batch CID, or NAME@VERSION")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p",
                                                    help="threshold KEY=VALUE")] = None,
    seed: Annotated[int, typer.Option(help="seeds the gate's models")] = 0,
    json_out: JsonFlag = False,
) -> None:
    """Run one gate alone: on a pending batch (against its dataset's latest version),
    or on a version's own records."""
    import plexnet.data.gates  # noqa: F401
    from plexnet.data import load_records, load_schema
    from plexnet.data.gates import GateContext, gate
    from plexnet.data.runner import LocalRunner
    from plexnet.data.shard import read_shard
    from plexnet.ledger import NotFound
    from plexnet.models import gates as _model_gates  # registers reconstruction  # noqa: F401

    ws: Workspace = ctx.obj
    chosen = gate(name, **_params(param))
    existing = None
    if "@" in target:
        _row, manifest = _version(ws, target)
        batch, _ = load_records(ws.blobs, _row["manifest_cid"])
        schema, batch_license, dataset_license = manifest.schema_, manifest.license, \
            manifest.license
    else:
        row = ws.ledger.row("contributions", target)
        if row is None:
            raise NotFound(f"no contributed batch {target!r} on the ledger")
        batch = read_shard(ws.blobs.get(target), bytes.fromhex(row["root"]))
        latest = _latest(ws, row["dataset"])
        if latest is not None:
            existing, manifest = load_records(ws.blobs, latest["manifest_cid"])
            schema, dataset_license = manifest.schema_, manifest.license
        elif row["schema_cid"] is not None:
            schema, dataset_license = load_schema(ws.blobs, row["schema_cid"]), row["license"]
        else:
            raise NotFound(f"batch {target} names no schema and its dataset has no version")
        batch_license = row["license"]
    from plexnet.data.errors import GateError

    if not chosen.applies_to(schema):
        raise GateError(f"gate {name!r} does not judge {schema.kind} records")
    result = chosen.check(batch, GateContext(
        schema=schema, existing=existing, blobs=ws.blobs, runner=LocalRunner(ws.blobs),
        batch_license=batch_license, dataset_license=dataset_license, seed=seed))
    from plexnet.data.admission import jsonable

    findings = [{"index": f.index, "action": f.action, "reason": f.reason, "score": f.score,
                 "related": f.related} for f in result.findings]
    if json_out:
        print_json({"gate": name, "params": jsonable(chosen.params()), "records": len(batch),
                    "findings": jsonable(findings), "stats": jsonable(result.stats)})
        return
    out.print(f"{name}: {len(findings)} of {len(batch)} records flagged or rejected")
    print_table(None, ["record", "action", "score", "reason"],
                [(f["index"], f["action"], "-" if f["score"] is None else f"{f['score']:.4g}",
                  escape(f["reason"])) for f in findings[:200]])


@app.command("gates")
def gates(json_out: JsonFlag = False) -> None:
    """The registered gates and their default thresholds."""
    import plexnet.data.gates  # noqa: F401
    from plexnet.data.admission import jsonable
    from plexnet.data.gates import gate, registered
    from plexnet.models import gates as _model_gates  # registers reconstruction  # noqa: F401

    rows = [{"gate": n, "kinds": sorted(gate(n).kinds), "params": jsonable(gate(n).params())}
            for n in registered()]
    if json_out:
        print_json(rows)
        return
    print_table("gates", ["gate", "kinds", "thresholds"],
                [(r["gate"], ", ".join(r["kinds"]),
                  ", ".join(f"{k}={v}" for k, v in r["params"].items())) for r in rows])


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Every dataset version and pending batch on the ledger."""
    ws: Workspace = ctx.obj
    versions = ws.ledger.rows("datasets")
    pending = [r for r in ws.ledger.rows("contributions") if r["status"] == "pending"]
    if json_out:
        print_json({"versions": versions, "pending": pending})
        return
    print_table(f"{len(versions)} dataset versions", ["version", "records", "derived by",
                                                     "root", "manifest"],
                [(r["ref"], r["records"], r["op"], short(r["root"]), r["manifest_cid"])
                 for r in sorted(versions, key=lambda r: (r["name"], r["version"]))])
    if pending:
        out.print(f"{len(pending)} batches pending admission: "
                  + ", ".join(f"{short(p['batch_cid'])} → {p['dataset']}" for p in pending),
                  highlight=False)


@app.command("show")
def show(ctx: typer.Context, ref: RefArg, json_out: JsonFlag = False) -> None:
    """A version: schema, licence, shares, parents, derivation and gate reports."""
    ws: Workspace = ctx.obj
    row, manifest = _version(ws, ref)
    names = {r["did"]: r["name"] for r in ws.ledger.rows("identities")}
    synthetic = 0
    from plexnet.data import load_records

    records, _ = load_records(ws.blobs, row["manifest_cid"])
    tags: dict[str, int] = {}
    for p in records.provenance:
        tags[p.tag] = tags.get(p.tag, 0) + 1
    synthetic = tags.get("synthetic", 0)
    facts = {"ref": ref, "records": len(manifest.leaves), "root": manifest.root,
             "manifest_cid": row["manifest_cid"], "schema": manifest.schema_.model_dump(),
             "license": manifest.license, "parents": manifest.parents,
             "derivation": manifest.derivation.model_dump(),
             "shares": {names.get(k, k): v for k, v in manifest.shares.items()},
             "provenance": tags, "synthetic_fraction": synthetic / max(1, len(records))}
    if json_out:
        print_json(facts)
        return
    out.print(f"[bold]{ref}[/bold]: {facts['records']} {manifest.schema_.kind} records, "
              f"{len(manifest.schema_.labels)} labels, licence {manifest.license}")
    out.print(f"root {manifest.root}; manifest {row['manifest_cid']}", highlight=False)
    out.print(f"derived by {manifest.derivation.op} from "
              f"{', '.join(manifest.parents) or 'contributions'}; provenance "
              + ", ".join(f"{k} {v}" for k, v in sorted(tags.items())))
    print_table("shares", ["contributor", "records", "share"],
                [(k, v, f"{v / facts['records']:.1%}") for k, v in facts["shares"].items()])
    for cid in manifest.derivation.reports:
        out.print(f"gate report {cid}", highlight=False)


@app.command("report")
def report(ctx: typer.Context, cid: str, json_out: JsonFlag = False) -> None:
    """A gate report: checked against its curator's signature, then shown."""
    from plexnet.core import canonical
    from plexnet.data.admission import verify_report

    ws: Workspace = ctx.obj
    doc = canonical.loads(ws.blobs.get(cid))
    verify_report(doc)
    if json_out:
        print_json(doc)
        return
    c = doc["counts"]
    out.print(f"batch {doc['batch']} → {doc['dataset']}: {c['accepted']} accepted, "
              f"{c['flagged']} flagged, {c['rejected']} rejected (signature ok)", highlight=False)
    print_table("gates", ["gate", "findings", "stats"],
                [(g["gate"], g["findings"], escape(str(g["stats"]))[:100])
                 for g in doc["gates"]])
    print_table("records kept out", ["record", "decision", "reasons"],
                [(r["i"], r["decision"], escape("; ".join(f"{x['gate']}: {x['reason']}"
                                                          for x in r["reasons"])))
                 for r in doc["records"][:200]])


@app.command("contributors")
def contributors(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Every contributor's admission history and reputation."""
    from plexnet.data.admission import contributor_reputation

    ws: Workspace = ctx.obj
    names = {r["did"]: r["name"] for r in ws.ledger.rows("identities")}
    rows = [{**r, "name": names.get(r["did"], r["did"]),
             "reputation": round(contributor_reputation(r).mean, 4)}
            for r in ws.ledger.rows("contributors")]
    if json_out:
        print_json(rows)
        return
    print_table("contributors", ["contributor", "batches", "accepted", "flagged", "rejected",
                                 "reputation"],
                [(r["name"], r["batches"], r["accepted"], r["flagged"], r["rejected"],
                  f"{r['reputation']:.3f}") for r in rows])


@app.command("prove")
def prove(
    ctx: typer.Context, ref: RefArg,
    record: Annotated[int, typer.Argument(help="record index in the version")],
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="write the proof here")] = None,
    json_out: JsonFlag = False,
) -> None:
    """A proof that record RECORD is in REF and that REF is on the ledger, checkable offline."""
    from plexnet.data import load_records
    from plexnet.data.proof import check_record_proof, prove_record

    ws: Workspace = ctx.obj
    row, manifest = _version(ws, ref)
    records, _ = load_records(ws.blobs, row["manifest_cid"])
    if not 0 <= record < len(records):
        from plexnet.ledger import NotFound

        raise NotFound(f"{ref} has records 0..{len(records) - 1}, not {record}")
    proof = prove_record(ws.ledger, manifest, record, records.record_json()[record])
    facts = check_record_proof(proof, ws.ledger.operator_did)
    text = proof.model_dump_json(indent=2)
    if output is not None:
        output.write_text(text + "\n")
    if json_out:
        print_json(proof.model_dump(mode="json"))
    elif output is None:
        out.print(text, highlight=False)
    err.print(f"record {record} of {ref} (contributed by {short(facts['contributor'])}, "
              f"{facts['provenance']}) → root {short(proof.root)} → ledger entry "
              f"{facts['ledger_entry']} → tree head {proof.head.size}: verified")


@app.command("check")
def check(
    proof_file: Annotated[Path, typer.Argument(help="a proof from plexnet data prove",
                                               exists=True, dir_okay=False)],
    operator: Annotated[str | None, typer.Option(help="the ledger operator's DID to pin")]
    = None,
    json_out: JsonFlag = False,
) -> None:
    """Verify a record proof offline (no ledger needed); exit 1 if any link fails."""
    from plexnet.data.proof import RecordProof, check_record_proof

    proof = RecordProof.model_validate_json(proof_file.read_bytes())
    facts = check_record_proof(proof, operator)
    if json_out:
        print_json({"valid": True, **facts})
        return
    out.print(f"valid: record {facts['index']} of {facts['dataset']}, contributed by "
              f"{facts['contributor']} ({facts['provenance']}), is under the signed tree head "
              f"of size {facts['tree_size']}", highlight=False)


@app.command("lineage")
def lineage(
    ctx: typer.Context, ref: RefArg,
    png: Annotated[Path | None, typer.Option(help="also draw it as a PNG here")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Where a version came from: parent versions, derivations and contributors."""
    from plexnet.data.lineage import dataset_lineage

    ws: Workspace = ctx.obj
    show_lineage(dataset_lineage(ws.ledger, ref), png, json_out)


@app.command("export")
def export(
    ctx: typer.Context, ref: RefArg,
    output: Annotated[Path, typer.Option("-o", "--output",
                                         help=".npz, .csv, .parquet or .jsonl")],
    json_out: JsonFlag = False,
) -> None:
    """Write a version's records (checked against its root) to a file."""
    from plexnet.data import load_records

    ws: Workspace = ctx.obj
    row, manifest = _version(ws, ref)
    records, _ = load_records(ws.blobs, row["manifest_cid"])
    _write(records, manifest, output)
    if json_out:
        print_json({"ref": ref, "records": len(records), "output": str(output)})
    else:
        out.print(f"wrote {len(records)} records of {ref} to {output}")


def _write(records: Records, manifest: Manifest, output: Path) -> None:
    import numpy as np

    from plexnet.data.export import to_numpy, write_table

    if output.suffix.lower() == ".npz":
        x, y = to_numpy(records, schema=manifest.schema_)
        with output.open("wb") as fh:
            np.savez(fh, x=x, y=y)
        return
    write_table(records, manifest.schema_, output)
