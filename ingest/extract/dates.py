"""Publication times, how precise each statement of one is, and which one an article keeps.

A page states its publication time in several places (JSON-LD, meta tags, `<time>`), often
as only a day; its feed states one too, almost always with the time. The article keeps the
most precise statement that agrees with the others on the day, with its own time zone, and
says where it came from (`date_source`): a page's bare day never rounds the feed's 10:00 GMT
down to midnight, and a feed's time never moves an article to a day its page contradicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

__all__ = ["DAY", "RANK", "TIME", "ZONED", "Stated", "agree", "from_feed", "parse", "publication"]

DAY = "day"  # 2021-11-17
TIME = "time"  # 2021-11-17T10:00:00, zone unknown (taken as UTC)
ZONED = "zoned"  # 2021-11-17T10:00:00+01:00
RANK = {DAY: 0, TIME: 1, ZONED: 2}
# Before the web, a date is a placeholder (0001-01-01, the Unix epoch); past tomorrow, a
# publisher's error.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=1)
_SPACE_BEFORE_ZONE = re.compile(r"\s+(?=[+-]\d\d:?\d\d$|Z$)")  # "16:00:34 +02:00"


@dataclass(frozen=True)
class Stated:
    """One statement of a publication time: naive unless `precision` is ZONED."""

    moment: datetime
    precision: str

    def aware(self) -> datetime:
        """The moment with its zone, or in UTC where none was stated."""
        return self.moment if self.moment.tzinfo else self.moment.replace(tzinfo=UTC)

    def days(self) -> set[object]:
        """The day it names: in its own zone, and in UTC (which may be the day before)."""
        return {self.moment.date(), self.aware().astimezone(UTC).date()}


def parse(value: object, now: datetime | None = None) -> Stated | None:
    """An ISO 8601 date or time as stated, or None if it is not one or not plausible."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(_SPACE_BEFORE_ZONE.sub("", value.strip()))
    except ValueError:
        return None
    stated = Stated(moment, ZONED if moment.tzinfo else _naive_precision(moment))
    latest = (now or datetime.now(UTC)) + MAX_AHEAD
    return stated if EARLIEST <= stated.aware() <= latest else None


def _naive_precision(moment: datetime) -> str:
    # htmldate writes a bare day as midnight: midnight without a zone is a day
    return TIME if moment.time() != time() else DAY


def from_feed(moment: datetime) -> Stated:
    """A feed's date (always zoned): midnight sharp in its own zone is a bare day."""
    return Stated(moment, DAY if moment.time() == time() else ZONED)


def agree(first: Stated, other: Stated) -> bool:
    """True if both name the same day (in either's own zone or in UTC)."""
    return bool(first.days() & other.days())


def publication(page: Stated | None, feed: datetime | None, now: datetime) -> tuple[datetime, str]:
    """The article's publication time and its `date_source`: "page", "feed" or "first_seen".

    The page's statement wins unless the feed's is more precise and names the same day.
    """
    if feed is not None:
        stated = from_feed(feed)
        if page is None or (agree(page, stated) and RANK[stated.precision] > RANK[page.precision]):
            return feed, "feed"
    if page is not None:
        return page.aware(), "page"
    return now, "first_seen"
