"""The measurements model in the server: loading, ready or failed.

Knows no HTTP. Like the photo model, a failed load does not stop the process: /readyz and
/predict/measurements answer 503 with the reason, and the one ERROR line naming it stays in the
logs (see service/engine/lifecycle.py for why). Answering a record is the model's own business
(service/model/measurements_records.py), shared with the batch command.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from service.engine.lifecycle import ModelStatus
from service.model.errors import ApiError
from service.model.measurements import MeasurementsModel, load_measurements_model
from service.model.metadata import ModelIntegrityError

log = logging.getLogger("service.model")


class MeasurementsState:
    """What /readyz reports about the measurements model and what its route needs."""

    def __init__(self) -> None:
        self.status = ModelStatus.LOADING
        self.reason = ""
        self.model: MeasurementsModel | None = None

    def require_model(self) -> MeasurementsModel:
        """The verified model, or the 503 that explains why there is none."""
        if self.model is not None:
            return self.model
        if self.status is ModelStatus.FAILED:
            raise ApiError(503, "model_unavailable",
                           f"The measurements model could not be loaded: {self.reason}")
        raise ApiError(503, "model_loading", "The measurements model is still loading; try "
                       "again in a few seconds.", headers={"Retry-After": "2"})


async def load_measurements(state: MeasurementsState, path: Path) -> None:
    """Read and verify the file off the event loop (its check records are the warm-up)."""
    try:
        model = await asyncio.to_thread(load_measurements_model, path)
    except ModelIntegrityError as error:
        _fail(state, str(error))
        return
    except Exception as error:  # a failure to serve must be reported, whatever its type
        _fail(state, f"unexpected {type(error).__name__} while loading: {error}")
        return
    state.model, state.status = model, ModelStatus.READY
    log.info("measurements model ready", extra={"model_version": model.version,
                                                "model_path": str(path)})


def _fail(state: MeasurementsState, reason: str) -> None:
    state.reason, state.status = reason, ModelStatus.FAILED
    log.error("measurements model unavailable, serving 503 until it is fixed: %s", reason)
