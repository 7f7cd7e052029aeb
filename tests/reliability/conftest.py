"""A real server process shared by the hostile-input modules that need one (the photo and app
fixtures come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import LiveServer, live_server


@pytest.fixture(scope="session")
def server(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server (default limits, tiny model) shared by the whole suite; never killed by
    a test. A test that needs to stop or break a server starts its own."""
    with live_server(tiny_model_path, tmp_path_factory.mktemp("live-server")) as running:
        yield running
