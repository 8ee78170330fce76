"""``plexnet blob put|get``: the content-addressed blob store."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated

import typer

from plexnet.cli.output import JsonFlag, out, print_json
from plexnet.cli.workspace import Workspace

__all__ = ["app"]

app = typer.Typer(help="Content-addressed blobs (CIDv1, sha2-256).", no_args_is_help=True)


@app.command("put")
def put(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="file to store, or - for stdin")],
    json_out: JsonFlag = False,
) -> None:
    """Store a file; print its CID."""
    ws: Workspace = ctx.obj
    if path == "-":
        cid = ws.blobs.put(sys.stdin.buffer)
    else:
        source = Path(path)
        if not source.is_file():
            raise typer.BadParameter(f"{path} is not a readable file", param_hint="PATH")
        with source.open("rb") as fh:
            cid = ws.blobs.put(fh)
    if json_out:
        print_json({"cid": cid, "size": ws.blobs.size(cid)})
    else:
        out.print(cid, highlight=False)


@app.command("get")
def get(
    ctx: typer.Context,
    cid: Annotated[str, typer.Argument(help="CID of the blob (v0 or v1)")],
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="write here instead of stdout")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON: the CID, size and "
                                           "file, or the bytes in base64 without -o")] = False,
) -> None:
    """Fetch a blob, verifying its hash; write it to stdout or a file."""
    ws: Workspace = ctx.obj
    if output is None and json_out:
        data = ws.blobs.get(cid)
        print_json({"cid": cid, "size": len(data),
                    "base64": base64.b64encode(data).decode("ascii")})
        return
    if output is None:
        # Read fully first: corrupted bytes must not reach the terminal or a pipe.
        sys.stdout.buffer.write(ws.blobs.get(cid))
        sys.stdout.buffer.flush()
        return
    tmp = output.with_name(f".{output.name}.partial")
    try:
        with ws.blobs.open(cid) as src, tmp.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    if json_out:
        print_json({"cid": cid, "size": output.stat().st_size, "output": str(output)})
    else:
        out.print(f"wrote {output} ({output.stat().st_size} bytes)")
