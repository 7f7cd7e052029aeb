from pathlib import Path

import pytest

from training.render.dataset import main as render_main


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A few rendered photos per class and split: enough to exercise training end to end."""
    root = tmp_path_factory.mktemp("tiny_dataset")
    render_main(["--out", str(root), "--seed", "11", "--per-class", "10", "--workers", "2"])
    return root
