"""Fixtures shared by the whole suite: a tiny exported model whose answers tests can predict,
photos made with Pillow, and in-process apps serving that model.

The model averages the top half of the photo per colour channel and maps it to logits with
fixed weights: a red top half means Adelie, green Chinstrap, blue Gentoo, and a dark photo means
no penguin. Tests can therefore assert the real answer for a photo, not just the JSON shape,
and an EXIF rotation that is not applied changes the answer.
"""

from __future__ import annotations

import contextlib
import functools
import io
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
import torch
from fastapi import FastAPI
from PIL import Image
from torch import nn

from service.http.app import create_app
from service.model.formats import BACKENDS, Backend
from service.model.metadata import ModelMetadata, read_metadata
from service.settings import Settings

TINY_LABELS = ["Adelie", "Chinstrap", "Gentoo", "no_penguin"]
TINY_INPUT_SIZE = 32
TINY_VERSION = "tiny-test-1"


class TopHalfColourNet(nn.Module):
    """Logits from the mean colour of the top half of the (normalised) input."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((2, 1))
        self.head = nn.Linear(3, 4)
        with torch.no_grad():
            # Rows: Adelie <- red, Chinstrap <- green, Gentoo <- blue, no_penguin <- darkness.
            self.head.weight.copy_(torch.tensor([
                [8.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 8.0], [-8.0, -8.0, -8.0],
            ]))
            self.head.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top_half = self.pool(x)[:, :, 0, 0]
        return self.head(top_half)


def export_tiny_model(path: Path) -> Path:
    """Export with training's own exporters, so the tests exercise the real file formats: the
    TorchScript file and, like the shipped model, its ONNX export beside it."""
    from service.model.metadata import Rejection
    from training.export import export_classifier
    from training.export_onnx import export_onnx
    from training.presets import preprocessing_spec

    export_classifier(
        TopHalfColourNet(),
        path,
        architecture="tiny-top-half-colour",
        version=TINY_VERSION,
        labels=TINY_LABELS,
        preprocessing=preprocessing_spec(input_size=TINY_INPUT_SIZE),
        temperature=1.0,
        rejection=Rejection(label="no_penguin", min_species_probability=0.5),
        check_batch=torch.randn(2, 3, TINY_INPUT_SIZE, TINY_INPUT_SIZE),
        metrics={"accuracy": 0.5},
    )
    export_onnx(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def float32_inference() -> Iterator[None]:
    """Every test's service, batch command and subprocess computes in float32, where the
    recorded answers are exact on any CPU; the default (`auto`: bfloat16 where the CPU has it)
    and bfloat16 itself have their own tests, which set INFERENCE_PRECISION themselves."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INFERENCE_PRECISION", "float32")
        yield


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A verified model file plus its metadata .json, exported once per test session."""
    return export_tiny_model(tmp_path_factory.mktemp("model") / "tiny.pt")


# The tiny model answers by the colour of the photo's top half.
COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230), "black": (0, 0, 0)}

PhotoMaker = Callable[..., bytes]
SettingsMaker = Callable[..., Settings]


def encode_image(image: Image.Image, fmt: str = "JPEG", **save_options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def encode() -> Callable[..., bytes]:
    """encode(image, fmt, **save_options) -> bytes, as a file of that format."""
    return encode_image


@pytest.fixture(scope="session")
def photo() -> PhotoMaker:
    """photo("red", size=, fmt=, mode=) -> encoded bytes of a plain image of that colour."""

    def make(colour: str = "red", *, size: tuple[int, int] = (64, 48), fmt: str = "JPEG",
             mode: str = "RGB", **save_options: Any) -> bytes:
        image = Image.new("RGB", size, COLOURS[colour])
        if mode != "RGB":
            image = image.convert(mode)
        return encode_image(image, fmt, **save_options)

    return make


@pytest.fixture(scope="session")
def huge_png() -> Callable[[int, int], bytes]:
    """huge_png(width, height): a valid PNG header announcing a huge image, in ~100 bytes.

    What a decompression bomb looks like: the file is tiny, the decoded image would not be.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    def make(width: int, height: int) -> bytes:
        header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))

    return make


