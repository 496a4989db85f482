"""Article identity: canonical URL, document id and content fingerprint.

The document id is derived from the canonical URL with what never tells two pages apart
folded away, so the same article met again (another feed, a later poll, a retry, over http
or https, with or without `www.`, a trailing slash, a default port or tracking parameters)
is the same document. A page's own `<link rel="canonical">` names its article when it
points into the same site and not up to a section or home page (`page_canonical`).

Ids derived before this folding (issue #15) were hashes of the canonical URL as it was;
`lookup_ids` gives them too, so articles indexed under them are still found by any variant.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from itertools import product
from urllib.parse import SplitResult, parse_qsl, urljoin, urlsplit, urlunsplit

import courlan


def canonical_url(url: str) -> str:
    """Normalise a link: lower-case host, default port, trackers (utm_*, fbclid, ref ...)
    and fragment removed. The result is still a URL a reader can open: the scheme, `www.`
    and a trailing slash stay as linked (`document_id` folds them).

    courlan's non-strict mode drops known tracking parameters and keeps the others sorted;
    its strict mode also drops unknown parameters such as `?article=77`, which would merge
    distinct articles, so it is not used.
    """
    normalised = courlan.normalize_url(url.strip())
    parts = urlsplit(normalised)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def identity_key(url: str) -> str:
    """The canonical URL with what never tells two articles apart folded: https, no
    `www.`, no trailing slash (`https://example.com/a`). Two links with one key are one page:
    a site does not serve another article at `/a/` than at `/a`, nor over http."""
    parts = urlsplit(canonical_url(url))
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https", _folded_netloc(parts.netloc), path, parts.query, ""))


def document_id(url: str) -> str:
    """The Elasticsearch `_id` of the article at this URL (any of its variants)."""
    return _hash(identity_key(url))


def lookup_ids(url: str) -> list[str]:
    """The ids an article at this URL may be stored under: its `document_id` first, then
    the ids earlier versions derived from each variant of its URL (scheme, `www.`, slash)."""
    key = urlsplit(identity_key(url))
    paths = {key.path, key.path + "/"} if key.path != "/" else {"/"}
    variants = product(("https", "http"), (key.netloc, f"www.{key.netloc}"), sorted(paths))
    legacy = (_hash(urlunsplit((s, n, p, key.query, ""))) for s, n, p in variants)
    return list(dict.fromkeys([document_id(url), *legacy]))


def page_canonical(link: str, page_url: str) -> str | None:
    """The canonical URL of the article a page's `<link rel="canonical">` names, if it can
    be trusted to be the same article; else None.

    It must be an http(s) URL on the page's site (the same host but for `www.`, or a parent
    or sub-domain of it: m.example.com -> example.com): a copy on another site is a
    duplicate for `ingest.stories`, not the same document. And it must not be a page that
    holds many articles, which CMS templates name as every article's canonical link: the
    home page, a section the page is in (`/politiek/` for `/politiek/123`; but `/a/b` for
    `/a/b/amp` is the article), or the page's own path without the parameter that chooses
    the article (`/news.php` for `/news.php?article=77`).
    """
    if not link.strip():
        return None
    try:
        target = urlsplit(canonical_url(urljoin(page_url, link.strip())))
        page = urlsplit(canonical_url(page_url))
        same_site = _same_site(_folded_netloc(target.netloc), _folded_netloc(page.netloc))
    except ValueError:  # a bad port or IPv6 literal
        return None
    if target.scheme not in ("http", "https") or not target.hostname or not same_site:
        return None
    if _holds_the_page(target, page):
        return None
    return urlunsplit(target)


def _holds_the_page(target: SplitResult, page: SplitResult) -> bool:
    """`target` is a page above `page`: its home page, a section of it, or its path
    without some of its query parameters."""
    target_path = [segment for segment in target.path.split("/") if segment]
    page_path = [segment for segment in page.path.split("/") if segment]
    if target_path == page_path:
        page_query, target_query = set(parse_qsl(page.query)), set(parse_qsl(target.query))
        return target_query < page_query
    above = len(target_path) < len(page_path) and page_path[: len(target_path)] == target_path
    if not above:
        return False
    rest = page_path[len(target_path) :]
    return not (len(rest) == 1 and rest[0].lower() in _VARIANT_SEGMENTS)


# Path segments that only make another rendering of the article above them (`/a/b/amp`).
_VARIANT_SEGMENTS = frozenset({"amp", "amp.html", "print", "print.html", "mobile"})


def _folded_netloc(netloc: str) -> str:
    return netloc.lower().removeprefix("www.")


def _same_site(first: str, second: str) -> bool:
    return first == second or first.endswith(f".{second}") or second.endswith(f".{first}")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def entry_id(identity: str) -> str:
    """The `_id` of a feed item that has no usable link, from `FeedEntry.identity` (its
    feed's URL and guid, else title and date): a re-run finds the same document."""
    return _hash(f"entry\n{identity}")


def domain_of(url: str) -> str:
    """The host of a URL without port and leading `www.`."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


_NON_WORD = re.compile(r"\W+")


def content_hash(text: str) -> str | None:
    """Hash of the text with case, punctuation and spacing folded: exact re-posts share it."""
    folded = _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    if not folded:
        return None
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:40]
