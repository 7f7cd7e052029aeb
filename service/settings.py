"""Every knob of the service, read once from environment variables.

One class so that the defaults, their validation and their documentation live in one place;
`create_app` receives an instance, so tests build their own instead of patching globals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.cpus import usable_cpu_count
from service.model.formats import Backend
from service.model.networks import Precision
from service.model.preprocessing import DEFAULT_MAX_PIXELS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = REPO_ROOT / "weights" / "penguin_classifier.pt"
DEFAULT_MEASUREMENTS_MODEL_PATH = REPO_ROOT / "weights" / "penguin_measurements.json"
MIB = 1024 * 1024


def describe_limit(limit: int) -> str:
    """10485760 -> '10 MiB': a byte limit as the messages people read name it."""
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    return f"{limit:,} bytes"


def default_torch_threads(cpus: int) -> int:
    """Half the CPUs for the forward pass, the rest for decoding and HTTP, which run at the same
    time. Torch's intra-op threads wait for each other at every operator: when another busy
    thread takes one of their CPUs, the whole pass stalls (measured: with 2 torch threads on 2
    CPUs next to the decoders, each request cost more CPU and latency was erratic)."""
    return max(1, cpus // 2)


class Settings(BaseSettings):
    """Service configuration; each field is read from the upper-case environment variable."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    port: int = Field(8080, ge=1, le=65535, description="TCP port (Cloud Run sets PORT).")
    host: str = Field("0.0.0.0", description="Interface to listen on.")
    model_path: Path = Field(
        DEFAULT_MODEL_PATH,
        description="TorchScript model file; its metadata is the .json beside it, its ONNX "
        "export (MODEL_BACKEND=onnx) the .onnx. A relative path is taken relative to the "
        "working directory.",
    )
    measurements_model_path: Path = Field(
        DEFAULT_MEASUREMENTS_MODEL_PATH,
        description="Measurements model file (JSON, with its SHA-256 inside), served at "
        "/predict/measurements. A relative path is taken relative to the working directory.",
    )
    max_measurement_rows: int = Field(
        1000, gt=0, description="Most records (JSON list items or CSV rows) accepted by one "
        "/predict/measurements request."
    )
    max_upload_bytes: int = Field(10 * MIB, gt=0, description="Largest request body for one photo.")
    max_batch_upload_bytes: int = Field(
        50 * MIB, gt=0, description="Largest request body for /predict/batch (all files together)."
    )
    max_inflight_upload_bytes: int = Field(
        128 * MIB, gt=0, description="Request body bytes held at once by all requests in "
        "progress; a body that does not fit gets 503 `overloaded` with Retry-After before it is "
        "read. Bounds memory (on Cloud Run, /tmp where uploads are spooled is memory too); at "
        "least MAX_BATCH_UPLOAD_BYTES. Measured in loadtest/MEMORY.md."
    )
    # Measured with `make refusals` (loadtest/REFUSALS.md; the reasoning is in the README):
    # 64 MiB covers 4 times the 10 MiB photo limit with a margin of 1.6; 30 s lets a body just
    # over the limit finish at 0.33 MiB/s and cuts a stalled or endless one.
    refused_body_discard_bytes: int = Field(
        64 * MIB, ge=0, description="Before an early refusal (413, 415, 503) of a request whose "
        "body is still arriving, at most this much of the rest is read and discarded, so that "
        "clients that write the whole body before reading (urllib, requests, httpx) can read the "
        "refusal; a body declared larger is refused at once (such clients then see a reset).")
    refused_body_discard_seconds: float = Field(
        30.0, ge=0, description="Longest the discarding before an early refusal lasts; a body "
        "still arriving then is cut off (a slow or endless body cannot hold a connection).")
    max_image_pixels: int = Field(
        DEFAULT_MAX_PIXELS, gt=0, description="Largest decoded image, width x height."
    )
    max_batch_files: int = Field(32, gt=0, description="Most files accepted by /predict/batch.")
    torch_threads: int = Field(
        default_factory=lambda: default_torch_threads(usable_cpu_count()), gt=0,
        description="Threads torch uses per forward pass (default: half the usable CPUs, at "
        "least 1; the other half decode uploads and run the event loop)."
    )
    decode_workers: int = Field(
        default_factory=usable_cpu_count, gt=0, description="Threads decoding uploaded images."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Dynamic micro-batching and overload protection (service/engine/inference.py and
    # batching.py). Defaults chosen with `make bench` (loadtest/BENCHMARK.md).
    # MobileNetV2 at 224 px (model 2.x) runs most images/s at batch 4 on 2 CPUs: 140 against 84
    # at batch 1 and 72 at batch 32, whose activations outgrow the caches (loadtest/BENCHMARK.md).
    max_batch_size: int = Field(
        4, gt=0, description="Most photos gathered into one forward pass."
    )
    max_batch_wait_ms: float = Field(
        2.0, ge=0, description="Longest a photo waits for others to join its batch, while "
        "more are on their way (a lone request never waits)."
    )
    max_queue: int = Field(
        128, gt=0, description="Most photos admitted at once (decoding, queued or in a batch); "
        "beyond it requests get 503 `overloaded` with Retry-After at once."
    )
    model_backend: Backend = Field(
        "torchscript", description="What runs the network: the TorchScript file (the contract "
        "and the default), or `onnx`: ONNX Runtime on the ONNX export beside it (shipped in "
        "weights/ and the image; `make export-onnx`). Both pass the same checksum and self-test "
        "(README, 'TorchScript or ONNX Runtime')."
    )
    inference_precision: Precision = Field(
        "auto", description="What the TorchScript forward pass computes in: `bfloat16` about "
        "halves the cost of a batched pass on CPUs that compute it natively (AVX512-BF16, "
        "AMX) and is slower than `float32` elsewhere; `auto` picks bfloat16 where the CPU has "
        "it, float32 otherwise. ONNX Runtime computes in float32 (README, 'Precision')."
    )
    request_timeout_s: float = Field(
        10.0, gt=0, description="Work still queued this long after admission is dropped "
        "without running and answered 503 `queue_timeout`."
    )
    # Set by Cloud Run Jobs in every task (deploy/README.md, "Batch jobs"); the batch command
    # takes them as its default `--shard`.
    cloud_run_task_index: int | None = Field(
        None, ge=0, description="This task's index in a Cloud Run Job (from 0): the batch "
        "command's shard when --shard is not given."
    )
    cloud_run_task_count: int | None = Field(
        None, ge=1, description="The number of tasks in a Cloud Run Job: the batch command's "
        "shard count when --shard is not given."
    )

    @model_validator(mode="after")
    def _one_batch_fits_in_flight(self) -> Settings:
        if self.max_inflight_upload_bytes < max(self.max_batch_upload_bytes,
                                                self.max_upload_bytes):
            raise ValueError(
                "MAX_INFLIGHT_UPLOAD_BYTES must be at least MAX_BATCH_UPLOAD_BYTES and "
                "MAX_UPLOAD_BYTES, or the largest allowed upload could never be accepted")
        return self

    @model_validator(mode="after")
    def _bfloat16_needs_torchscript(self) -> Settings:
        if self.model_backend == "onnx" and self.inference_precision == "bfloat16":
            raise ValueError("INFERENCE_PRECISION=bfloat16 needs MODEL_BACKEND=torchscript: "
                             "ONNX Runtime computes the export in float32 (use auto or float32)")
        return self

    @field_validator("model_path", "measurements_model_path")
    @classmethod
    def _absolute_model_path(cls, path: Path) -> Path:
        """Resolve once at startup so the logs and errors name the exact file that was used."""
        return path.expanduser().absolute()

    @field_validator("model_backend", "inference_precision", mode="before")
    @classmethod
    def _lower_case(cls, choice: object) -> object:
        return choice.lower() if isinstance(choice, str) else choice

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level
