"""requirements/runtime.txt, which the image and the runtime venv install, against pyproject."""

from __future__ import annotations

import re
import tomllib

from deploy_helpers import ROOT, load_deploy_module

LOCK = ROOT / "requirements" / "runtime.txt"
lock_requirements = load_deploy_module("lock_requirements")


def _requirement_lines() -> list[str]:
    return [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_lock_starts_with_exactly_pyprojects_dependencies() -> None:
    """Fails until `make requirements` is run after pyproject's dependencies change."""
    direct = _pyproject()["project"]["dependencies"]
    assert _requirement_lines()[: len(direct)] == direct


def test_every_package_is_pinned_once() -> None:
    names = []
    for line in _requirement_lines():
        assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*==[0-9][0-9A-Za-z.+!-]*", line), line
        names.append(lock_requirements.canonical(line.split("==")[0]))
    assert len(names) == len(set(names))


# Pinned by an extra for its own use and needed in the image too, by a serving dependency:
# google-cloud-storage (gcsfs's) needs requests, which `make fetch-photos` (train) uses directly;
# onnxruntime needs NumPy, which training uses for its arrays.
SHARED_WITH_SERVING = {"requests", "numpy"}


def test_no_training_dev_or_cuda_package_in_the_image() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    pinned = {lock_requirements.canonical(re.split(r"[=<>~!\[; ]", r)[0]): r
              for requirements in extras.values() for r in requirements}
    excluded = set(pinned) - SHARED_WITH_SERVING
    locked = {lock_requirements.canonical(line.split("==")[0]): line
              for line in _requirement_lines()}
    assert {"torchvision", "locust", "pytest", "matplotlib", "onnx", "onnxscript"} <= excluded
    assert not set(locked) & excluded
    assert not [name for name in locked if lock_requirements.CUDA_ONLY.match(name)]
    # A shared package is installed at one version everywhere: the extra's pin is the image's.
    for name in SHARED_WITH_SERVING & set(pinned):
        assert locked.get(name) == pinned[name], (name, locked.get(name), pinned[name])


def test_the_image_can_read_gs_locations() -> None:
    """Cloud Run Jobs read photos from buckets: gcsfs, fsspec's gs:// backend, is a serving
    dependency (deploy/README.md, "Batch jobs")."""
    direct = {lock_requirements.canonical(r.split("==")[0])
              for r in _pyproject()["project"]["dependencies"]}
    assert {"fsspec", "gcsfs"} <= direct


def test_onnx_runtime_is_a_serving_dependency() -> None:
    """MODEL_BACKEND=onnx is a first-class option, so the image holds ONNX Runtime; only the
    exporter's own packages (onnx, onnxscript) stay in the extra `onnx`."""
    direct = _pyproject()["project"]["dependencies"]
    (pin,) = [r for r in direct if r.startswith("onnxruntime")]
    assert re.fullmatch(r"onnxruntime==[0-9.]+", pin)
    assert pin in _requirement_lines()
    onnx_extra = _pyproject()["project"]["optional-dependencies"]["onnx"]
    assert not [r for r in onnx_extra if r.startswith("onnxruntime")]


def test_render_keeps_direct_pins_and_drops_cuda_only_packages() -> None:
    resolved = {"torch": "2.0", "fastapi": "1.0", "starlette": "0.5", "nvidia-cublas": "13",
                "cuda-bindings": "13", "triton": "3", "anyio": "4"}
    text = lock_requirements.render(["torch==2.0", "fastapi==1.0"], resolved)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["torch==2.0", "fastapi==1.0", "anyio==4", "starlette==0.5"]
