"""The Dockerfile's invariants, checked without a Docker engine: hadolint, then the structure."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_helpers import Stage, dockerfile_env, parse_stages

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
NOT_IN_RUNTIME = ("torchvision", "locust", "pytest", "matplotlib", "httpx", "ruff")


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_hadolint_passes_with_no_warning() -> None:
    result = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_is_live_and_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    """Guards the test above: an unpinned base and an unpinned pip install must be reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\nCMD python app.py\n")
    result = subprocess.run([str(HADOLINT), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3025"):
        assert rule in result.stdout


def test_multi_stage_on_a_pinned_slim_python_311(stages: list[Stage]) -> None:
    assert [stage.name for stage in stages] == ["builder", "runtime"]
    for stage in stages:
        # An exact patch release of the slim variant, never a floating tag like 3.11-slim.
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", stage.base)
    assert stages[0].base == stages[1].base


def test_runtime_copies_the_builders_venv_and_installs_nothing(runtime: Stage) -> None:
    assert runtime.all("COPY")[0].arguments == "--from=builder /opt/venv /opt/venv"
    assert not [run for run in runtime.all("RUN") if "pip" in run.arguments]
    text = " ".join(i.arguments for i in runtime.instructions)
    for package in NOT_IN_RUNTIME:
        assert package not in text


def test_torch_alone_comes_from_the_pytorch_cpu_index(stages: list[Stage]) -> None:
    builder = stages[0]
    installs = [run.arguments for run in builder.all("RUN") if "pip install" in run.arguments]
    cpu_index = [text for text in installs if "download.pytorch.org/whl/cpu" in text]
    assert len(cpu_index) == 1
    # Only torch is taken from that index (--no-deps), the rest comes pinned from the lock file.
    assert "--index-url https://download.pytorch.org/whl/cpu" in cpu_index[0]
    assert "--no-deps" in cpu_index[0]
    assert "grep -E '^torch==' /tmp/runtime.txt > /tmp/torch.txt" in cpu_index[0]
    assert "-r /tmp/torch.txt" in cpu_index[0]
    assert installs.index(cpu_index[0]) == 0
    assert "-r /tmp/runtime.txt" in installs[1]
    for text in installs:
        assert "--only-binary=:all:" in text  # no compiler in a slim image, and none needed


def test_dependencies_are_installed_before_any_code_is_copied(stages: list[Stage]) -> None:
    builder, runtime = stages
    # The builder sees only the requirements file, so code changes never invalidate it.
    copies = [c.arguments for c in builder.all("COPY")]
    assert copies == ["requirements/runtime.txt /tmp/runtime.txt"]
    assert builder.index("COPY", "requirements") < builder.index("RUN", "pip install")
    venv = runtime.index("COPY", "--from=builder")
    assert venv < runtime.index("COPY", r"^weights/")
    assert venv < runtime.index("COPY", r"^service/")


def test_runs_as_a_fixed_non_root_uid(runtime: Stage) -> None:
    users = runtime.all("USER")
    assert len(users) == 1
    uid, _, gid = users[0].arguments.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    # Nothing after USER may need root, and the command is what runs as that user.
    assert runtime.instructions.index(users[0]) > runtime.index("RUN", "compileall")
    assert f"--uid {uid}" in runtime.all("RUN")[0].arguments


def test_writes_go_only_to_tmp_and_threads_are_not_hardcoded(runtime: Stage) -> None:
    env = dockerfile_env(runtime)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"] == env["TMPDIR"] == "/tmp"
    assert env["XDG_CACHE_HOME"].startswith("/tmp/")
    assert env["TORCH_HOME"].startswith("/tmp/")
    # The service derives thread counts from the container's CPU quota.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TORCH_THREADS", "DECODE_WORKERS"):
        assert variable not in env


def test_listens_on_port_from_the_environment(runtime: Stage) -> None:
    env = dockerfile_env(runtime)
    assert env["PORT"] == "8080"  # a default the platform overrides
    assert env["HOST"] == "0.0.0.0"
    assert env["MODEL_PATH"] == "/app/weights/penguin_classifier.pt"
    assert env["MEASUREMENTS_MODEL_PATH"] == "/app/weights/penguin_measurements.json"
    assert [e.arguments for e in runtime.all("EXPOSE")] == ["8080"]


def test_exec_form_command_so_sigterm_reaches_the_server(runtime: Stage) -> None:
    (command,) = runtime.all("CMD")
    assert json.loads(command.arguments) == ["python", "-m", "service"]
    assert not runtime.all("ENTRYPOINT")
    assert runtime.instructions[-1] == command


def test_healthcheck_probes_liveness_on_port(runtime: Stage) -> None:
    (healthcheck,) = runtime.all("HEALTHCHECK")
    options, _, command = healthcheck.arguments.partition(" CMD ")
    assert "--start-period=" in options
    argv = json.loads(command)  # exec form: works without a shell
    assert argv[:2] == ["python", "-c"]
    assert "/healthz" in argv[2] and "os.environ.get('PORT', '8080')" in argv[2]


def test_the_image_carries_the_model_for_both_backends(runtime: Stage) -> None:
    """MODEL_BACKEND=onnx must work in the image as shipped: the ONNX export beside the
    TorchScript file, and ONNX Runtime among the locked serving dependencies."""
    (weights,) = [c.arguments.split() for c in runtime.all("COPY") if "weights/" in c.arguments]
    assert {"weights/penguin_classifier.pt", "weights/penguin_classifier.onnx",
            "weights/penguin_classifier.json"} <= set(weights[:-1])
    assert weights[-1] == "/app/weights/"
    locked = (ROOT / "requirements" / "runtime.txt").read_text().splitlines()
    assert any(line.startswith("onnxruntime==") for line in locked)


def test_build_context_is_exactly_what_the_dockerfile_copies(stages: list[Stage]) -> None:
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"  # everything else (data, .venv*, tests, .git, ...) stays out
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = set()
    for stage in stages:
        for copy in stage.all("COPY"):
            if not copy.arguments.startswith("--from"):
                copied.update(s.rstrip("/") for s in copy.arguments.split()[:-1])
    assert allowed == copied


def test_cloud_build_uploads_only_what_the_image_needs(gcloud_offline) -> None:
    """`gcloud meta list-files-for-upload` applies .gcloudignore exactly as `builds submit` does;
    without it gcloud would upload everything git does not ignore (and .venv-runtime/)."""
    result = gcloud_offline(["meta", "list-files-for-upload", str(ROOT)])
    assert result.returncode == 0, result.stderr
    uploaded = set(result.stdout.split())
    expected = {"Dockerfile", ".dockerignore", "requirements/runtime.txt"}
    expected |= {
        str(path.relative_to(ROOT)) for path in (ROOT / "service").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    expected |= {str(path.relative_to(ROOT)) for path in (ROOT / "weights").glob("*")
                 if path.name in ("penguin_classifier.pt", "penguin_classifier.onnx",
                                  "penguin_classifier.json", "penguin_measurements.json")}
    assert uploaded == expected
