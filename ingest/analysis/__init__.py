"""Questions asked of the indexed articles: queries only, each answer a plain record.

- `search`: articles matching a query (Kibana's query-string syntax) under filters, with
  highlighted snippets; the query building the alert rules share;
- `query_syntax`: `NEAR/n` and `ONEAR/n` proximity, parsed into `intervals` queries;
- `trends`: counts per hour, day or week (and per language, source or rule), optionally as
  a share of all articles;
- `attention`: several queries compared, matches broken down by source, language, domain
  or feed, and the terms that stand out.

How the answers print (tables, bars, JSON, CSV, charts) is the CLI's: `ingest.cli.render`.
Every search goes through the client `ingest.store` offers; nothing here imports
`elasticsearch` or `rich`.
"""

from ingest.analysis.attention import (
    Breakdown,
    Comparison,
    Term,
    breakdown,
    compare_queries,
    parse_named_queries,
    significant_terms,
)
from ingest.analysis.query_syntax import QuerySyntaxError, proximity_query, uses_proximity
from ingest.analysis.search import SearchFilters, SearchHit, build_query, search_articles
from ingest.analysis.trends import Bucket, Trend, TrendRequest, coverage_trend

__all__ = [
    "Breakdown",
    "Bucket",
    "Comparison",
    "QuerySyntaxError",
    "SearchFilters",
    "SearchHit",
    "Term",
    "Trend",
    "TrendRequest",
    "breakdown",
    "build_query",
    "compare_queries",
    "coverage_trend",
    "parse_named_queries",
    "proximity_query",
    "search_articles",
    "significant_terms",
    "uses_proximity",
]
