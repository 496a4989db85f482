"""The demo: the project's own border-crisis coverage, served as news sites on this machine.

- `corpus`: the articles written for mediamon (`examples/demo/corpus/`), read and checked.
- `pages`: one article version as a news page (the template in `examples/demo/templates/`).
- `site`: the sites of both passes built from the corpus: pages, RSS/Atom feeds, feeds.yaml.
- `server`: the local web server for those sites (ETag, Last-Modified, a log of requests).
- `walkthrough`: `mediamon demo`'s steps, each with what it showed.
"""

from ingest.demo.corpus import load_corpus
from ingest.demo.server import DemoServer
from ingest.demo.site import DemoSite, build_site

__all__ = ["DemoServer", "DemoSite", "build_site", "load_corpus"]