MOBILENET_INPUT_SIZE = 64


@pytest.fixture(scope="session")
def mobilenet_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served architecture (MobileNetV3-small, 4 outputs), random weights, a small input:
    what batched-versus-alone parity must hold for (its convolutions pick kernels by batch
    size; the tiny test model has none)."""
    torchvision = pytest.importorskip("torchvision")
    from service.model.metadata import Rejection
    from training.export import export_classifier
    from training.presets import preprocessing_spec

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("mobilenet") / "mobilenet.pt"
    export_classifier(
        torchvision.models.mobilenet_v3_small(num_classes=4), path,
        architecture="mobilenet_v3_small", version="speed-test",
        labels=["Adelie", "Chinstrap", "Gentoo", "no_penguin"],
        preprocessing=preprocessing_spec(input_size=MOBILENET_INPUT_SIZE), temperature=1.0,
        rejection=Rejection(label="no_penguin", min_species_probability=0.5),
        check_batch=torch.randn(2, 3, MOBILENET_INPUT_SIZE, MOBILENET_INPUT_SIZE),
    )
    return path


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each MODEL_BACKEND in turn: a test that names this fixture runs under both."""
    return request.param


@pytest.fixture(scope="session")
def tiny_metadata(tiny_model_path: Path) -> ModelMetadata:
    return read_metadata(tiny_model_path)


@pytest.fixture(scope="session")
def settings_for(tiny_model_path: Path) -> SettingsMaker:
    """Settings for the tiny model, small thread counts, plus any overrides."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"model_path": tiny_model_path, "torch_threads": 1,
                                  "decode_workers": 2, **overrides}
        return Settings(**values)

    return make


class AppClient:
    """A synchronous httpx client calling the app in-process, with its lifespan running.

    (Starlette's TestClient does the same but is deprecated with httpx in Starlette 1.x.)
    The app runs on an event loop in a portal thread, as it would under uvicorn.
    """

    def __init__(self, app: FastAPI, portal: anyio.from_thread.BlockingPortal) -> None:
        self.app = app
        self.portal = portal
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                      base_url="http://testserver")

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        return self.portal.call(functools.partial(self.http.request, method, url, **options))

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)


@contextlib.contextmanager
def running(app: FastAPI) -> Iterator[AppClient]:
    """Start the app's lifespan (as a server would), yield a client, then shut it down."""
    with anyio.from_thread.start_blocking_portal() as portal:
        lifespan = app.router.lifespan_context(app)
        portal.call(lifespan.__aenter__)
        client = AppClient(app, portal)
        try:
            yield client
        finally:
            portal.call(client.http.aclose)
            portal.call(lifespan.__aexit__, None, None, None)


def wait_until_loaded(client: AppClient, timeout: float = 15.0) -> None:
    """Poll /readyz until the background load has finished (ready or failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        if response.status_code == 200 or response.json()["error"]["code"] != "model_loading":
            return
        time.sleep(0.02)
    raise AssertionError("the model did not finish loading in time")


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[AppClient]:
    """A client of a fresh app, returned once its model load has finished."""
    with running(create_app(settings)) as client:
        wait_until_loaded(client)
        yield client


@pytest.fixture(scope="session")
def serve() -> Callable[[Settings], contextlib.AbstractContextManager[AppClient]]:
    """serve(settings): context manager yielding a client of a fresh app, model load finished."""
    return serving


@pytest.fixture(scope="session")
def start() -> Callable[[Settings], contextlib.AbstractContextManager[AppClient]]:
    """start(settings): like serve(), but returns at once, while the model may still load."""
    return lambda settings: running(create_app(settings))


@pytest.fixture(scope="module")
def client(settings_for: SettingsMaker) -> Iterator[AppClient]:
    """An app serving the tiny model with default limits, shared by a test module."""
    with serving(settings_for()) as ready:
        yield ready
