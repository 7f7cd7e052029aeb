"""Fixtures for the load-test tests: the repository on sys.path, a real server process.

`loadtest` is not an installed package (it is run from the repository root, as Locust runs
locustfiles), so the root is put first on sys.path here; otherwise this folder, also named
loadtest, could shadow it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_process import ServiceProcess

REPO_ROOT = Path(__file__).resolve().parents[2]

if str(REPO_ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture
def server(tmp_path: Path, tiny_model_path: Path) -> Iterator[str]:
    """`python -m service` serving the tiny model on a free port; yields its base URL, ready.

    The photo pool is loaded (rendered into the cache the first time) while the server starts.
    """
    from loadtest.photos import load_pool

    with ServiceProcess(tiny_model_path, tmp_path / "server.log") as service:
        load_pool()
        service.wait_until_ready()
        yield service.url
