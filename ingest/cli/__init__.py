"""The `mediamon` command: one module per command group, and `render/` for how they print.

- `main`: the root group (--es-url, --prefix; mediamon's errors as one line) and `main`,
  the `mediamon` entry point;
- `es`: `es start|install|stop|status`, the embedded Elasticsearch;
- `indices`: `setup` (index templates), `migrate`, `dead-letters`;
- `runs`: `run` (an ingestion pass, with progress bars) and `refetch` (re-checks at ages);
- `search`: `search` and `trend`;
- `attention`: `compare`, `breakdown` and `terms`;
- `alerts`: `alerts sync|list|test|history|spikes|notify|retry`, and alert delivery's settings;
- `articles`: `related` (an article's story) and `history` (its versions);
- `kibana`: `kibana import`, the saved objects;
- `demo`: `demo`, the demo sites ingested twice and the printed walkthrough of the result;
- `options`: the options and helpers several commands share (filters, --interval, --format);
- `render`: every rich table, colour and plot (one module per kind of output).

`python -m ingest.cli` is `mediamon` too; `cli` is the click group (tests invoke it).
"""

from ingest.cli.main import cli, main

__all__ = ["cli", "main"]
