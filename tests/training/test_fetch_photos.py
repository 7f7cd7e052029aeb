"""The iNaturalist fetcher against a local stand-in of the API (tests/training/inat_standin.py):
nothing here reaches the internet, and nothing sleeps (waits are recorded, not slept)."""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import pytest
from inat_standin import NORTH_SEA, Sighting, StandIn, serve

from training.data import find_splits
from training.fetch_photos import main
from training.inat.client import retry_after_seconds
from training.inat.photos import SplitFractions, split_for

PER_CLASS = 4
LABELS = ["Adelie", "Chinstrap", "Gentoo", "no_penguin"]
MIXED_LICENCES = 1900  # first photo all rights reserved, second CC BY
SHARE_ALIKE = 1901  # CC BY-SA only: not on the default allow-list
BROKEN = 3900  # a Gentoo whose photo is a truncated JPEG
NOT_RESEARCH = 2900
HARBOUR_SEAL = 5900


def sightings() -> list[Sighting]:
    """Twelve photographers, a few observations per taxon, and the awkward cases."""
    licences = ("cc-by", "cc0", "cc-by-nc")
    made = []
    for offset, taxon in ((1000, "Pygoscelis adeliae"), (2000, "Pygoscelis antarcticus"),
                          (3000, "Pygoscelis papua")):
        made += [Sighting(offset + i, taxon, observer_id=100 + (offset // 1000 + i) % 12,
                          licences=(licences[i % 3],)) for i in range(7)]
    for offset, taxon in ((4000, "Aptenodytes patagonicus"), (5000, "Mirounga leonina"),
                          (6000, "Stercorarius antarcticus"), (7000, "Macronectes giganteus"),
                          (8000, "Chionis albus"), (8500, "Arctocephalus gazella")):
        made += [Sighting(offset + i, taxon, observer_id=100 + (offset // 500 + i) % 12)
                 for i in range(3)]
    return [
        *made,
        Sighting(MIXED_LICENCES, "Pygoscelis adeliae", 105, licences=(None, "cc-by")),
        Sighting(SHARE_ALIKE, "Pygoscelis adeliae", 106, licences=("cc-by-sa",)),
        Sighting(BROKEN, "Pygoscelis papua", 107, broken_photo=True),
        Sighting(NOT_RESEARCH, "Pygoscelis antarcticus", 108, quality_grade="needs_id"),
        Sighting(HARBOUR_SEAL, "Phoca vitulina", 109, where=NORTH_SEA),
    ]


@pytest.fixture
def standin():
    state = StandIn(sightings())
    server = serve(state)
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def waits() -> list[float]:
    return []


def fetch(standin: StandIn, out: Path, waits: list[float], *extra: str) -> int:
    """Run the command line as `make fetch-photos` does, fast and without sleeping."""
    return main([
        "--out", str(out), "--per-class", str(PER_CLASS), "--page-size", "3",
        "--val-fraction", "0.25", "--test-fraction", "0.25",
        "--api-base", f"{standin.base_url}/v1",
        "--requests-per-minute", "1000000", "--requests-per-day", "1000000000",
        "--backoff-seconds", "0.5", "--max-attempts", "3", *extra,
    ], wait=waits.append)


def attribution(out: Path) -> list[dict[str, str]]:
    with (out / "ATTRIBUTION.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def photo_files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.glob("*/*/*") if p.is_file()}


def observation_id(row: dict[str, str]) -> int:
    return int(row["observation_url"].rsplit("/", 1)[1])


def test_builds_an_attributed_imagefolder_split_by_photographer(standin, tmp_path, waits):
    out = tmp_path / "inat"
    assert fetch(standin, out, waits) == 0
    rows = attribution(out)

    splits = find_splits(out, seed=0)  # what `make train DATA=...` reads
    assert splits["train"].classes == LABELS
    assert sum(len(files.paths) for files in splits.values()) == len(rows) == 4 * PER_CLASS
    for split in ("train", "val", "test"):
        assert sorted(p.name for p in (out / split).iterdir()) == LABELS

    assert photo_files(out) == {row["file"] for row in rows}
    for row in rows:
        assert hashlib.sha256((out / row["file"]).read_bytes()).hexdigest() == row["sha256"]
        assert row["licence"] in {"cc-by", "cc0", "cc-by-nc"}
        assert row["photographer"].startswith("observer") and row["date"] == "2024-01-15"
        assert row["place"] and row["species"] and row["attribution"]
        assert row["file"] == (f"{row['file'].split('/')[0]}/{row['file'].split('/')[1]}/"
                               f"inat-{observation_id(row)}.jpg")

    # No photographer in two splits, and each where the documented hash puts them.
    fractions = SplitFractions(val=0.25, test=0.25)
    splits_of = defaultdict(set)
    for row in rows:
        split = row["file"].split("/")[0]
        splits_of[row["photographer"]].add(split)
        assert split == split_for(int(row["observer_id"]), fractions)
    assert all(len(found) == 1 for found in splits_of.values())
    assert len(set().union(*splits_of.values())) >= 2

    labels = {row["file"].split("/")[1] for row in rows}
    assert labels == set(LABELS)
    negatives = [row for row in rows if row["file"].split("/")[1] == "no_penguin"]
    assert not any(row["species"].startswith("Pygoscelis") for row in negatives)
    ids = {observation_id(row) for row in rows}
    assert not ids & {NOT_RESEARCH, HARBOUR_SEAL, SHARE_ALIKE, BROKEN}

    # Pages by id (several requests for a class), one medium photo per observation, our name.
    adelie_pages = [q for q in standin.observation_queries() if q["taxon_id"] == "3801"]
    assert len(adelie_pages) >= 2 and "id_below" in adelie_pages[1]
    assert all(q["quality_grade"] == "research" for q in standin.observation_queries())
    assert all(path.endswith("/medium.jpg") for path in standin.photo_requests())
    assert all("penguin-classifier" in agent for _, _, agent in standin.requests)
    assert waits == []


def test_a_mixed_licence_observation_gives_its_allowed_photo(standin, tmp_path, waits):
    out = tmp_path / "inat"
    assert fetch(standin, out, waits, "--per-class", "8") == 0
    row = next(r for r in attribution(out) if observation_id(r) == MIXED_LICENCES)
    assert row["licence"] == "cc-by"
    assert row["photo_url"].endswith(f"/photos/{MIXED_LICENCES * 10 + 1}/medium.jpg?1545715684")
    assert f"/photos/{MIXED_LICENCES * 10}/medium.jpg" not in standin.photo_requests()


def test_nothing_outside_the_allow_list_is_fetched_even_if_the_api_ignores_it(
        standin, tmp_path, waits):
    standin.honour_licence_filter = False
    out = tmp_path / "inat"
    assert fetch(standin, out, waits, "--licences", "cc0") == 0
    rows = attribution(out)
    assert rows and {row["licence"] for row in rows} == {"cc0"}
    cc0_photos = {f"/photos/{photo_id}/medium.jpg" for s in standin.sightings
                  for photo_id, code in zip(s.photo_ids(), s.licences, strict=True)
                  if code == "cc0"}
    assert set(standin.photo_requests()) <= cc0_photos
    assert standin.observation_queries()[0]["photo_license"] == "cc0"
    assert photo_files(out) == {row["file"] for row in rows}


def test_a_broken_image_is_skipped_and_counted(standin, tmp_path, waits, capsys):
    out = tmp_path / "inat"
    assert fetch(standin, out, waits, "--per-class", "8") == 0
    assert f"/photos/{BROKEN * 10}/medium.jpg" in standin.photo_requests()
    assert BROKEN not in {observation_id(row) for row in attribution(out)}
    assert not list(out.glob(f"*/*/inat-{BROKEN}.*"))
    assert "skipped: invalid image 1" in capsys.readouterr().out  # the decoder's own code


def test_a_429_is_answered_after_its_retry_after(standin, tmp_path, waits):
    standin.throttle_next, standin.retry_after = 1, "7"
    out = tmp_path / "inat"
    assert fetch(standin, out, waits) == 0
    assert waits == [7.0]
    assert len(attribution(out)) == 4 * PER_CLASS


def test_a_retry_after_longer_than_allowed_stops_without_waiting(standin, tmp_path, waits,
                                                                  capsys):
    standin.throttle_next, standin.retry_after = 1, "3600"
    out = tmp_path / "inat"
    assert fetch(standin, out, waits, "--max-retry-after", "600") == 1
    assert waits == []
    assert "asks to wait 3600 s" in capsys.readouterr().err


def test_a_connection_lost_mid_run_stops_and_the_next_run_resumes(standin, tmp_path, waits,
                                                                   capsys):
    out = tmp_path / "inat"
    standin.drop_photos_after = 5
    assert fetch(standin, out, waits) == 1
    assert waits == [0.5, 1.0]  # bounded: three attempts, exponential backoff
    assert "run the same command again to resume" in capsys.readouterr().err
    first = attribution(out)
    assert len(first) == 5 and photo_files(out) == {row["file"] for row in first}

    # A file changed on disk since is noticed by its checksum and downloaded again.
    tampered = out / first[0]["file"]
    tampered.write_bytes(b"not the photo")
    standin.drop_photos_after = None
    assert fetch(standin, out, waits) == 0

    rows = attribution(out)
    assert len(rows) == 4 * PER_CLASS and photo_files(out) == {row["file"] for row in rows}
    for row in rows:
        assert hashlib.sha256((out / row["file"]).read_bytes()).hexdigest() == row["sha256"]
    requests = standin.photo_requests()
    for row in first:
        path = "/" + row["photo_url"].split("/", 3)[3].split("?")[0]
        assert requests.count(path) == (2 if row is first[0] else 1), row["file"]


def test_a_dry_run_prints_the_plan_and_licence_counts_and_writes_nothing(
        standin, tmp_path, waits, capsys):
    out = tmp_path / "inat"
    assert fetch(standin, out, waits, "--dry-run") == 0
    printed = capsys.readouterr().out
    assert not out.exists()
    assert standin.photo_requests() == []
    assert f"would download {4 * PER_CLASS} photos" in printed
    assert "licences: cc-by " in printed and "cc0 " in printed
    assert printed.count("/medium.jpg") == 4 * PER_CLASS


def test_an_unknown_licence_is_refused_with_the_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--out", str(tmp_path), "--licences", "CC-BY,public-domain"])
    assert stopped.value.code == 2
    assert "unknown licence public-domain; choose from cc0, cc-by," in capsys.readouterr().err


@pytest.mark.parametrize("options", [["--val-fraction", "0.5", "--test-fraction", "0.5"],
                                     ["--page-size", "500"], ["--per-class", "0"]])
def test_impossible_options_are_refused_before_any_request(tmp_path, options, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--out", str(tmp_path / "inat"), "--api-base", "http://127.0.0.1:9/v1", *options])
    assert stopped.value.code == 2 and "must be" in capsys.readouterr().err
    assert not (tmp_path / "inat").exists()


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now=now) == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds(None, now=now) is None


def test_a_narrower_allow_list_or_an_unrecorded_photo_is_removed_on_the_next_run(
        standin, tmp_path, waits):
    out = tmp_path / "inat"
    assert fetch(standin, out, waits) == 0
    assert {row["licence"] for row in attribution(out)} > {"cc0"}
    stray = out / "train" / "Adelie" / "inat-424242.jpg"  # a photo with no ATTRIBUTION.csv row
    stray.write_bytes((out / attribution(out)[0]["file"]).read_bytes())

    assert fetch(standin, out, waits, "--licences", "cc0") == 0
    rows = attribution(out)
    assert rows and {row["licence"] for row in rows} == {"cc0"}
    assert photo_files(out) == {row["file"] for row in rows}


def test_one_photographer_fills_at_most_their_share_of_a_class(standin, tmp_path, waits):
    standin.sightings += [Sighting(1500 + i, "Pygoscelis adeliae", 150) for i in range(6)]
    out = tmp_path / "inat"
    assert fetch(standin, out, waits, "--max-per-observer", "2") == 0
    adelie = [row for row in attribution(out) if row["file"].split("/")[1] == "Adelie"]
    assert len(adelie) == PER_CLASS
    assert sum(row["photographer"] == "observer150" for row in adelie) == 2


def test_the_fetched_folder_trains_as_it_is(standin, tmp_path, waits):
    """The second command of the issue: `make train DATA=data/inat` on what the first wrote."""
    from service.model.metadata import read_metadata
    from training.train import main as train_main

    out = tmp_path / "inat"
    # Four photographers per class here: more of them in val, so that it is not empty.
    assert fetch(standin, out, waits, "--val-fraction", "0.4", "--test-fraction", "0.2") == 0
    model = tmp_path / "inat.pt"
    assert train_main(["--data", str(out), "--output", str(model), "--epochs", "1",
                       "--input-size", "64", "--batch-size", "4", "--workers", "1"]) == 0
    metadata = read_metadata(model)
    assert metadata.labels == LABELS
    assert metadata.training["data"] == str(out)
    assert metadata.training["images"] == {
        split: sum(1 for _ in (out / split).rglob("*.jpg")) for split in ("train", "val", "test")
    }
