"""The reference the benchmark compares with: the classifier served the way tutorials do it.

Same TorchScript model file and the same answers' shape as the real service, but: the whole
photo decoded with PIL, torchvision transforms (Resize, ToTensor, Normalize), one forward pass
per request, no batching, one uvicorn worker. Two endpoints, the two usual ways:

- `POST /predict-async`: an `async def` endpoint doing all of it inline, on the event loop;
- `POST /predict-sync`: a plain `def` endpoint doing the same in Starlette's thread pool.

    python -m loadtest.naive_server --model weights/penguin_classifier.pt --port 8090

Torch's intra-op threads: `--threads N` (the benchmark passes the service's own count, so the
comparison is not about thread settings); 0 leaves torch's default, as a tutorial would.
Benchmark-only code: never deployed, not part of the service package.
"""

from __future__ import annotations

import argparse
import io
import json
import warnings
from pathlib import Path

import torch
import uvicorn
from fastapi import FastAPI, File, UploadFile
from PIL import Image
from torchvision import transforms


def build_app(model_path: Path) -> FastAPI:
    metadata = json.loads(model_path.with_suffix(".json").read_text())
    labels = metadata["labels"]
    spec = metadata["preprocessing"]
    size = spec["input_size"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = torch.jit.load(str(model_path), map_location="cpu")
    model.eval()
    transform = transforms.Compose([
        transforms.Resize((size, size)),
        transforms.ToTensor(),
        transforms.Normalize(spec["mean"], spec["std"]),
    ])

    def classify(data: bytes) -> dict:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        batch = transform(image).unsqueeze(0)
        with torch.no_grad():
            probabilities = torch.softmax(model(batch) / metadata["temperature"], dim=1)[0]
        best = int(probabilities.argmax())
        return {"species": labels[best], "confidence": float(probabilities[best]),
                "probabilities": {label: float(p) for label, p in zip(labels, probabilities,
                                                                       strict=True)}}

    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> dict:
        return {"status": "ready"}

    @app.post("/predict-async")
    async def predict_async(file: UploadFile = File(...)) -> dict:  # noqa: B008 (tutorial style)
        return classify(await file.read())

    @app.post("/predict-sync")
    def predict_sync(file: UploadFile = File(...)) -> dict:  # noqa: B008 (tutorial style)
        return classify(file.file.read())

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    uvicorn.run(build_app(args.model), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
