"""The extraction cascade (`extract.EXTRACTION_PASSES`): a later pass runs only when the
passes before it found no article text, and the article records which pass found it.

A first pass that cannot succeed is made with trafilatura's own `lang` option
(it returns nothing for a page in another language), so these tests hold whatever
trafilatura's heuristics do with a given page.
"""

from __future__ import annotations

import pytest

from ingest.errors import ExtractionError
from ingest.extract.page import EXTRACTION_PASSES, MIN_WORDS, extract_page

PARAGRAPHS = [
    "Bij de grensovergang in Kuźnica wachten al dagen honderden mensen in de kou, terwijl "
    "Poolse militairen de afrastering bewaken en hulporganisaties geen toegang krijgen.",
    "De Poolse regering spreekt van een georganiseerde poging van Minsk om de Europese Unie "
    "onder druk te zetten, en stuurt duizenden extra soldaten naar het grensgebied.",
    "Volgens ooggetuigen gebruikte de politie op dinsdag een waterkanon tegen een groep die "
    "het hek probeerde te forceren; aan beide kanten vielen gewonden.",
]
PAGE = (
    "<html lang='nl'><head><title>Grens blijft dicht</title></head><body>"
    "<nav><a href='/'>Home</a> <a href='/binnenland'>Binnenland</a></nav>"
    "<article><h1>Grens blijft dicht</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</article><footer>© Voorbeeldkrant</footer></body></html>"
)
URL = "https://krant.example/grens"
NEVER = ("never", {"fast": True, "precision": True, "lang": "ja"})


def test_the_first_pass_finds_an_ordinary_article() -> None:
    extraction = extract_page(PAGE, URL)
    assert extraction.method == EXTRACTION_PASSES[0][0] == "precision"
    assert "waterkanon" in extraction.body and "Binnenland" not in extraction.body


def test_a_later_pass_runs_when_the_first_finds_nothing() -> None:
    extraction = extract_page(PAGE, URL, passes=(NEVER, *EXTRACTION_PASSES[1:]))
    assert extraction.method == "precision_fallbacks"
    assert all(paragraph in extraction.body for paragraph in PARAGRAPHS)
    # the later pass starts from the page again: the first pass's pruning does not leak in
    assert extraction.title == "Grens blijft dicht"


def test_no_text_when_every_pass_fails() -> None:
    with pytest.raises(ExtractionError) as failed:
        extract_page(PAGE, URL, passes=(NEVER, NEVER))
    assert failed.value.reason == "no_text"
    short = "<html><body><article><p>Te kort om een artikel te zijn.</p></article></body></html>"
    assert len(short.split()) < MIN_WORDS
    with pytest.raises(ExtractionError, match="no_text"):
        extract_page(short, URL)
