"""How the `mediamon` commands print: every rich table, colour and plot, by kind of output.

- `console`: the one rich Console every command prints to;
- `runs`: a run's progress bars and its report (counts, by language, source, failure);
- `hits`: search hits, snippets highlighted;
- `alerts`: the rules, the alerts raised, volume spikes and what changed;
- `trends`: a trend as a table with bars, JSON, CSV or a PNG chart;
- `attention`: `compare`, `breakdown` and `terms` as tables, JSON, CSV or a PNG;
- `history`: an article's versions, word by word;
- `stories`: a story and its related coverage (`render_related`);
- `dead_letters`: what Elasticsearch refused.

Import the module you need (`from ingest.cli.render.trends import render_table`): nothing is
imported here, so a command loads only its own output (matplotlib, for one, only for --plot).
"""

__all__ = [
    "alerts",
    "attention",
    "console",
    "dead_letters",
    "history",
    "hits",
    "runs",
    "stories",
    "trends",
]
