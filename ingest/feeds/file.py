"""The feeds file: `feeds.yaml` read and validated into `Feed`s, every problem reported at once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.config import load_yaml_list
from ingest.errors import ConfigError
from ingest.models import Feed

__all__ = ["FEED_KEYS", "LANGUAGE_CODE", "load_feeds"]

FEED_KEYS = {"name", "url", "language", "source", "tags"}
LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")  # ISO 639-1, as the feeds file and feeds declare it


def load_feeds(path: Path) -> list[Feed]:
    """Read and validate a feeds file: `feeds: [{name, url, language?, source?, tags?}]`.

    Every problem is collected and raised as one `ConfigError` naming the file and each
    feed, so a user fixes the whole file in one go.
    """
    items, _ = load_yaml_list(path, "feeds", "the feeds file")
    feeds: list[Feed] = []
    problems: list[str] = []
    seen: set[str] = set()
    for position, item in enumerate(items, start=1):
        feed, item_problems = _validate_feed(item, position)
        problems.extend(item_problems)
        if feed is None:
            continue
        if feed.name in seen:
            problems.append(f"feed {feed.name!r}: duplicate name")
            continue
        seen.add(feed.name)
        feeds.append(feed)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    if not feeds:
        raise ConfigError(f"{path}: the 'feeds' list is empty")
    return feeds


def _validate_feed(item: Any, position: int) -> tuple[Feed | None, list[str]]:
    if not isinstance(item, dict):
        return None, [f"feed #{position}: expected a mapping, got {type(item).__name__}"]
    label = f"feed {item['name']!r}" if isinstance(item.get("name"), str) else f"feed #{position}"
    problems = [f"{label}: unknown key {key!r}" for key in sorted(set(item) - FEED_KEYS)]
    name, url = item.get("name"), item.get("url")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{label}: missing 'name'")
    if not isinstance(url, str) or not url.strip():
        problems.append(f"{label}: missing 'url'")
    elif urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        problems.append(f"{label}: url {url!r} is not an http(s) URL")
    language = item.get("language")
    if language is not None and (
        not isinstance(language, str) or not LANGUAGE_CODE.match(language)
    ):
        problems.append(f"{label}: language {language!r} is not a two-letter ISO 639-1 code")
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(f"{label}: tags must be a list of strings")
    source = item.get("source")
    if source is not None and not isinstance(source, str):
        problems.append(f"{label}: source must be a string")
    if problems:
        return None, problems
    assert isinstance(name, str) and isinstance(url, str)
    return Feed(name.strip(), url.strip(), language, source, tuple(tags)), []
