"""Settings from environment variables, and the CPU count derived from cgroups and affinity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.cpus import cgroup_cpu_quota, usable_cpu_count
from service.settings import DEFAULT_MODEL_PATH, REPO_ROOT, Settings

ENV_NAMES = ["PORT", "HOST", "MODEL_PATH", "MAX_UPLOAD_BYTES", "MAX_BATCH_UPLOAD_BYTES",
             "MAX_IMAGE_PIXELS", "MAX_BATCH_FILES", "TORCH_THREADS", "DECODE_WORKERS",
             "LOG_LEVEL", "MAX_BATCH_SIZE", "MAX_BATCH_WAIT_MS", "MAX_QUEUE", "REQUEST_TIMEOUT_S",
             "MODEL_BACKEND", "MAX_INFLIGHT_UPLOAD_BYTES", "MEASUREMENTS_MODEL_PATH",
             "MAX_MEASUREMENT_ROWS", "CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT",
             "REFUSED_BODY_DISCARD_BYTES", "REFUSED_BODY_DISCARD_SECONDS", "INFERENCE_PRECISION"]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(clean_env):
    settings = Settings()
    assert (settings.port, settings.host) == (8080, "0.0.0.0")
    assert settings.model_path == REPO_ROOT / "weights" / "penguin_classifier.pt"
    assert settings.model_path == DEFAULT_MODEL_PATH and settings.model_path.is_absolute()
    assert settings.max_upload_bytes == 10 * 1024 * 1024
    assert settings.max_batch_files == 32
    assert settings.decode_workers == usable_cpu_count()
    assert settings.torch_threads == max(1, usable_cpu_count() // 2)
    assert settings.log_level == "INFO"
    assert settings.measurements_model_path == REPO_ROOT / "weights" / "penguin_measurements.json"
    assert settings.max_measurement_rows == 1000
    assert settings.inference_precision == "auto"


def test_every_setting_is_read_from_its_environment_variable(clean_env, tmp_path):
    values = {"PORT": "9123", "HOST": "127.0.0.1", "MODEL_PATH": str(tmp_path / "m.pt"),
              "MAX_UPLOAD_BYTES": "1000", "MAX_BATCH_UPLOAD_BYTES": "5000",
              "MAX_IMAGE_PIXELS": "4000000", "MAX_BATCH_FILES": "4", "TORCH_THREADS": "3",
              "DECODE_WORKERS": "5", "LOG_LEVEL": "debug", "MAX_BATCH_SIZE": "8",
              "MAX_BATCH_WAIT_MS": "1.5", "MAX_QUEUE": "40", "REQUEST_TIMEOUT_S": "7",
              "MODEL_BACKEND": "ONNX", "MAX_INFLIGHT_UPLOAD_BYTES": "9000",
              "MEASUREMENTS_MODEL_PATH": str(tmp_path / "m.json"), "MAX_MEASUREMENT_ROWS": "7",
              "CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "5",
              "REFUSED_BODY_DISCARD_BYTES": "4000", "REFUSED_BODY_DISCARD_SECONDS": "0.5",
              "INFERENCE_PRECISION": "Float32"}
    for name, value in values.items():
        clean_env.setenv(name, value)
    settings = Settings()
    assert settings.model_dump() == {
        "port": 9123, "host": "127.0.0.1", "model_path": tmp_path / "m.pt",
        "max_upload_bytes": 1000, "max_batch_upload_bytes": 5000,
        "max_image_pixels": 4_000_000, "max_batch_files": 4, "torch_threads": 3,
        "decode_workers": 5, "log_level": "DEBUG", "max_batch_size": 8,
        "max_batch_wait_ms": 1.5, "max_queue": 40, "request_timeout_s": 7.0,
        "model_backend": "onnx", "max_inflight_upload_bytes": 9000,
        "measurements_model_path": tmp_path / "m.json", "max_measurement_rows": 7,
        "cloud_run_task_index": 2, "cloud_run_task_count": 5,
        "refused_body_discard_bytes": 4000, "refused_body_discard_seconds": 0.5,
        "inference_precision": "float32",
    }


def test_relative_model_path_is_taken_from_the_working_directory(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    clean_env.setenv("MODEL_PATH", "models/x.pt")
    assert Settings().model_path == tmp_path / "models" / "x.pt"


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "http"), ("PORT", "70000"), ("MAX_UPLOAD_BYTES", "0"), ("TORCH_THREADS", "0"),
    ("LOG_LEVEL", "chatty"), ("INFERENCE_PRECISION", "float16"),
])
def test_invalid_values_are_refused(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()


def test_bfloat16_with_onnx_runtime_is_refused_with_the_reason(clean_env):
    clean_env.setenv("MODEL_BACKEND", "onnx")
    clean_env.setenv("INFERENCE_PRECISION", "bfloat16")
    with pytest.raises(ValidationError, match="ONNX Runtime computes the export in float32"):
        Settings()
    clean_env.setenv("INFERENCE_PRECISION", "auto")  # auto means float32 there
    assert Settings().inference_precision == "auto"


def write_cgroup(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(content + "\n")
    return root


@pytest.mark.parametrize(("files", "quota"), [
    ({"cpu.max": "max 100000"}, None),
    ({"cpu.max": "150000 100000"}, 1.5),
    ({"cpu.max": "50000 100000"}, 0.5),
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
    ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3.0),
    ({"cpu,cpuacct/cpu.cfs_quota_us": "200000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 2.0),
    ({}, None),
])
def test_cgroup_quota_v1_and_v2(tmp_path, files, quota):
    assert cgroup_cpu_quota(write_cgroup(tmp_path, files)) == quota


def test_usable_cpus_is_the_smaller_of_quota_and_affinity(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert usable_cpu_count(write_cgroup(tmp_path / "a", {"cpu.max": "150000 100000"})) == 2
    assert usable_cpu_count(write_cgroup(tmp_path / "b", {"cpu.max": "800000 100000"})) == 4
    assert usable_cpu_count(write_cgroup(tmp_path / "c", {"cpu.max": "max 100000"})) == 4
    assert usable_cpu_count(write_cgroup(tmp_path / "d", {"cpu.max": "10000 100000"})) == 1
