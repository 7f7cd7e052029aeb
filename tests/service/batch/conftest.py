"""Fixtures for the batch command: a folder of photos (one unreadable), fsspec's in-memory
filesystem standing in for a bucket, and no Cloud Run task variables leaking in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

# Colours the tiny model tells apart (tests/conftest.py), so every row's answer is known.
COLOUR_CYCLE = ["red", "green", "blue", "black"]


@pytest.fixture(autouse=True)
def no_cloud_run_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUD_RUN_TASK_INDEX", raising=False)
    monkeypatch.delenv("CLOUD_RUN_TASK_COUNT", raising=False)


@pytest.fixture
def bucket() -> Iterator[str]:
    """An empty in-memory 'bucket' (memory://bucket), emptied again after the test."""
    memory = fsspec.filesystem("memory")
    memory.store.clear()
    memory.pseudo_dirs.clear()
    memory.pseudo_dirs.append("")
    yield "memory://bucket"
    memory.store.clear()
    memory.pseudo_dirs.clear()
    memory.pseudo_dirs.append("")


@pytest.fixture
def many_photos(tmp_path: Path, photo) -> Path:
    """11 photos of known colours and one unreadable file, in a local folder."""
    folder = tmp_path / "season"
    folder.mkdir()
    for i in range(11):
        (folder / f"img{i:03d}.jpg").write_bytes(photo(COLOUR_CYCLE[i % 4]))
    (folder / "img005b.jpg").write_bytes(b"not a photo at all")
    return folder
