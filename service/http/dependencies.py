"""Typed FastAPI dependencies: what a route may ask for, read from `app.state`.

Routes declare `pipeline: PipelineDep` instead of reaching into globals, so a route that needs
the model cannot run (it answers 503 with the reason) until the model is ready.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.engine.lifecycle import ModelState
from service.engine.measurements_lifecycle import MeasurementsState
from service.engine.pipeline import ClassificationPipeline
from service.http.web_render import PageRenderer
from service.model.measurements import MeasurementsModel
from service.settings import Settings

# Every dependency is `async def` although none awaits: FastAPI runs a plain `def` dependency in
# its thread pool, a thread hop per dependency per request that costs more than the function.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_model_state(request: Request) -> ModelState:
    return request.app.state.model


async def get_pipeline(request: Request) -> ClassificationPipeline:
    """Resolved before the body is read, so a 503 never waits for an upload: neither while the
    model loads nor, for a POST (a photo to classify), when the queue is already full."""
    pipeline = request.app.state.model.require_pipeline()
    if request.method == "POST":
        pipeline.runner.refuse_if_full()
    return pipeline


async def get_measurements_state(request: Request) -> MeasurementsState:
    return request.app.state.measurements


async def get_measurements_model(request: Request) -> MeasurementsModel:
    """Resolved before the body is read, so a 503 never waits for an upload."""
    return request.app.state.measurements.require_model()


async def get_pages(request: Request) -> PageRenderer:
    return request.app.state.pages


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelStateDep = Annotated[ModelState, Depends(get_model_state)]
PipelineDep = Annotated[ClassificationPipeline, Depends(get_pipeline)]
MeasurementsStateDep = Annotated[MeasurementsState, Depends(get_measurements_state)]
MeasurementsModelDep = Annotated[MeasurementsModel, Depends(get_measurements_model)]
PagesDep = Annotated[PageRenderer, Depends(get_pages)]
