"""`python -m ingest.cli`: the `mediamon` command."""

from ingest.cli import main

main()
