"""mediamon: news feeds into Elasticsearch, searchable and alerting.

One package per stage of a run, in the order an article meets them:

- `fetch`: every outbound request (`HttpClient`), the egress guard, politeness, charsets;
- `feeds`: the feeds file, feed documents into entries, each feed's state and schedule;
- `extract`: a page into text, date and language, in the extraction processes;
- `stories`: near-duplicate fingerprints, and copies clustered into stories;
- `alerts`: rules, percolation, alert documents, delivery, spikes;
- `store`: Elasticsearch, the only package that talks to it;
- `analysis`: the questions asked of stored articles (search, trends, attention);
- `cli`: the `mediamon` command, and every table, colour and plot (`cli.render`);
- `demo`: the demo's corpus, sites and server.

And the modules that tie them together: `pipeline` (one run, the composition of every
stage), `articles` (an entry and its page made into an `Article`), `known` (what is indexed
already), `revisions`, `maintenance`, `interrupt`, `run_id`; `airflow_tasks` with
`airflow_settings` and `airflow_batches` (what the DAG files call); `config`, `errors`,
`models` and `identity` (settings, the error tree, the records, article ids) used by all;
`embedded` and `kibana` (the local node, the saved objects).
"""

__version__ = "0.1.0"
