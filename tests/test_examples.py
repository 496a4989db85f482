"""The example files users start from must stay valid."""

from __future__ import annotations

from pathlib import Path

from ingest.feeds import load_feeds

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_real_world_feeds_file_is_valid() -> None:
    feeds = load_feeds(EXAMPLES / "feeds.yaml")
    assert len(feeds) >= 10
    assert {"nl", "pl", "en", "de", "fr"} <= {f.language for f in feeds}
    assert all(f.url.startswith("https://") for f in feeds)


def test_demo_feeds_file_is_valid() -> None:
    feeds = load_feeds(EXAMPLES / "demo" / "feeds.yaml")
    assert all(f.url.startswith("http://") and ".localhost:8765/" in f.url for f in feeds)
