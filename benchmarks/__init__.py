"""mediamon's throughput and memory benchmarks (issue #7): `python -m benchmarks`.

A local server (`benchmarks.server`, the demo's server with 50-150 ms latency per response,
in its own process) serves the recorded corpus pages replicated under distinct URLs
(`benchmarks.site`): 50 feeds on 20 host names. Everything goes into a real Elasticsearch
(an embedded node of its own, or `--es-url`). Measured side by side in one invocation:

    throughput_ratio_to_bound  full-pipeline articles/s at the largest size, over the
                               extraction bound (trafilatura alone on the same pages, one
                               process, times the cores)                      target >= 0.6
    cpu_ratio_to_bound         the same in CPU time: trafilatura's ms per page over the run's
                               CPU ms per article (every process, Elasticsearch, the site),
                               which the machine's other load does not move
    speedup_vs_naive           over a sequential fetch-extract-index-one pipeline  >= 5
    rerun_time_ratio           a second run over the unchanged feeds (304s) over the first,
                               with 0 page fetches                                <= 0.05
    peak_rss_mb                peak summed RSS of the run's process tree at the largest size
                               (>= 8000 articles), with the figure at a quarter    <= 400
    dag_parse_ms               importing the DAG files (benchmarks/dag_import.py)
    ratio_to_trafilatura_cli   mediamon's articles/s over the peer's: trafilatura's own
                               command line reading a site of a quarter of the largest
                               size with its parallel downloads (benchmarks/peer.py)

`--quick` runs 1000 articles once (a few minutes); `--json FILE` writes every figure and raw
measurement. Other benchmark modules in this package (dag_import, percolate,
near_duplicates) are run if present and if they take `--json`, as
`python -m benchmarks.<name> [--quick] --json FILE` with `ES_URL` set to the benchmark's
Elasticsearch; their JSON is included as is, and `dag_parse_ms` is read from dag_import's.
"""
