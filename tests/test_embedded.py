"""The embedded node refuses, before Java starts, a port its runner cannot serve."""

from pathlib import Path

import pytest

from ingest import embedded
from ingest.errors import EmbeddedError


@pytest.mark.parametrize("port", [9300, 9314, 80])
def test_a_port_the_runner_cannot_serve_is_refused_with_the_range(
    tmp_path: Path, port: int
) -> None:
    with pytest.raises(EmbeddedError, match=f"port {port}: its runner takes ports up to 9299"):
        embedded.start(tmp_path, port=port)
    assert not (tmp_path / "es").exists()  # refused before anything was installed or spawned
