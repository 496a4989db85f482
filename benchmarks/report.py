"""The figures as a Markdown table (what the README's Performance section shows)."""

from __future__ import annotations

from typing import Any

ORDER = (
    "throughput_ratio_to_bound",
    "cpu_ratio_to_bound",
    "speedup_vs_naive",
    "rerun_time_ratio",
    "peak_rss_mb",
    "peak_pss_mb",
    "dag_parse_ms",
    "throughput_articles_per_s",
    "ratio_to_mediamon_extraction",
    "ratio_to_trafilatura_cli",
    "ratio_to_trafilatura_default",
    "cpu_ms_per_article",
)


def table(result: dict[str, Any]) -> str:
    """| figure | value | target | met | how |, then the command and the machine's load."""
    rows = ["| figure | value | target | met | measured as |", "|---|---|---|---|---|"]
    figures = result["figures"]
    for name in ORDER:
        figure = figures.get(name)
        if figure is None:
            continue
        met = {True: "yes", False: "**no**", None: "-"}[figure.get("met")]
        value = "n/a" if figure["value"] is None else figure["value"]
        target = figure.get("target", "")
        met_cell = met if target else ""
        rows.append(f"| `{name}` | {value} | {target} | {met_cell} | {figure['detail']} |")
    machine = result["machine"]
    load = ", ".join(f"{x:.2f}" for x in machine["load_before"])
    load_after = ", ".join(f"{x:.2f}" for x in machine["load_after"])
    rows += [
        "",
        f"`{result['command']}` on {machine['cores']} cores, Python {machine['python']}; "
        f"load average {load} before, {load_after} after; {result['seconds']:.0f} s in all.",
    ]
    return "\n".join(rows)
