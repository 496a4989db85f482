"""Elasticsearch: everything mediamon remembers, and the only package that talks to it.

Workers stay stateless: articles, feed state, run reports, rules, alerts, revisions and dead
letters all live in Elasticsearch. Every function takes the client (`connect`) and the
`IndexNames` as arguments. No other package imports the client library: they take its type
(`Client`), `scan` and its refusal errors (`ApiError`, `BadRequestError`,
`AuthenticationException`, `AuthorizationException`) from here.

- `names`:           `IndexNames`, the index and alias names under one prefix
- `client`:          `connect`, the 7.x compatibility node, the client library's names
- `boundary`:        the one error boundary: every request's failures, transient or not
- `templates`:       the index templates (`mappings/`), installing them, the write index
- `language_fields`: which language analyzer an article's text goes through
- `articles`:        article documents and indices: write, look up, roll over, seen again
- `bulk`:            the one bulk wrapper, its outcome and item errors
- `dead_letters`:    the articles Elasticsearch refused, kept for a person
- `feed_states`:     feed state documents and the leases runs hold on feeds
- `runs`:            run reports
- `migrate`:         moving articles of mapping versions 1-3 into today's layout
"""

from ingest.store.articles import (
    StoredArticle,
    article_document,
    backing_indices,
    bulk_index,
    count_articles,
    feed_only_articles,
    find_article,
    find_known,
    find_known_everywhere,
    mark_seen_again,
    roll_over_articles,
    site_languages,
)
from ingest.store.bulk import NOT_REJECTIONS, BulkOutcome, ItemError, bulk_write
from ingest.store.client import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    BadRequestError,
    Client,
    Es7CompatNode,
    connect,
    scan,
)
from ingest.store.dead_letters import clear_dead_letters, dead_letter, dead_letters
from ingest.store.feed_states import (
    claim_feeds,
    load_feed_states,
    release_feeds,
    renew_feeds,
    save_feed_states,
)
from ingest.store.names import IndexNames
from ingest.store.runs import save_run_report
from ingest.store.templates import (
    LEGACY_GROUPS,
    MAPPINGS_DIR,
    TEMPLATES,
    article_groups,
    delete_all,
    ensure_write_index,
    install_templates,
    load_template,
    refresh,
)

__all__ = [
    "LEGACY_GROUPS",
    "MAPPINGS_DIR",
    "NOT_REJECTIONS",
    "TEMPLATES",
    "ApiError",
    "AuthenticationException",
    "AuthorizationException",
    "BadRequestError",
    "BulkOutcome",
    "Client",
    "Es7CompatNode",
    "IndexNames",
    "ItemError",
    "StoredArticle",
    "article_document",
    "article_groups",
    "backing_indices",
    "bulk_index",
    "bulk_write",
    "claim_feeds",
    "clear_dead_letters",
    "connect",
    "count_articles",
    "dead_letter",
    "dead_letters",
    "delete_all",
    "ensure_write_index",
    "feed_only_articles",
    "find_article",
    "find_known",
    "find_known_everywhere",
    "install_templates",
    "load_feed_states",
    "load_template",
    "mark_seen_again",
    "refresh",
    "release_feeds",
    "renew_feeds",
    "roll_over_articles",
    "save_feed_states",
    "save_run_report",
    "scan",
    "site_languages",
]
