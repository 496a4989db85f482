"""mediamon: news feeds into Elasticsearch, searchable and alerting.

The stages live in their own modules (feeds, http, extract, language, dedupe, store,
pipeline); `ingest.pipeline.run_feeds` composes them for the CLI and the Airflow DAGs.
"""

__version__ = "0.1.0"
