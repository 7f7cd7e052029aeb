"""Build a licensed, attributed training set from iNaturalist's research-grade observations.

    python -m training.fetch_photos --out data/inat --per-class 500
    python -m training.fetch_photos --out data/inat --per-class 500 --dry-run
    python -m training.train --data data/inat ...

Writes OUT/{train,val,test}/{Adelie,Chinstrap,Gentoo,no_penguin}/inat-<observation id>.jpg, an
ImageFolder that training reads as it is, split by photographer, and OUT/ATTRIBUTION.csv (file,
species, observation URL, photographer, licence, date, place, SHA-256, ...). One medium-size
photo per observation, so one bird photographed twenty times does not fill a class. Stopped
or interrupted, the same command resumes: photos already there are checked by SHA-256 and kept.
What each class is made of: training/inat/catalogue.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from training.inat import catalogue
from training.inat.client import (
    API_BASE,
    MAX_PAGE_SIZE,
    USER_AGENT,
    FetchInterrupted,
    InatClient,
    PhotoUnavailable,
    Politeness,
)
from training.inat.ledger import PHOTO_PREFIX, Credit, Ledger, apply_audit, audit
from training.inat.observations import LICENCES, Observation, Photo
from training.inat.photos import (
    DEFAULT_MAX_BYTES,
    SPLITS,
    PhotoRejected,
    SplitFractions,
    allowed_photo,
    check_photo,
    medium_url,
    split_for,
)

DEFAULT_LICENCES = "cc0,cc-by,cc-by-nc"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="data set folder to write")
    parser.add_argument("--per-class", type=int, default=500,
                        help="photos per class folder (no_penguin shares them among its sources)")
    parser.add_argument("--licences", type=parse_licences, default=parse_licences(DEFAULT_LICENCES),
                        help="comma-separated allow-list of photo licences; anything else is "
                             f"never downloaded (choices: {', '.join(LICENCES)})")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="share of photographers whose photos go to val/")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="share of photographers whose photos go to test/")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="changes which photographers land in which split")
    parser.add_argument("--max-per-observer", type=int, default=25,
                        help="most photos of one class from one photographer (0: no limit)")
    parser.add_argument("--page-size", type=int, default=MAX_PAGE_SIZE,
                        help="observations per API request (the API's maximum is 200)")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                        help="largest photo file to keep")
    parser.add_argument("--dry-run", action="store_true",
                        help="query the API and print what would be downloaded and the licence "
                             "counts; download and write nothing")
    polite = parser.add_argument_group("politeness (defaults: iNaturalist's documented limits)")
    polite.add_argument("--requests-per-minute", type=float, default=60.0,
                        help="API and photo requests per minute (each host counted apart)")
    polite.add_argument("--requests-per-day", type=float, default=10_000.0,
                        help="requests per day; the run stops when the budget is used up")
    polite.add_argument("--max-attempts", type=int, default=4,
                        help="tries per request before the run stops (resume later)")
    polite.add_argument("--backoff-seconds", type=float, default=2.0,
                        help="first wait after a transient error, doubling on each retry")
    polite.add_argument("--max-retry-after", type=float, default=900.0,
                        help="longest Retry-After to wait for; a longer one stops the run")
    polite.add_argument("--contact", default="",
                        help="an e-mail or URL added to the User-Agent, so iNaturalist can reach "
                             "you instead of blocking you")
    polite.add_argument("--api-base", default=API_BASE,
                        help="iNaturalist API v1 address (the tests point it at a local server)")
    return parser


def parse_licences(text: str) -> frozenset[str]:
    """'CC0, cc-by' -> {'cc0', 'cc-by'}, the API's spelling; unknown codes are an error."""
    licences = frozenset(code.strip().lower() for code in text.split(",") if code.strip())
    unknown = sorted(licences - set(LICENCES))
    if unknown or not licences:
        raise argparse.ArgumentTypeError(
            f"unknown licence {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(LICENCES)}"
        )
    return licences


@dataclass(frozen=True)
class FetchOptions:
    out: Path
    per_class: int = 500
    licences: frozenset[str] = parse_licences(DEFAULT_LICENCES)
    fractions: SplitFractions = SplitFractions()
    max_per_observer: int = 25
    page_size: int = 200
    max_bytes: int = DEFAULT_MAX_BYTES
    dry_run: bool = False


