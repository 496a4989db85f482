"""ingest.malloc: the main process's mmap threshold (its effect is measured by `benchmarks`)."""

from __future__ import annotations

import sys

import pytest

from ingest import malloc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_threshold_is_set_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert malloc.fix_mmap_threshold() is True


def test_an_operator_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert malloc.fix_mmap_threshold() is False
