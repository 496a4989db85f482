"""`benchmarks/page_parts.py` runs as a user runs it (demo pages only, one pass: no timing is
asserted here), and its A/B mode loads another checkout's part and checks it agrees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARTS = ["trafilatura", "extract_page", "tag_language", "fingerprint", "analyse_page"]


def _run(*args: str) -> str:
    command = [sys.executable, "-m", "benchmarks.page_parts", "--only", "demo", *args]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_page_parts_times_every_part_and_writes_every_page(tmp_path: Path) -> None:
    figures, fields = tmp_path / "parts.json", tmp_path / "pages.jsonl"
    _run("--rounds", "1", "--json", str(figures), "--outputs", str(fields))
    demo = json.loads(figures.read_text(encoding="utf-8"))["demo"]
    assert demo["pages"] >= 90
    assert all(demo[part] > 0 for part in PARTS)
    assert abs(demo["beyond"] - (demo["analyse_page"] - demo["trafilatura"])) <= 0.002  # one pass
    lines = fields.read_text(encoding="utf-8").splitlines()
    assert len(lines) == demo["pages"]
    assert {"extraction", "language", "url"} <= json.loads(lines[0]).keys()


def test_page_parts_against_a_checkout_compares_the_same_part() -> None:
    out = _run("--rounds", "1", "--against", str(REPO), "--part", "fingerprint")
    assert out.startswith("fingerprint {'here': ")