@dataclass
class Summary:
    """What a run did, for the report at its end."""

    kept: int = 0  # intact photos from earlier runs
    saved: int = 0  # downloaded and written by this run
    planned: list[tuple[str, str, str]] = field(default_factory=list)  # dry run: file, url, lic.
    skipped: Counter = field(default_factory=Counter)
    short: dict[str, tuple[int, int]] = field(default_factory=dict)


class PhotoFetcher:
    """Fills each source's quota from the API, one checked photo per observation."""

    def __init__(self, client: InatClient, options: FetchOptions) -> None:
        self.client = client
        self.options = options
        self.ledger = Ledger.read(options.out)
        self.summary = Summary()
        self.per_observer: Counter = Counter()  # (class, observer id) -> photos kept or planned

    def run(self) -> Summary:
        self._check_earlier_runs()
        quotas = catalogue.quotas(self.options.per_class)
        taxon_ids = {name: self.client.taxon_id(name) for name in catalogue.scientific_names()}
        if not self.options.dry_run:
            self._make_folders()
        with tqdm(total=sum(quotas.values()), initial=self.summary.kept, unit="photo",
                  disable=self.options.dry_run) as bar:
            for source, quota in quotas.items():
                self._fill(source, quota, taxon_ids, bar)
        return self.summary

    def _check_earlier_runs(self) -> None:
        result = audit(self.ledger, self.options.licences)
        for reason, items in (("changed or missing since the last run", result.changed),
                              ("licence no longer allowed", result.not_allowed),
                              ("photo without an ATTRIBUTION.csv row", result.orphans)):
            if items:
                verb = "would remove" if self.options.dry_run else "removing"
                print(f"{verb} {len(items)} photo(s): {reason}", file=sys.stderr)
        if not self.options.dry_run:
            apply_audit(self.ledger, result)
        self.summary.kept = len(result.intact)
        self.per_observer.update((c.label, c.observer_id) for c in result.intact)

    def _make_folders(self) -> None:
        """Every split gets every class folder, so training sees the same classes in each."""
        for split in SPLITS:
            for label in catalogue.CLASSES:
                (self.options.out / split / label).mkdir(parents=True, exist_ok=True)

    def _fill(self, source: catalogue.Source, quota: int, taxon_ids: dict[str, int],
              bar: tqdm) -> None:
        done = self.ledger.count(source=source.name)
        if done >= quota:
            return
        observations = self.client.observations(
            page_size=self.options.page_size,
            taxon_id=[taxon_ids[name] for name in source.taxa],
            without_taxon_id=[taxon_ids[name] for name in source.without] or None,
            quality_grade="research",
            photos=True,
            photo_license=sorted(self.options.licences),
            **dict(source.bounding_box),
        )
        for observation in observations:
            if observation.uri in self.ledger:
                continue
            if self._take(source, observation):
                done += 1
                bar.update()
                if done >= quota:
                    return
        self.summary.short[source.name] = (done, quota)

    def _take(self, source: catalogue.Source, observation: Observation) -> bool:
        """Download, check and record one observation's photo; False if it was skipped."""
        photo = allowed_photo(observation, self.options.licences)
        if photo is None:
            return self._skip("licence not allowed")
        cap = self.options.max_per_observer
        if cap and self.per_observer[source.label, observation.observer_id] >= cap:
            return self._skip("photographer's quota full")
        split = split_for(observation.observer_id, self.options.fractions)
        url = medium_url(photo)
        stem = f"{split}/{source.label}/{PHOTO_PREFIX}{observation.id}"
        if self.options.dry_run:
            self.summary.planned.append((stem + photo.extension, url, photo.licence))
            self.per_observer[source.label, observation.observer_id] += 1
            return True
        try:
            checked = check_photo(self.client.photo_bytes(url), max_bytes=self.options.max_bytes)
        except (PhotoUnavailable, PhotoRejected) as error:
            return self._skip(str(error))
        relative = stem + checked.extension
        _write_atomically(self.options.out / relative, checked.data)
        self.ledger.append(_credit(relative, source, observation, photo, url, checked.sha256))
        self.summary.saved += 1
        self.per_observer[source.label, observation.observer_id] += 1
        return True

    def _skip(self, reason: str) -> bool:
        self.summary.skipped[reason] += 1
        return False


