"""`python -m benchmarks [--quick] [--json FILE]`: see `benchmarks/__init__.py`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from benchmarks.harness import Options, check_targets, run
from benchmarks.report import table


def parse(argv: list[str]) -> tuple[Options, Path | None]:
    """The options, and the file to write the figures to (if any)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (minutes)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    parser.add_argument("--articles", type=int, help="largest size (default 8000; quick 1000)")
    parser.add_argument("--repeat", type=int, help="runs per size (default 3; quick 1)")
    parser.add_argument("--naive-budget", type=float, help="seconds the naive pipeline runs")
    parser.add_argument("--bound-rounds", type=int, help="rounds of the extraction bound")
    parser.add_argument("--es-url", help="an Elasticsearch to use instead of an embedded node")
    parser.add_argument("--es-port", type=int, help="port of the embedded node (default 9219)")
    parser.add_argument("--home", type=Path, help="embedded node's folder ($MEDIAMON_HOME/bench)")
    parser.add_argument("--shared", type=Path, help="the shared folder holding corpus/")
    parser.add_argument("--profile-dir", type=Path, help="py-spy profile of the largest run")
    parser.add_argument("--companion-python", help="interpreter for dag_import & co.")
    parser.add_argument(
        "--no-companions",
        dest="companions",
        action="store_false",
        default=None,
        help="do not run dag_import, percolate, near_duplicates",
    )
    parser.add_argument(
        "--no-peer",
        dest="peer",
        action="store_false",
        default=None,
        help="do not run trafilatura's command line beside (benchmarks/peer.py)",
    )
    args = parser.parse_args(argv)
    values = Options.quick_defaults() if args.quick else {}
    for f in fields(Options):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    return Options(**values), args.json


def main(argv: list[str] | None = None) -> int:
    options, json_file = parse(sys.argv[1:] if argv is None else argv)
    result = run(options)
    check_targets(result["figures"])
    print(table(result))
    if json_file is not None:
        json_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
