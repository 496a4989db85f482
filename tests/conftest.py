"""Shared fixtures. Integration fixtures (Elasticsearch, local servers) live here too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared folder (corpus and seed): `MEDIAMON_SHARED`, else `../shared`."""
    path = Path(os.environ.get("MEDIAMON_SHARED", REPO.parent / "shared"))
    if not (path / "corpus" / "pages.jsonl").exists():
        pytest.fail(f"shared corpus not found at {path}; set MEDIAMON_SHARED")
    return path
