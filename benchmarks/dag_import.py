"""How long importing the DAG files takes: `python -m benchmarks.dag_import [--quick]`.

Fresh interpreters, alternated so that drift hits both sides alike (one warm-up each first):

    baseline   python -c "import airflow.sdk"
    dags       python -c "<import every file in dags/>"   (which imports airflow.sdk itself)

Printed: the median wall time of each, their ratio (what the DAG files cost on top of Airflow's
own SDK; 1.0 would be nothing at all), and `dag_parse_ms`: the median time to import the DAG
files in an interpreter where `airflow.sdk` is already loaded, which is what the dag-processor
pays per parse. Needs apache-airflow (`pip install mediamon[airflow]`); without it the
benchmark says so and exits 0. Runs in a temporary AIRFLOW_HOME; nothing touches the network
(the schedule Variable comes from the environment backend, or its default).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DAGS = Path(__file__).resolve().parent.parent / "dags"

BASELINE = "import airflow.sdk"
# Times the two parts in-process too: airflow.sdk, then the DAG files on top of it.
IMPORT_DAGS = """
import importlib.util, json, sys, time
started = time.perf_counter()
import airflow.sdk
sdk_done = time.perf_counter()
for number, path in enumerate(sys.argv[1:]):
    spec = importlib.util.spec_from_file_location(f"mediamon_dag_{number}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
done = time.perf_counter()
heavy = sorted({"elasticsearch", "trafilatura", "feedparser", "ingest"} & set(sys.modules))
print(json.dumps({"sdk_s": sdk_done - started, "dags_s": done - sdk_done, "heavy": heavy}))
"""


def _wall(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def measure(runs: int) -> dict[str, Any]:
    files = [str(p) for p in sorted(DAGS.glob("*.py"))]
    with tempfile.TemporaryDirectory(prefix="mediamon-bench-airflow-") as home:
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        }
        baseline_cmd = [sys.executable, "-c", BASELINE]
        dags_cmd = [sys.executable, "-c", IMPORT_DAGS, *files]
        _wall(baseline_cmd, env)  # warm-up: bytecode caches, page cache
        _wall(dags_cmd, env)
        baseline, dags, own, sdk_in_process = [], [], [], []
        heavy: list[str] = []
        for _ in range(runs):
            baseline.append(_wall(baseline_cmd, env)[0])
            seconds, out = _wall(dags_cmd, env)
            dags.append(seconds)
            parts = json.loads(out.strip().splitlines()[-1])
            own.append(parts["dags_s"])
            sdk_in_process.append(parts["sdk_s"])
            heavy = parts["heavy"]
    baseline_ms = statistics.median(baseline) * 1000
    dags_ms = statistics.median(dags) * 1000
    return {
        "dag_files": [Path(f).name for f in files],
        "runs": runs,
        "baseline_ms": round(baseline_ms, 1),
        "dags_ms": round(dags_ms, 1),
        "ratio_to_baseline": round(dags_ms / baseline_ms, 3),
        "dag_parse_ms": round(statistics.median(own) * 1000, 1),
        "sdk_import_in_process_ms": round(statistics.median(sdk_in_process) * 1000, 1),
        "heavy_modules_imported": heavy,
        "raw_s": {"baseline": baseline, "dags": dags, "dag_files_only": own},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dag_import", description=__doc__)
    parser.add_argument("--runs", type=int, help="fresh interpreters per side (default 9)")
    parser.add_argument("--quick", action="store_true", help="3 runs per side")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("airflow") is None:
        result: dict[str, Any] = {"skipped": "apache-airflow is not installed (mediamon[airflow])"}
        print(result["skipped"])
    else:
        result = measure(args.runs or (3 if args.quick else 9))
        print(
            f"DAG files {', '.join(result['dag_files'])}: {result['dags_ms']:.0f} ms median in a "
            f"fresh interpreter vs {result['baseline_ms']:.0f} ms for `import airflow.sdk` "
            f"(ratio {result['ratio_to_baseline']:.2f}, {result['runs']} runs each)"
        )
        print(
            f"dag_parse_ms {result['dag_parse_ms']:.1f}: the DAG files alone, airflow.sdk "
            f"already imported; heavy modules imported: {result['heavy_modules_imported'] or 0}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
