"""Are two models different on the same photos? An exact McNemar test of their answers.

Two accuracies measured on the same 25 photos differ by a photo or two from chance alone; what
tells the models apart is only the photos where one is right and the other wrong. Under "the
models are equally good" each such photo is a fair coin, so the exact two-sided p-value is a
binomial tail (McNemar's test without the normal approximation, right for small counts).

    python -m training.compare weights/reports/real_photos.json /tmp/old/real_photos.json

Each report is what `python -m training.evaluate --report` writes for the same folder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def exact_mcnemar_p(only_first_right: int, only_second_right: int) -> float:
    """Two-sided exact p-value of the discordant pairs (1.0 when there are none)."""
    discordant = only_first_right + only_second_right
    smaller = min(only_first_right, only_second_right)
    tail = sum(math.comb(discordant, k) for k in range(smaller + 1)) / 2**discordant
    return min(1.0, 2 * tail)


def paired_answers(first: dict, second: dict) -> list[tuple[str, bool, bool]]:
    """(photo, first right, second right) for every photo both reports answered."""
    second_by_photo = {row["photo"]: row for row in second["photos"]}
    missing = [row["photo"] for row in first["photos"] if row["photo"] not in second_by_photo]
    if missing or len(first["photos"]) != len(second["photos"]):
        raise ValueError(
            f"the reports are not of the same photos ({len(first['photos'])} and "
            f"{len(second['photos'])}; first missing from the second: {missing[:3]})"
        )
    return [
        (row["photo"], row["answer"] == row["expected"],
         second_by_photo[row["photo"]]["answer"] == row["expected"])
        for row in first["photos"]
    ]


def compare(first: dict, second: dict) -> dict:
    """Both models' hits, the photos they disagree on, and the exact McNemar p-value."""
    pairs = paired_answers(first, second)
    only_first = [photo for photo, a, b in pairs if a and not b]
    only_second = [photo for photo, a, b in pairs if b and not a]
    return {
        "photos": len(pairs),
        "first_right": sum(a for _, a, _ in pairs),
        "second_right": sum(b for _, _, b in pairs),
        "only_first_right": only_first,
        "only_second_right": only_second,
        "mcnemar_exact_p": round(exact_mcnemar_p(len(only_first), len(only_second)), 4),
    }


def read_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable evaluation report ({error})") from error
    if "photos" not in report:
        raise ValueError(
            f"{path} has no per-photo answers; re-run `python -m training.evaluate --report`"
        )
    return report


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("first", type=Path, help="evaluation report of one model")
    parser.add_argument("second", type=Path, help="evaluation report of the other, same photos")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        result = compare(read_report(args.first), read_report(args.second))
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
