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
from dataclasses import replace
from pathlib import Path

import pytest

from ingest import store
from ingest.config import Settings
from ingest.demo.server import site_file

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
    for name in ("throughput_ratio_to_bound", "cpu_ratio_to_bound", "speedup_vs_naive"):
        assert figures[name]["value"] > 0, name
    assert figures["rerun_time_ratio"]["value"] > 0
    assert figures["peak_rss_mb"]["value"] > 50
    runs = {(r["kind"], r["counts"]["size"]): r for r in result["runs"]}
    for size in (10, 40):
        first, rerun = runs[("pipeline", size)], runs[("rerun", size)]
        assert first["articles"] == size and not first["failures"]
        assert first["memory"]["cpu_seconds"]["worker"] > 0  # extraction ran in workers
        assert rerun["served"]["page_requests"] == 0 and rerun["served"]["feeds_304"] == FEEDS
    assert runs[("naive", 40)]["articles"] >= 1
    # the peer, trafilatura's command line, read the pages of its own site of 10 articles
    assert runs[("peer", 10)]["articles"] == 10 and runs[("peer", 10)]["served"]["pages_200"] == 10
    assert figures["ratio_to_trafilatura_cli"]["value"] > 0


def test_growth_benchmark_measures_both_sizes_and_both_layouts(
    tmp_path: Path, es_url: str, shared_dir: Path
) -> None:
    """`benchmarks/growth.py` at a tiny size: every figure measured, nothing left behind."""
    out = tmp_path / "growth.json"
    command = [sys.executable, "benchmarks/growth.py", "--small", "300", "--large", "900"]
    command += ["--batches", "2", "--batch", "50", "--analysis-articles", "200"]
    command += ["--storage-articles", "100", "--body-chars", "2000"]
    command += ["--shared", str(shared_dir), "--json", str(out)]
    env = {**os.environ, "ES_URL": es_url}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "one more article, with 300 vs 900 already indexed" in done.stdout
    result = json.loads(out.read_text())
    for size in ("300", "900"):
        figures = result["per_article"][size]
        assert figures["lookup_ms"] > 0 and figures["total_ms"] >= figures["lookup_ms"]
    assert set(result["ratio"]) == {"lookup_ms", "total_ms", "es_cpu_ms"}
    assert result["store"]["articles"] == 900 + 3 * 50  # loaded, plus the measured batches
    assert result["storage"]["articles"] == 100 and result["storage"]["bytes_per_article"] > 2000
    analysis = result["analysis"]
    assert analysis["subfields_all_languages"]["wall_ms"] > 0
    assert analysis["own_language_only"]["wall_ms"] > 0
    assert analysis["index_per_language_group"]["wall_ms"] > 0
    es = store.connect(replace(Settings.from_env({}), es_url=es_url))
    left = es.options(ignore_status=404).indices.get(index=f"{result['prefix']}*")
    assert not left.body  # every index of the benchmark deleted
