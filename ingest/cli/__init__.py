"""The `mediamon` command (split next; see ingest/cli/main.py)."""

from ingest.cli.main import cli, main

__all__ = ["cli", "main"]
