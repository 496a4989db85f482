"""Pages and texts for tests, from the project's own demo corpus (`examples/demo/corpus/`).

The default suite needs nothing beside the repository: where a test wants a real-looking news
page or a real Dutch border-crisis text, it takes one of ours. The publishers' pages in
`../shared/corpus` are the extra tier (the `shared_dir` fixture), never a default fixture.
"""

from __future__ import annotations

from functools import cache

from ingest.demo.corpus import Article, Corpus, load_corpus
from ingest.demo.pages import render_page

# A Dutch article of 16 November 2021 that names Loekasjenko and writes "vluchtelingen".
DUTCH_BORDER = "poolse-premier-spreekt-van-aanval"
# Articles in other languages, unrelated to the crisis or not.
GERMAN = "wasserwerfer-an-der-grenze"
ENGLISH = "cop26-agreement-reached"
FRENCH = "prix-du-carburant"


@cache
def corpus() -> Corpus:
    return load_corpus()


def article(article_id: str) -> Article:
    return corpus().by_id(article_id)


def page(article_id: str, base_url: str = "http://127.0.0.1") -> bytes:
    """The article's page as its outlet's site serves it in the demo's first pass."""
    return render_page(article(article_id), corpus(), 1, base_url)


def paragraphs(article_id: str) -> list[str]:
    return list(article(article_id).versions[0].paragraphs)


def title(article_id: str) -> str:
    return article(article_id).versions[0].title
