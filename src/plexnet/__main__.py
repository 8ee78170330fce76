"""``python -m plexnet`` runs the CLI."""

from plexnet.cli.main import run

run()
