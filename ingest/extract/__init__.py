"""Extraction: a page's HTML in, its text, date, language and fingerprint out.

- `page`: `extract_page`, the text and metadata of a page (trafilatura, in passes).
- `dates`: the publication time, the most precise statement that agrees on the day.
- `language`: `tag_language`, the language from the text and the hints around it.
- `pool`: `analyse_page`, all of the above for one page, run in the extraction processes
  (`extraction_pool`), which import only what this package needs (no Elasticsearch client,
  no terminal rendering: `tests/test_worker.py` checks it).
- `preload`: what the pool's forkserver imports once, for every process it starts.

Import from the module you need (`from ingest.extract.page import extract_page`): nothing is
imported here, so that reading a date or a language code does not load trafilatura and the
language model with it (`tests/test_language.py` checks the model stays unloaded).
"""

__all__ = ["dates", "language", "page", "pool", "preload"]
