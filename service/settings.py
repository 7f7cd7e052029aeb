"""Every knob of the service, read once from environment variables.

One class so that the defaults, their validation and their documentation live in one place;
`create_app` receives an instance, so tests build their own instead of patching globals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.cpus import usable_cpu_count
from service.preprocessing import DEFAULT_MAX_PIXELS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = REPO_ROOT / "weights" / "penguin_classifier.pt"
MIB = 1024 * 1024


class Settings(BaseSettings):
    """Service configuration; each field is read from the upper-case environment variable."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    port: int = Field(8080, ge=1, le=65535, description="TCP port (Cloud Run sets PORT).")
    host: str = Field("0.0.0.0", description="Interface to listen on.")
    model_path: Path = Field(
        DEFAULT_MODEL_PATH,
        description="TorchScript model file; its metadata is the .json beside it. "
        "A relative path is taken relative to the working directory.",
    )
    max_upload_bytes: int = Field(10 * MIB, gt=0, description="Largest request body for one photo.")
    max_batch_upload_bytes: int = Field(
        50 * MIB, gt=0, description="Largest request body for /predict/batch (all files together)."
    )
    max_image_pixels: int = Field(
        DEFAULT_MAX_PIXELS, gt=0, description="Largest decoded image, width x height."
    )
    max_batch_files: int = Field(32, gt=0, description="Most files accepted by /predict/batch.")
    torch_threads: int = Field(
        default_factory=usable_cpu_count, gt=0, description="Threads torch uses per forward pass."
    )
    decode_workers: int = Field(
        default_factory=usable_cpu_count, gt=0, description="Threads decoding uploaded images."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("model_path")
    @classmethod
    def _absolute_model_path(cls, path: Path) -> Path:
        """Resolve once at startup so the logs and errors name the exact file that was used."""
        return path.expanduser().absolute()

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level
