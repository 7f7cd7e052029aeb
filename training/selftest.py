"""Record the known answers (the service's start-up self-test) for an already exported model.

    python -m training.selftest --model weights/penguin_classifier.pt

Loads the model exactly as the service does (its checksum verified against the metadata), runs
the reference photos through the model's own preprocessing, and rewrites only the metadata
.json beside it with their answers; the model file is never touched, so its checksum holds.
Models exported by training/export.py since the self-test have them already; run this for
older ones, or again after changing what the metadata says about preprocessing on purpose.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from service.model.classifier import load_classifier
from service.model.known_answers import REFERENCE_COUNT, REFERENCE_SEED, record_known_answers
from service.model.metadata import KNOWN_ANSWER_TOLERANCE, write_metadata


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("weights/penguin_classifier.pt"),
                        help="the TorchScript model file; its metadata is the .json beside it "
                        "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=REFERENCE_SEED,
                        help="what the reference photos are generated from (default: %(default)s)")
    parser.add_argument("--count", type=int, default=REFERENCE_COUNT,
                        help="how many reference photos (default: %(default)s)")
    parser.add_argument("--tolerance", type=float, default=KNOWN_ANSWER_TOLERANCE,
                        help="largest difference the service allows per probability "
                        "(default: %(default)s)")
    return parser


def record(model_path: Path, *, seed: int, count: int, tolerance: float) -> Path:
    """Write the known answers into the model's metadata; returns the metadata's path."""
    classifier = load_classifier(model_path)
    known = record_known_answers(classifier, seed=seed, count=count)
    known = known.model_copy(update={"tolerance": tolerance})
    metadata = classifier.metadata.model_copy(update={"known_answers": known})
    return write_metadata(model_path, metadata)


def main(argv: list[str] | None = None) -> None:
    args = get_args_parser().parse_args(argv)
    if args.count < 1 or args.tolerance <= 0:
        raise SystemExit("--count must be at least 1 and --tolerance positive")
    path = record(args.model, seed=args.seed, count=args.count, tolerance=args.tolerance)
    print(f"recorded {args.count} known answers (seed {args.seed}, tolerance {args.tolerance}) "
          f"in {path}")


if __name__ == "__main__":
    main()
