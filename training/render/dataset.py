"""Write a synthetic dataset: an ImageFolder tree of JPEG photos plus a manifest.

    python -m training.render.dataset --out data/generated --seed 1 --per-class 1000
    python -m training.render.dataset --out data/samples --seed 7 --samples 4

Every image is a pure function of (seed, class, index), so the output does not depend on the
number of workers or on the order in which they finish, and any single image can be
re-rendered from its manifest line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

from PIL import Image

from .compose import CLASSES, GENERATOR_VERSION, render_image

SPLITS = ("train", "val", "test")
SAMPLE_MAX_SIDE = 640
SAMPLE_QUALITY = 85


@dataclass(frozen=True)
class Job:
    """One image to render and where it goes."""

    label: str
    index: int
    split: str | None  # None in --samples mode (flat class folders)
    seed: int
    sample: bool

    @property
    def relpath(self) -> str:
        name = f"{self.index:06d}.jpg"
        return f"{self.label}/{name}" if self.split is None else f"{self.split}/{self.label}/{name}"


def split_counts(total: int, fractions: tuple[float, ...]) -> list[int]:
    """Largest-remainder rounding: counts add up to `total` exactly."""
    raw = [total * f for f in fractions]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (raw[i] - counts[i], -i), reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def plan(seed: int, per_class: int, fractions: tuple[float, ...]) -> list[Job]:
    """Each class's indices 0..N-1, the first ones to train, then val, then test."""
    jobs = []
    counts = split_counts(per_class, fractions)
    for label in CLASSES:
        index = 0
        for split, count in zip(SPLITS, counts, strict=True):
            for _ in range(count):
                jobs.append(Job(label, index, split, seed, sample=False))
                index += 1
    return jobs


def plan_samples(seed: int, samples: int) -> list[Job]:
    return [Job(label, i, None, seed, sample=True) for label in CLASSES for i in range(samples)]


def run_job(args: tuple[Job, str]) -> dict:
    """Render, encode and save one image; returns its manifest record."""
    job, out = args
    image, info = render_image(job.label, job.seed, job.index)
    quality = info["jpeg_quality"]
    if job.sample:
        image, quality = _shrink_sample(image, info)
    path = Path(out) / job.relpath
    image.save(path, "JPEG", quality=quality)
    record = {"path": job.relpath, "split": job.split, **info}
    record.update(width=image.width, height=image.height, jpeg_quality=quality)
    return record


def _shrink_sample(image: Image.Image, info: dict) -> tuple[Image.Image, int]:
    """Samples are committed to the repository: cap their size, and scale the boxes along."""
    k = min(1.0, SAMPLE_MAX_SIDE / max(image.size))
    if k < 1.0:
        size = (max(1, round(image.width * k)), max(1, round(image.height * k)))
        image = image.resize(size, Image.LANCZOS)
        for key in ("penguin_boxes", "head_boxes"):
            info[key] = [[round(v * k) for v in box] for box in info[key]]
    return image, SAMPLE_QUALITY


def parse_fractions(text: str) -> tuple[float, float, float]:
    """train,val,test fractions; argparse prefixes the messages with "argument --split"."""
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected three numbers like 0.8,0.1,0.1, got {text!r}"
        ) from exc
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            f"needs exactly three fractions (train,val,test), got {text!r}"
        )
    if any(p < 0 for p in parts):
        raise argparse.ArgumentTypeError(f"fractions must not be negative, got {text!r}")
    if abs(sum(parts) - 1.0) > 1e-6:
        raise argparse.ArgumentTypeError(
            f"fractions must sum to 1, got {text!r} (sum {sum(parts):g})"
        )
    return parts  # type: ignore[return-value]


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.render.dataset",
        description="Render synthetic penguin photos into an ImageFolder tree with a manifest.",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--seed", type=int, default=1, help="dataset seed (default: 1)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--per-class", type=int, help="images per class in total, over all splits")
    mode.add_argument(
        "--samples",
        type=int,
        help="instead write this many small images per class into OUT/<class>/",
    )
    parser.add_argument(
        "--split",
        type=parse_fractions,
        default=(0.8, 0.1, 0.1),
        help="train,val,test fractions (default: 0.8,0.1,0.1)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="worker processes (default: CPUs available to this process)",
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    count = args.per_class if args.per_class is not None else args.samples
    flag = "--per-class" if args.per_class is not None else "--samples"
    if count < 1:
        parser.error(f"{flag} must be a positive number of images, got {count}")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.seed < 0:
        parser.error(f"--seed must not be negative, got {args.seed}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a directory")
    return args


def make_dirs(out: Path, jobs: list[Job]) -> None:
    for folder in sorted({(out / job.relpath).parent for job in jobs}):
        folder.mkdir(parents=True, exist_ok=True)


def render_all(jobs: list[Job], out: Path, workers: int, log=print) -> list[dict]:
    """Render every job, in parallel if asked, printing progress about every 5%."""
    tasks = [(job, str(out)) for job in jobs]
    if workers == 1:
        records = _collect(map(run_job, tasks), len(tasks), log)
    else:
        # Leaving the block terminates the pool, so a failing image stops the run at once.
        with Pool(workers) as pool:
            records = _collect(pool.imap_unordered(run_job, tasks, chunksize=4), len(tasks), log)
    order = {job.relpath: i for i, job in enumerate(jobs)}
    return sorted(records, key=lambda r: order[r["path"]])


def _collect(results, total: int, log) -> list[dict]:
    records: list[dict] = []
    step = max(1, total // 20)
    start = time.perf_counter()
    for record in results:
        records.append(record)
        done = len(records)
        if done % step == 0 or done == total:
            rate = done / max(time.perf_counter() - start, 1e-9)
            log(f"[render] {done}/{total} images ({rate:.1f}/s)", flush=True)
    return records


def summarize(records: list[dict], args: argparse.Namespace, argv: list[str]) -> dict:
    counts: dict[str, dict[str, int]] = {}
    for record in records:
        split = record["split"] or "samples"
        counts.setdefault(split, Counter())[record["label"]] += 1
    return {
        "generator": GENERATOR_VERSION,
        "seed": args.seed,
        "classes": list(CLASSES),
        "mode": "samples" if args.samples is not None else "splits",
        "per_class": args.per_class if args.per_class is not None else args.samples,
        "split_fractions": list(args.split) if args.samples is None else None,
        "counts": {split: {c: counts[split].get(c, 0) for c in CLASSES} for split in counts},
        "total": len(records),
        "command": shlex.join(["python", "-m", "training.render.dataset", *argv]),
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.samples is not None:
        jobs = plan_samples(args.seed, args.samples)
    else:
        jobs = plan(args.seed, args.per_class, args.split)
    make_dirs(args.out, jobs)
    workers = min(args.workers, len(jobs))
    print(
        f"[render] {len(jobs)} images, seed {args.seed}, {workers} worker(s) -> {args.out}",
        flush=True,
    )
    start = time.perf_counter()
    records = render_all(jobs, args.out, workers)
    with open(args.out / "manifest.jsonl", "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
    summary = summarize(records, args, argv)
    (args.out / "manifest_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    elapsed = time.perf_counter() - start
    print(
        f"[render] done: {len(records)} images in {elapsed:.1f}s "
        f"({elapsed / max(len(records), 1) * 1000 * workers:.0f} ms per image per worker)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
