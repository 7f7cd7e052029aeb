"""How the model holds up under conditions its training photos never had.

The renderer's variety is what the model has learnt to ignore; real photos bring more. Each
change below is something real users send that the training set does not contain (an infrared
camera trap's greyscale frame, a badly underexposed photo, a heavily compressed upload, a bird
far away in a wide frame, a phone held upside down). Every photo of a labelled folder is
changed, saved as a JPEG as a client would send it, and evaluated through the service's own
decoding, preprocessing and rejection rule, beside the unchanged photos for comparison.

    python -m training.robustness --data /tmp/fresh --report weights/reports/robustness.json
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageEnhance, ImageStat

from service.model.classifier import load_classifier
from training.data import LabelledFiles
from training.evaluate import add_precision_argument, evaluate_folder, files_to_evaluate

CLIENT_JPEG_QUALITY = 90


def _shrunk_into_wide_frame(image: Image.Image) -> Image.Image:
    """The photo at a third of its size in the middle of a frame of its average colour: the
    penguin then fills a ninth of what it did (below the renderer's 15% of the frame)."""
    frame = Image.new("RGB", image.size, tuple(round(v) for v in ImageStat.Stat(image).mean))
    small = image.resize((image.width // 3, image.height // 3), Image.Resampling.LANCZOS)
    frame.paste(small, (image.width // 3, image.height // 3))
    return frame


def _recompressed(quality: int) -> Callable[[Image.Image], Image.Image]:
    def change(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        return Image.open(buffer).convert("RGB")

    return change


CHANGES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "unchanged": lambda image: image,
    "greyscale (infrared camera trap)": lambda image: image.convert("L").convert("RGB"),
    "3 stops underexposed": lambda image: ImageEnhance.Brightness(image).enhance(1 / 8),
    "JPEG quality 8": _recompressed(8),
    "penguin far away (photo shrunk to 1/3 in a wide frame)": _shrunk_into_wide_frame,
    "upside down": lambda image: image.rotate(180),
}


def changed_copy(
    files: LabelledFiles, change: Callable[[Image.Image], Image.Image], folder: Path
) -> LabelledFiles:
    """Every photo of `files` changed and saved under `folder`, same classes and order."""
    paths = []
    for number, (path, target) in enumerate(zip(files.paths, files.targets, strict=True)):
        destination = folder / files.classes[target] / f"{number:06d}.jpg"
        destination.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            change(image.convert("RGB")).save(destination, quality=CLIENT_JPEG_QUALITY)
        paths.append(destination)
    return LabelledFiles(paths, list(files.targets), list(files.classes))


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("weights/penguin_classifier.pt"))
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="labelled folder (class folders, or a dataset with a test/ split)",
    )
    parser.add_argument("--report", type=Path, help="write the results as JSON here")
    parser.add_argument("--workers", type=int, default=2, help="processes decoding photos")
    add_precision_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    files = files_to_evaluate(args.data)
    classifier = load_classifier(args.model, precision=args.precision)
    keys = ("species_accuracy", "no_penguin_rejected", "penguin_wrongly_rejected", "ece")
    results = {}
    with tempfile.TemporaryDirectory(prefix="robustness-") as scratch:
        for number, (name, change) in enumerate(CHANGES.items()):
            changed = changed_copy(files, change, Path(scratch) / str(number))
            metrics, _ = evaluate_folder(classifier, changed, args.workers)
            results[name] = {"images": metrics["images"], **{k: metrics[k] for k in keys}}
            print(f"{name:>56}: " + "  ".join(f"{k}={results[name][k]}" for k in keys), flush=True)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(
            json.dumps(
                {
                    "model_version": classifier.metadata.version,
                    "precision": args.precision,
                    "data": str(args.data),
                    "changes": results,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
