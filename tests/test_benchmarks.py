"""The benchmark harness works end to end (at a tiny size: no timing is asserted here).

`python -m benchmarks` is run as a user runs it, against the tests' Elasticsearch, and its
JSON is checked for every figure and for what must hold at any size: every article indexed,
no page fetched by the re-run, and the memory sampled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.demo_server import site_file

REPO = Path(__file__).resolve().parent.parent
# benchmarks/ is not an installed package (it is run as `python -m benchmarks` from the
# repository), so the repository is put on the path to import its site builder.
sys.path.insert(0, str(REPO))

from benchmarks.site import FEEDS, build_site  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.es]


def test_site_lists_distinct_urls_in_50_feeds_on_20_hosts(tmp_path: Path, shared_dir: Path) -> None:
    site = build_site(shared_dir, tmp_path, 8080, articles=60, tag="t")
    assert len(site.feeds) == FEEDS and len(site.hosts) == 20
    assert site.entries == 60 + 3  # every 25th article is also in the next feed
    host, path = site.feeds[0].url.removeprefix("http://").split(":8080")
    assert site_file(site.site_dir, host, path) is not None
    pages = [p for p in site.site_dir.rglob("*") if p.is_symlink()]
    assert len(pages) == 60 and all(p.resolve().is_file() for p in pages)


def test_quick_harness_writes_every_figure(tmp_path: Path, es_url: str, shared_dir: Path) -> None:
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "benchmarks", "--articles", "40", "--repeat", "1"]
    command += ["--naive-budget", "2", "--bound-rounds", "2", "--no-companions"]
    command += ["--es-url", es_url, "--shared", str(shared_dir), "--json", str(out)]
    env = {**os.environ, "MEDIAMON_EXTRACT_WORKERS": "2"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| `throughput_ratio_to_bound` |" in done.stdout

    result = json.loads(out.read_text())
    figures = result["figures"]
    for name in ("throughput_ratio_to_bound", "speedup_vs_naive", "rerun_time_ratio"):
        assert figures[name]["value"] > 0, name
    assert figures["peak_rss_mb"]["value"] > 50
    runs = {(r["kind"], r["counts"]["size"]): r for r in result["runs"]}
    for size in (10, 40):
        first, rerun = runs[("pipeline", size)], runs[("rerun", size)]
        assert first["articles"] == size and not first["failures"]
        assert first["memory"]["cpu_seconds"]["worker"] > 0  # extraction ran in workers
        assert rerun["served"]["page_requests"] == 0 and rerun["served"]["feeds_304"] == FEEDS
    assert runs[("naive", 40)]["articles"] >= 1
