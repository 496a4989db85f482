"""The extraction bound: how fast the corpus pages go through trafilatura alone.

`trafilatura.extract` over the same 25 pages the site serves (in the same proportions), in
one process, with the options mediamon's extractor uses (fast mode, precision, tables, no
comments: `ingest.extract.page._EXTRACTOR_OPTIONS`). Pages per second on one core, times the
cores, is the ceiling no pipeline on this machine can pass if it extracts every page.

Also measured, for the report: mediamon's own per-page work (`analyse_page`: trafilatura plus
the page's metadata, htmldate, cleaning and language tagging), which is what the pipeline
actually spends per page, and trafilatura.extract with its default options (its fallback
extractors on), which is slower.

CPU time of this process is measured (`time.process_time`), so a neighbour's load on the
other core does not count as extraction time; the median of several rounds is kept.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trafilatura

from benchmarks.site import CorpusPage
from ingest.extract.pool import analyse_page

Extractor = Callable[[str, str], object]


@dataclass(frozen=True)
class Bound:
    ms_per_page: float  # median over rounds of CPU ms per page, one process
    rounds: list[float]

    def pages_per_second(self, cores: int) -> float:
        return cores * 1000 / self.ms_per_page


def _trafilatura_as_mediamon(html: str, url: str) -> object:
    return trafilatura.extract(
        html,
        url=url,
        fast=True,
        favor_precision=True,
        include_comments=False,
        include_tables=True,
    )


def _trafilatura_default(html: str, url: str) -> object:
    return trafilatura.extract(html, url=url)


def _mediamon(html: str, url: str) -> object:
    return analyse_page(html, url, None)


EXTRACTORS: dict[str, Extractor] = {
    "trafilatura": _trafilatura_as_mediamon,
    "trafilatura_default": _trafilatura_default,
    "mediamon_analyse_page": _mediamon,
}


def measure(corpus: list[CorpusPage], rounds: int) -> dict[str, Bound]:
    """CPU ms per page of each extractor over the corpus, rounds interleaved against drift."""
    pages = [(Path(p.html_path).read_text(encoding="utf-8"), p.url) for p in corpus]
    for extract in EXTRACTORS.values():  # warm up: imports, caches, the language model
        extract(*pages[0])
    times: dict[str, list[float]] = {name: [] for name in EXTRACTORS}
    for _ in range(rounds):
        for name, extract in EXTRACTORS.items():
            started = time.process_time()
            for html, url in pages:
                extract(html, url)
            times[name].append((time.process_time() - started) * 1000 / len(pages))
    return {
        name: Bound(round(statistics.median(values), 2), [round(v, 2) for v in values])
        for name, values in times.items()
    }
