"""Liveness and readiness, for Cloud Run's probes and for load balancers."""

from __future__ import annotations

from fastapi import APIRouter

from service.http.dependencies import MeasurementsStateDep, ModelStateDep
from service.http.errors import error_responses
from service.http.schemas import HealthResponse, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="Liveness")
async def healthz() -> HealthResponse:
    """The process answers; deliberately independent of the model, so a slow or failed load
    never gets the container killed and restarted by a liveness probe."""
    return HealthResponse()


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="Readiness",
    responses=error_responses(503),
)
async def readyz(state: ModelStateDep, measurements: MeasurementsStateDep) -> ReadyResponse:
    """200 once both models are loaded, verified and warmed up; 503 with the reason until then."""
    pipeline = state.require_pipeline()
    return ReadyResponse(model_version=pipeline.metadata.version,
                         measurements_model_version=measurements.require_model().version)
