"""The ``plexnet`` command: global options, sub-command groups, and error handling.

Every failure plexnet anticipates is a ``PlexnetError``; ``run`` prints it as one
line on stderr and exits 1. Usage errors exit 2. Anything else is a bug: one line
saying so, exit 70, and the traceback only with ``PLEXNET_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from plexnet.cli import (
    blob_commands,
    data_commands,
    id_commands,
    job_commands,
    ledger_commands,
    model_commands,
    network_commands,
)
from plexnet.cli.output import err
from plexnet.cli.serve_command import serve
from plexnet.cli.simulate_command import simulate
from plexnet.cli.workspace import Workspace

__all__ = ["app", "run"]

app = typer.Typer(
    name="plexnet",
    help="An open network for AI work: pooled compute, open data and models, "
    "every step on a verifiable ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(id_commands.app, name="id")
app.add_typer(blob_commands.app, name="blob")
app.add_typer(ledger_commands.app, name="ledger")
app.add_typer(network_commands.network_app, name="network")
app.add_typer(network_commands.provider_app, name="provider")
app.add_typer(job_commands.app, name="job")
app.add_typer(data_commands.app, name="data")
app.add_typer(model_commands.app, name="model")
app.command("simulate")(simulate)
app.command("serve")(serve)


@app.callback()
def main(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(help="plexnet home directory "
                                              "(env PLEXNET_HOME; default ~/.plexnet)")] = None,
    db: Annotated[str | None, typer.Option("--db", help="ledger database URL "
                                           "(env PLEXNET_DATABASE_URL)")] = None,
    blob_root: Annotated[Path | None, typer.Option(help="blob store directory "
                                                   "(env PLEXNET_BLOB_ROOT)")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join "
                                                    "(env PLEXNET_RAY_ADDRESS)")] = None,
) -> None:
    overrides: dict[str, Any] = {
        "home": str(home) if home else None,
        "database_url": db,
        "blob_root": str(blob_root) if blob_root else None,
        "ray_address": ray_address,
    }
    workspace = Workspace(overrides)
    ctx.obj = workspace
    ctx.call_on_close(workspace.close)


@app.command()
def demo(
    ctx: typer.Context,
    fresh: Annotated[bool, typer.Option("--fresh", help="wipe the home's keys, blobs and "
                                        "ledger first (without it, a home that holds "
                                        "plexnet state is refused)")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Run the end-to-end story: identities, credits, data, a training job on Ray, a model."""
    from plexnet.cli.demo import run_demo

    run_demo(ctx.obj, fresh=fresh, json_out=json_out)


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn errors into exit codes.

    Typer (in standalone mode) handles usage errors itself: a message and exit 2.
    """
    from plexnet.core.errors import PlexnetError

    try:
        app(args=argv, prog_name="plexnet")
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except PlexnetError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:
        if _is_validation_error(exc):  # bad user input caught by a pydantic model
            err.print(f"[red]error:[/red] invalid {escape(_first_problem(exc))}",
                      highlight=False)
            sys.exit(1)
        if os.environ.get("PLEXNET_DEBUG") == "1":
            traceback.print_exc()
        err.print(f"internal error: {type(exc).__name__}: {exc} "
                  "(a bug; PLEXNET_DEBUG=1 shows the traceback)", highlight=False, markup=False)
        sys.exit(70)


def _is_validation_error(exc: Exception) -> bool:
    return type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith(
        "pydantic")


def _first_problem(exc: Any) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{exc.title} {where}: {first['msg']} (got {first.get('input')!r})"