def _credit(relative: str, source: catalogue.Source, observation: Observation, photo: Photo,
            url: str, sha256: str) -> Credit:
    return Credit(
        file=relative,
        species=observation.taxon_name,
        observation_url=observation.uri,
        photographer=observation.observer_login,
        licence=photo.licence or "",
        date=observation.observed_on,
        place=observation.place,
        sha256=sha256,
        photo_url=url,
        attribution=photo.attribution,
        observer_id=observation.observer_id,
        source=source.name,
    )


def _write_atomically(path: Path, data: bytes) -> None:
    """A photo appears under its name complete or not at all (`.part` is not an image suffix,
    so training never reads a half-written file)."""
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)


def format_summary(ledger: Ledger, summary: Summary, options: FetchOptions) -> str:
    if options.dry_run:
        rows = [(Path(file).parts[1], Path(file).parts[0], lic)
                for file, _, lic in summary.planned]
        lines = [f"would download {len(rows)} photos into {options.out} "
                 f"({summary.kept} already there and intact)"]
    else:
        rows = [(c.label, c.split, c.licence) for c in ledger.credits.values()]
        lines = [f"{ledger.path}: {len(rows)} photos ({summary.saved} downloaded now, "
                 f"{summary.kept} kept from earlier runs)"]
    per_split = Counter((label, split) for label, split, _ in rows)
    lines.append(f"{'':12}" + "".join(f"{split:>7}" for split in SPLITS))
    for label in catalogue.CLASSES:
        lines.append(f"{label:12}" + "".join(f"{per_split[label, s]:>7}" for s in SPLITS))
    licences = Counter(lic for _, _, lic in rows)
    lines.append("licences: " + (", ".join(f"{lic} {n}" for lic, n in sorted(licences.items()))
                                 or "none"))
    if summary.skipped:
        lines.append("skipped: " + ", ".join(f"{reason} {n}"
                                             for reason, n in summary.skipped.most_common()))
    for source, (done, quota) in summary.short.items():
        lines.append(f"short: {source} {done}/{quota} (no more matching observations)")
    return "\n".join(lines)


def build_client(args: argparse.Namespace, wait: Callable[[float], None] = time.sleep
                 ) -> InatClient:
    politeness = Politeness(
        per_minute=args.requests_per_minute,
        per_day=args.requests_per_day,
        attempts=args.max_attempts,
        backoff_seconds=args.backoff_seconds,
        max_retry_after=args.max_retry_after,
    )
    user_agent = f"{USER_AGENT} {args.contact}".strip()
    return InatClient(api_base=args.api_base, politeness=politeness, user_agent=user_agent,
                      wait=wait)


def main(argv: list[str] | None = None, *, wait: Callable[[float], None] = time.sleep) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    if not (min(args.val_fraction, args.test_fraction) >= 0
            and args.val_fraction + args.test_fraction < 1):
        parser.error("--val-fraction and --test-fraction must be >= 0 and leave some for train")
    if args.per_class < 1 or not 1 <= args.page_size <= MAX_PAGE_SIZE:
        parser.error(f"--per-class must be at least 1 and --page-size 1 to {MAX_PAGE_SIZE}")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    options = FetchOptions(
        out=args.out, per_class=args.per_class, licences=args.licences,
        fractions=SplitFractions(args.val_fraction, args.test_fraction, args.split_seed),
        max_per_observer=args.max_per_observer, page_size=args.page_size,
        max_bytes=args.max_bytes, dry_run=args.dry_run,
    )
    fetcher = PhotoFetcher(build_client(args, wait), options)
    try:
        fetcher.run()
    except (FetchInterrupted, LookupError) as error:
        print(format_summary(fetcher.ledger, fetcher.summary, options))
        print(f"stopped: {error}\nEverything written so far is complete and recorded; run the "
              "same command again to resume.", file=sys.stderr)
        return 1
    if options.dry_run:
        for file, url, licence in fetcher.summary.planned:
            print(f"{file}  {licence}  {url}")
    print(format_summary(fetcher.ledger, fetcher.summary, options))
    if not options.dry_run:
        print("Photos under CC BY and CC BY-NC must be credited (ATTRIBUTION.csv lists who "
              "and where); CC BY-NC photos may not be used commercially.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
