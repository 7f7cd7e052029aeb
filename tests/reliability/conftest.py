"""Fixtures of the hostile-input suite: the service tests' photo and app fixtures, and one real
server process shared by the modules that need one."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import LiveServer, live_server

# The service tests' fixtures (photos, settings, in-process apps), loaded under a private name
# rather than copied, so both suites build photos and apps the same way.
_SPEC = importlib.util.spec_from_file_location(
    "_service_test_fixtures", Path(__file__).resolve().parents[1] / "service" / "conftest.py")
assert _SPEC is not None and _SPEC.loader is not None
service_fixtures = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(service_fixtures)

encode = service_fixtures.encode
photo = service_fixtures.photo
huge_png = service_fixtures.huge_png
tiny_metadata = service_fixtures.tiny_metadata
settings_for = service_fixtures.settings_for
serve = service_fixtures.serve
start = service_fixtures.start
client = service_fixtures.client


@pytest.fixture(scope="session")
def server(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server (default limits, tiny model) shared by the whole suite; never killed by
    a test. A test that needs to stop or break a server starts its own."""
    with live_server(tiny_model_path, tmp_path_factory.mktemp("live-server")) as running:
        yield running
