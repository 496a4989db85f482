"""The one rich `Console` every `mediamon` command prints to."""

from __future__ import annotations

from rich.console import Console

__all__ = ["console"]

console = Console()
