"""penguin-classify: classify folders of photos offline, on one machine or as n shards; or CSV
files of measurements.

    penguin-classify photos/ more/*.jpg --recursive --format csv --output results.csv
    penguin-classify gs://bucket/season-3 --recursive --shard 2/8 --output gs://bucket/results
    penguin-classify merge gs://bucket/results --output season-3.csv
    penguin-classify birds.csv --output species.csv

Uses the same verified model, the same preprocessing and the same engine as the HTTP service
(decoding pool, batched forward passes), so a researcher's spreadsheet agrees with the API; the
model is found the way the service finds it (MODEL_PATH, through `Settings`). Locations are
local paths or fsspec URLs (gs:// through gcsfs, installed with the service).

Every photo gets a row; one that cannot be classified gets its reason in the `error` column and
is also listed at the end. Sharded (`--shard i/n`, or Cloud Run Jobs' task variables), each task
writes its own result file into the --output folder and resumes where a killed attempt stopped
(service/batch/shards.py); `merge` joins the shards and reports any photo missing or repeated.

CSV files of measurements get the same model file, checks and answers as POST
/predict/measurements (service/batch/measurements.py): every row gets a row, a bad one with its
reason in `error`. They are classified in one run, never sharded, and not mixed with photos.

Exit codes: 0 done; 1 nothing could be classified (no photo, or no row of measurements), a shard
failed (Cloud Run then retries it) or a merge found problems; 2 the model (or the measurements
model), the configuration, the arguments or a CSV file of measurements is unusable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from service.batch import measurements, storage
from service.batch.engine_run import RunStats, classify_in_chunks
from service.batch.merge import merge_shards
from service.batch.results import FORMATS, Row, format_of, render
from service.batch.shards import Shard, ShardError, ShardOutput, parse_shard, shard_from_task
from service.engine.allocator import keep_freed_memory_for_reuse
from service.model.classifier import Classifier, load_classifier
from service.model.measurements import load_measurements_model
from service.model.metadata import ModelIntegrityError
from service.settings import Settings

PROGRAM = "penguin-classify"
PROGRESS_FORMAT = "{bar:30} {n_fmt}/{total_fmt} photos [{elapsed}<{remaining}]"
DEFAULT_CHECKPOINT_EVERY = 512


class UsageError(Exception):
    """Arguments that cannot work together; exit 2 with the message."""


def shard_argument(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ShardError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args(argv: list[str], settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Classify every photo in the given files and folders with the penguin "
                    "model, or every row of the given CSV files of measurements with the "
                    "measurements model. (`penguin-classify merge --help`: join the files of a "
                    "sharded run.)",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="image files, or folders of .jpg/.png/.webp/.gif/.bmp files; or "
                             ".csv files of measurements (a header row with the API's field "
                             "names), not both at once; local, or gs://bucket/prefix")
    parser.add_argument("--model", type=Path, default=settings.model_path,
                        help="model file, with its .json beside it "
                             "(default: $MODEL_PATH, else the shipped weights)")
    parser.add_argument("--measurements-model", type=Path,
                        default=settings.measurements_model_path,
                        help="measurements model file for .csv inputs (default: "
                             "$MEASUREMENTS_MODEL_PATH, else the shipped one)")
    parser.add_argument("--format", choices=FORMATS, default="csv",
                        help="output format (default: csv)")
    parser.add_argument("--output", default=None,
                        help="file to write (default: standard output); with --shard, the "
                             "folder (or gs:// prefix) that receives the shard files")
    parser.add_argument("--recursive", action="store_true", help="also look inside sub-folders")
    parser.add_argument("--batch-size", type=positive, default=None,
                        help="most photos per forward pass (default: $MAX_BATCH_SIZE, the "
                             "service's, where the shipped model runs most images/s: "
                             "make bench)")
    parser.add_argument("--shard", type=shard_argument, default=None, metavar="INDEX/COUNT",
                        help="classify only this share of the sorted listing, e.g. 0/4 for the "
                             "first of four (default: $CLOUD_RUN_TASK_INDEX/"
                             "$CLOUD_RUN_TASK_COUNT when set, else everything)")
    parser.add_argument("--checkpoint-every", type=positive, default=DEFAULT_CHECKPOINT_EVERY,
                        help="with --shard, save progress after this many photos, so a re-run "
                             f"resumes there (default: {DEFAULT_CHECKPOINT_EVERY})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"{PROGRAM}: invalid configuration in environment variables:\n{error}",
              file=sys.stderr)
        return 2
    args = parse_args(argv, settings)
    keep_freed_memory_for_reuse()  # forward passes reuse their memory: engine/allocator.py
    try:
        shard = args.shard or shard_from_task(settings.cloud_run_task_index,
                                              settings.cloud_run_task_count)
        measuring = any(measurements.is_measurements_file(path) for path in args.paths)
        if measuring:
            check_measurements_run(args.paths, shard)
        elif shard is not None and not args.output:
            raise UsageError("a sharded run writes shard files into a folder: give --output "
                             "FOLDER (or gs://bucket/prefix)")
        classifier = None if measuring else load_classifier(
            args.model.absolute(), backend=settings.model_backend,
            threads=settings.torch_threads, precision=settings.inference_precision)
    except (ShardError, UsageError) as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2
    except ModelIntegrityError as error:
        print(f"{PROGRAM}: cannot use the model: {error}", file=sys.stderr)
        return 2
    try:
        if classifier is None:
            return classify_measurements(args)
        if shard is None:
            return classify_everything(args, classifier, settings)
        return classify_shard(args, shard, classifier, settings)
    except OSError as error:  # storage unreachable or not writable: the task failed
        print(f"{PROGRAM}: storage error: {error}", file=sys.stderr)
        return 1
    except storage.UnusableLocation as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2


# ---- the two ways to run ---------------------------------------------------------------------

def classify_everything(args: argparse.Namespace, classifier: Classifier,
                        settings: Settings) -> int:
    """One process, every photo, one results file (or standard output)."""
    files, skipped = list_photos(args)
    rows, stats = classify_with_progress(files, [], classifier, settings, args)
    text = render(rows, classifier.metadata.labels, args.format)
    write_output(args.output, text)
    report(rows, skipped, stats)
    return 0 if stats.classified else 1


def classify_shard(args: argparse.Namespace, shard: Shard, classifier: Classifier,
                   settings: Settings) -> int:
    """This task's share of the listing, resumed from its checkpoints; its result file is
    written only once every photo of the share has a row."""
    output = ShardOutput(args.output, shard, args.format)
    if output.is_complete():
        print(f"shard {shard} is already complete: {output.result}", file=sys.stderr)
        return 0
    files, skipped = list_photos(args)
    mine = shard.take(files)
    position = {path: i for i, path in enumerate(mine)}
    done = [row for row in output.rows_done() if row.path in position]
    finished = {row.path for row in done}
    pending = [path for path in mine if path not in finished]
    print(f"shard {shard}: {len(mine)} of {len(files)} photo(s), {len(done)} done before",
          file=sys.stderr)
    new_rows, stats = classify_with_progress(pending, done, classifier, settings, args,
                                             on_chunk=output.save_checkpoint)
    rows = sorted(done + new_rows, key=lambda row: position[row.path])
    report(new_rows, skipped, stats)
    if mine and not any(row.prediction for row in rows):
        print(f"{PROGRAM}: shard {shard}: none of its photos could be classified; "
              "not marking it complete", file=sys.stderr)
        return 1
    output.complete(render(rows, classifier.metadata.labels, args.format))
    print(f"shard {shard} complete: {output.result}", file=sys.stderr)
    return 0


def list_photos(args: argparse.Namespace) -> tuple[list[str], list[Row]]:
    """The listing, and the named locations that hold nothing (warned about at once)."""
    files, missing = storage.list_images(args.paths, recursive=args.recursive)
    for item in missing:
        print(f"warning: skipped {item.location}: {item.reason}", file=sys.stderr)
    if not args.recursive:
        warn_about_subfolders(args.paths)
    return files, [Row(item.location, None, item.reason) for item in missing]


def warn_about_subfolders(locations: list[str]) -> None:
    """A camera-trap folder often holds one sub-folder per camera: without --recursive their
    photos are not classified, which the user must hear about rather than find out later."""
    for location in locations:
        subfolders = storage.subfolders_in(location)
        if subfolders:
            names = ", ".join(Path(name).name for name in subfolders[:5])
            more = f" and {len(subfolders) - 5} more" if len(subfolders) > 5 else ""
            print(f"note: {location} has {len(subfolders)} sub-folder(s) not searched "
                  f"({names}{more}); add --recursive to classify the photos in them",
                  file=sys.stderr)


def classify_with_progress(
    files: list[str], done: list[Row], classifier: Classifier, settings: Settings,
    args: argparse.Namespace, on_chunk: Callable[[list[Row]], None] = lambda rows: None,
) -> tuple[list[Row], RunStats]:
    """Run the engine with a progress bar on stderr; warn about each unreadable file at once."""
    rows: list[Row] = []
    with tqdm(total=len(files) + len(done), initial=len(done), file=sys.stderr,
              bar_format=PROGRESS_FORMAT, ascii=True, dynamic_ncols=True) as progress:

        def chunk_done(chunk: list[Row]) -> None:
            on_chunk(chunk)
            rows.extend(chunk)
            for row in chunk:
                if row.prediction is None:
                    progress.write(f"warning: skipped {row.path}: {row.error}", file=sys.stderr)
            progress.update(len(chunk))

        batch_size = args.batch_size or settings.max_batch_size
        stats = classify_in_chunks(files, classifier, settings, batch_size=batch_size,
                                   chunk_size=args.checkpoint_every, on_chunk=chunk_done)
    return rows, stats


def report(rows: list[Row], skipped: list[Row], stats: RunStats) -> None:
    """The summary people read at the end, unreadable files listed again so none goes
    unnoticed (they are in the results too, with their reason)."""
    unreadable = [row for row in rows if row.prediction is None]
    print(f"classified {stats.classified} photo(s), skipped {len(unreadable) + len(skipped)}; "
          f"{stats.images_per_second:.1f} images/s over {stats.seconds:.1f} s", file=sys.stderr)
    for row in [*skipped, *unreadable]:
        print(f"  skipped {row.path}: {row.error}", file=sys.stderr)


# ---- CSV files of measurements ---------------------------------------------------------------

def check_measurements_run(paths: list[str], shard: Shard | None) -> None:
    """Measurements are answered in one run: no photos beside them, no shards."""
    if not all(measurements.is_measurements_file(path) for path in paths):
        raise UsageError("give photos or .csv files of measurements, not both")
    if shard is not None:
        raise UsageError(f"shard {shard} given (by --shard or the Cloud Run task variables), "
                         "but .csv files of measurements are classified in one run, not "
                         "sharded")


def classify_measurements(args: argparse.Namespace) -> int:
    """Every row of every file into --output (or standard output); report to stderr."""
    try:
        model = load_measurements_model(args.measurements_model.absolute())
        rows = measurements.classify_files(args.paths, model)
    except ModelIntegrityError as error:
        print(f"{PROGRAM}: cannot use the measurements model: {error}", file=sys.stderr)
        return 2
    except measurements.UnreadableFile as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2
    write_output(args.output, measurements.render(rows, model.labels, args.format))
    failed = [row for row in rows if row.answer is None]
    print(f"classified {len(rows) - len(failed)} bird(s), {len(failed)} row(s) with errors",
          file=sys.stderr)
    for row in failed:
        print(f"  {row.path} row {row.row}: {row.error}", file=sys.stderr)
    return 0 if len(failed) < len(rows) else 1


def write_output(output: str | None, text: str) -> None:
    """The whole results text to standard output (no --output, or "-") or to one file."""
    if output is None or output == "-":
        sys.stdout.write(text)
    else:
        storage.write_atomically(output, text)


# ---- merge -----------------------------------------------------------------------------------

def parse_merge_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"{PROGRAM} merge",
        description="Join the shard files of a sharded run into one results file; report "
                    "missing shards and photos with two rows (or none, given --input).")
    parser.add_argument("folder", metavar="FOLDER",
                        help="the sharded run's --output folder (or gs:// prefix)")
    parser.add_argument("--output", default=None,
                        help="file to write, .csv or .json (default: standard output, CSV)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: from --output's suffix, else csv)")
    parser.add_argument("--input", nargs="+", default=None, metavar="PATH",
                        help="the run's PATHs: also check every photo listed there has a row")
    parser.add_argument("--recursive", action="store_true",
                        help="with --input: the run was --recursive")
    return parser.parse_args(argv)


def merge_main(argv: list[str]) -> int:
    args = parse_merge_args(argv)
    fmt = args.format or (format_of(args.output) if args.output else None) or "csv"
    try:
        expected = (storage.list_images(args.input, recursive=args.recursive)[0]
                    if args.input else None)
        merged = merge_shards(args.folder, expected)
    except ShardError as error:
        print(f"{PROGRAM} merge: {error}", file=sys.stderr)
        return 1
    except storage.UnusableLocation as error:
        print(f"{PROGRAM} merge: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{PROGRAM} merge: storage error: {error}", file=sys.stderr)
        return 1
    if merged.problems:
        print(f"{PROGRAM} merge: not merged, the shards are not a complete run:",
              file=sys.stderr)
        for problem in merged.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    text = render(merged.rows, merged.labels, fmt)
    write_output(args.output, text)
    unreadable = sum(row.prediction is None for row in merged.rows)
    print(f"merged {merged.shard_count} shard(s): {len(merged.rows)} photo(s), "
          f"{unreadable} of them unreadable", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
