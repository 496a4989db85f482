"""The names of mediamon's indices and aliases, all under one prefix.

A plain value with no client behind it: every store function takes one, and tests make
their own with a prefix of their own, so that they never touch a real deployment's indices.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IndexNames"]


@dataclass(frozen=True)
class IndexNames:
    """Index and alias names under one prefix (tests use a prefix of their own)."""

    prefix: str = "mediamon"

    @property
    def articles(self) -> str:
        """The read alias over every article index: search and look-ups go here."""
        return f"{self.prefix}-articles"

    @property
    def articles_write(self) -> str:
        """The write alias: new articles go to the one backing index it writes to, until
        `roll_over_articles` starts the next."""
        return f"{self.prefix}-articles-write"

    @property
    def first_article_index(self) -> str:
        """The first backing index; rollover numbers the next ones -000002, -000003..."""
        return f"{self.prefix}-articles-000001"

    @property
    def feeds(self) -> str:
        return f"{self.prefix}-feeds"

    @property
    def runs(self) -> str:
        return f"{self.prefix}-runs"

    @property
    def rules(self) -> str:
        """Alert rules as percolator queries (the index maps the article fields too)."""
        return f"{self.prefix}-rules"

    @property
    def alerts(self) -> str:
        """One document per (rule, article) match, with its notification state."""
        return f"{self.prefix}-alerts"

    @property
    def revisions(self) -> str:
        """Earlier versions of edited articles, one document each (ingest.revisions)."""
        return f"{self.prefix}-revisions"

    @property
    def dead_letters(self) -> str:
        """Articles Elasticsearch refused with a 4xx, one document each (`dead_letter`)."""
        return f"{self.prefix}-dead-letters"
