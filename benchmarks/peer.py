"""The peer: trafilatura's own command line over the same feeds and pages, in the same round.

What a user might run instead of mediamon to get the text of every article a list of feeds
links to:

    trafilatura -i feeds.txt --feed --parallel 16 -o OUT --fast --precision --no-comments

It reads each feed, downloads the pages it lists with its parallel downloads (16 threads,
mediamon's `MEDIAMON_CONCURRENCY`) and extracts each with mediamon's first-pass options, one
page at a time in its main process, writing one text file per article. It indexes nothing,
tags no language and finds no duplicates: it is the floor of what any feeds-to-text tool
does, not the same work.

Two settings of its configuration file are changed, both of which a user on this benchmark
would have to change: `SLEEP_TIME = 0` (its default waits 5 s between two requests to one
host, which with 20 hosts caps it at 4 pages a second; mediamon waits only where robots.txt
asks) and `SSRF_PROTECTION = off` (the site is on the loopback address, which it refuses,
as mediamon does unless `MEDIAMON_EGRESS_ALLOW` lets it through). The site's host names
(`*.localhost`) are resolved to 127.0.0.1 in its process, as mediamon's client does itself.

Its articles per second are counted from the texts it writes, over the wall clock of the
command's work (not its interpreter start-up), in a process of its own sampled like
mediamon's runs (`benchmarks.runs.measure`).
"""

from __future__ import annotations

import configparser
import logging
import socket
import sys
import time
from pathlib import Path
from queue import Queue
from typing import Any

from benchmarks import runs
from ingest.models import Feed

PARALLEL = 16  # download threads: mediamon's MEDIAMON_CONCURRENCY default
OPTIONS = ("--fast", "--precision", "--no-comments")  # mediamon's first pass


def peer_run(feeds: list[Feed], where: runs.Target, out_dir: Path) -> runs.RunResult:
    """trafilatura's command line over `feeds`, articles written under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    feed_list = out_dir / "feeds.txt"
    feed_list.write_text("".join(f"{feed.url}\n" for feed in feeds), encoding="utf-8")
    config = _config_file(out_dir / "trafilatura.cfg")
    texts = out_dir / "texts"
    argv = ["-i", str(feed_list), "--feed", "--parallel", str(PARALLEL), "-o", str(texts)]
    argv += [*OPTIONS, "--config-file", str(config)]
    return runs.measure("peer", _peer_child, (argv,), where)


def _config_file(path: Path) -> Path:
    """trafilatura's shipped settings with no pause between requests and loopback allowed."""
    import trafilatura.settings

    config = configparser.ConfigParser()
    config.read(Path(trafilatura.settings.__file__).with_name("settings.cfg"), encoding="utf-8")
    config["DEFAULT"]["SLEEP_TIME"] = "0"
    config["DEFAULT"]["SSRF_PROTECTION"] = "off"
    with path.open("w", encoding="utf-8") as out:
        config.write(out)
    return path


def _peer_child(argv: list[str], results: Queue[Any]) -> None:
    from trafilatura import cli_utils
    from trafilatura.cli import parse_args, process_args

    _resolve_localhost_to_loopback()
    texts = _count_texts(cli_utils)
    args = parse_args(argv)
    logging.disable(logging.CRITICAL)  # a line per page it had trouble with: not measured
    started = time.perf_counter()
    try:
        process_args(args)
    except SystemExit as exc:  # its exit code 1 says that some URL gave no text
        print(f"trafilatura exited with {exc.code}", file=sys.stderr)
    seconds = time.perf_counter() - started
    results.put({"articles": texts["written"], "seconds": seconds})


def _count_texts(cli_utils: Any) -> dict[str, int]:
    """Count the texts it writes. Not its files: it names them by a hash of the text, and
    the site's pages are copies of 25 corpus pages, so copies write one file."""
    texts = {"written": 0}
    write = cli_utils.write_result

    def counted(result: str | None, *args: Any, **kwargs: Any) -> None:
        texts["written"] += result is not None
        write(result, *args, **kwargs)

    cli_utils.write_result = counted
    return texts


def _resolve_localhost_to_loopback() -> None:
    """`*.localhost` is loopback (RFC 6761), which this machine's resolver does not know."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
