"""penguin-classify: folders in, CSV or JSON out, unreadable files skipped and reported."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest

from service.batch_command import main


@pytest.fixture
def photo_folder(tmp_path, photo) -> Path:
    folder = tmp_path / "photos"
    (folder / "colony").mkdir(parents=True)
    (folder / "red.jpg").write_bytes(photo("red", size=(300, 200)))
    (folder / "green.PNG").write_bytes(photo("green", fmt="PNG"))
    (folder / "dark.bmp").write_bytes(photo("black", fmt="BMP"))
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    (folder / "notes.txt").write_text("not an image, and not named like one")
    (folder / "colony" / "blue.webp").write_bytes(photo("blue", fmt="WEBP"))
    return folder


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as stream:
        return {Path(row["path"]).name: row for row in csv.DictReader(stream)}


def test_folder_to_csv_skips_unreadable_files_and_reports_them(photo_folder, tiny_model_path,
                                                               tmp_path, capsys, backend,
                                                               monkeypatch):
    monkeypatch.setenv("MODEL_BACKEND", backend)  # the same answers from either backend
    output = tmp_path / "out.csv"
    code = main([str(photo_folder), "--model", str(tiny_model_path), "--output", str(output)])
    assert code == 0
    rows = read_csv(output)
    assert set(rows) == {"red.jpg", "green.PNG", "dark.bmp", "broken.jpg"}  # no sub-folder/.txt
    broken = rows.pop("broken.jpg")
    assert (broken["species"], broken["confidence"]) == ("", "")
    assert "not a readable image" in broken["error"], broken  # the reason, as the API words it
    assert all(row["error"] == "" for row in rows.values())
    assert rows["red.jpg"]["species"] == "Adelie"
    assert rows["green.PNG"]["species"] == "Chinstrap"
    assert (rows["dark.bmp"]["species"], rows["dark.bmp"]["rejected"]) == ("no_penguin", "true")
    probability_columns = [c for c in rows["red.jpg"] if c.startswith("probability_")]
    assert probability_columns == ["probability_Adelie", "probability_Chinstrap",
                                   "probability_Gentoo", "probability_no_penguin"]
    assert float(rows["red.jpg"]["confidence"]) == float(rows["red.jpg"]["probability_Adelie"])
    stderr = capsys.readouterr().err
    assert "warning: skipped" in stderr and "broken.jpg" in stderr
    assert "classified 3 photo(s), skipped 1" in stderr
    assert "\r" in stderr and "4/4 photos" in stderr  # the progress bar


def test_recursive_json_to_stdout(photo_folder, tiny_model_path, capsys):
    code = main([str(photo_folder), "--recursive", "--format", "json",
                 "--model", str(tiny_model_path), "--batch-size", "2"])
    assert code == 0
    records = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert set(records) == {"red.jpg", "green.PNG", "dark.bmp", "blue.webp", "broken.jpg"}
    assert records.pop("broken.jpg")["species"] is None
    assert all(record["error"] is None for record in records.values())
    blue = records["blue.webp"]
    assert blue["species"] == "Gentoo" and blue["rejected"] is False
    assert set(blue["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo", "no_penguin"}
    assert blue["confidence"] == blue["probabilities"]["Gentoo"]


def test_named_files_are_tried_whatever_their_suffix(tmp_path, photo, tiny_model_path, capsys):
    renamed = tmp_path / "download"
    renamed.write_bytes(photo("red"))
    tiff = tmp_path / "scan.jpg"
    tiff.write_bytes(photo("red", fmt="TIFF"))
    code = main([str(renamed), str(tiff), str(tmp_path / "gone.jpg"),
                 "--model", str(tiny_model_path)])
    assert code == 0
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(Path(r["path"]).name, r["species"]) for r in rows] == [("download", "Adelie"),
                                                                    ("scan.jpg", "")]
    assert "TIFF files are not supported" in rows[1]["error"]
    assert "scan.jpg: TIFF files are not supported" in err
    assert "gone.jpg: no such file or folder" in err


def test_exit_code_is_1_when_nothing_could_be_classified(tmp_path, tiny_model_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert main([str(tmp_path), "--model", str(tiny_model_path)]) == 1
    assert "classified 0 photo(s), skipped 1" in capsys.readouterr().err


def test_exit_code_is_2_when_the_model_is_unusable(tmp_path, photo, capsys):
    (tmp_path / "a.jpg").write_bytes(photo())
    assert main([str(tmp_path), "--model", str(tmp_path / "none.pt")]) == 2
    assert "cannot use the model" in capsys.readouterr().err


def test_the_installed_command_runs(tmp_path, photo, tiny_model_path):
    """The `penguin-classify` console script from pyproject (else `python -m`, same code)."""
    script = Path(sys.executable).with_name("penguin-classify")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "service.batch_command"]
    (tmp_path / "a.jpg").write_bytes(photo("green"))
    finished = subprocess.run(
        [*command, str(tmp_path), "--format", "json", "--model", str(tiny_model_path)],
        capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)[0]["species"] == "Chinstrap"


MEASUREMENTS_CSV = """island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex
Biscoe,45.1,14.5,210,4500,male
Torgersen,39.1,18.7,181,3750,NA
Dream,46.5,-17.9,192,3500,female
"""


def test_a_csv_of_measurements_is_classified_row_by_row(tmp_path, capsys):
    birds = tmp_path / "birds.csv"
    birds.write_text(MEASUREMENTS_CSV)
    output = tmp_path / "species.csv"
    assert main([str(birds), "--output", str(output)]) == 0
    with output.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["row"], row["species"]) for row in rows] == [
        ("1", "Gentoo"), ("2", "Adelie"), ("3", "")]
    assert float(rows[0]["confidence"]) == float(rows[0]["probability_Gentoo"])
    assert rows[1]["features_missing"] == "year sex"
    assert "bill_depth_mm: must be greater than 0" in rows[2]["error"]
    stderr = capsys.readouterr().err
    assert "classified 2 bird(s), 1 row(s) with errors" in stderr and "row 3" in stderr


def test_measurements_as_json_and_the_same_answer_as_the_api(tmp_path, capsys, client):
    birds = tmp_path / "birds.csv"
    birds.write_text(MEASUREMENTS_CSV)
    assert main([str(birds), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    api = client.post("/predict/measurements", files={
        "file": ("birds.csv", MEASUREMENTS_CSV.encode(), "text/csv")}).json()["results"]
    for record, answer in zip(records, api, strict=True):
        assert record["species"] == answer.get("species")
        if record["probabilities"]:
            assert record["probabilities"] == pytest.approx(answer["probabilities"], abs=1e-4)


def test_photos_and_measurements_together_are_refused(tmp_path, photo_folder, capsys):
    birds = tmp_path / "birds.csv"
    birds.write_text(MEASUREMENTS_CSV)
    assert main([str(birds), str(photo_folder)]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_csv_without_a_required_column_exits_2(tmp_path, capsys):
    birds = tmp_path / "birds.csv"
    birds.write_text("bill_length_mm\n45.1\n")
    assert main([str(birds)]) == 2
    assert "no 'bill_depth_mm' column" in capsys.readouterr().err


def test_measurements_are_not_sharded(tmp_path, capsys, monkeypatch):
    """A shard of a CSV would answer every row in every task: refused, whether the shard comes
    from --shard or from Cloud Run's task variables."""
    birds = tmp_path / "birds.csv"
    birds.write_text(MEASUREMENTS_CSV)
    assert main([str(birds), "--shard", "0/2", "--output", str(tmp_path / "out")]) == 2
    assert "not sharded" in capsys.readouterr().err
    monkeypatch.setenv("CLOUD_RUN_TASK_INDEX", "1")
    monkeypatch.setenv("CLOUD_RUN_TASK_COUNT", "2")
    assert main([str(birds), "--output", str(tmp_path / "out")]) == 2
    assert "shard 1/2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_csv_of_only_bad_rows_exits_1_and_still_writes_every_row(tmp_path, capsys):
    birds = tmp_path / "birds.csv"
    birds.write_text("island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g\n"
                     "Biscoe,-1,14.5,210,4500\nDream,45,14,abc,4000\n")
    assert main([str(birds), "--format", "json"]) == 1
    captured = capsys.readouterr()
    records = json.loads(captured.out)
    assert [(record["row"], record["species"]) for record in records] == [(1, None), (2, None)]
    assert "bill_length_mm" in records[0]["error"] and "flipper_length_mm" in records[1]["error"]
    assert "classified 0 bird(s), 2 row(s) with errors" in captured.err


def test_a_missing_csv_or_measurements_model_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "absent.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
    birds = tmp_path / "birds.csv"
    birds.write_text(MEASUREMENTS_CSV)
    assert main([str(birds), "--measurements-model", str(tmp_path / "none.json")]) == 2
    assert "cannot use the measurements model" in capsys.readouterr().err


def test_a_csv_of_measurements_in_a_bucket(bucket, capsys):
    """Read and written through fsspec like photos: gs:// works the way memory:// does here."""
    fsspec.filesystem("memory").pipe_file("/bucket/birds.csv", MEASUREMENTS_CSV.encode())
    assert main([f"{bucket}/birds.csv", "--output", f"{bucket}/species.csv"]) == 0
    text = fsspec.filesystem("memory").cat_file("/bucket/species.csv").decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["species"] for row in rows] == ["Gentoo", "Adelie", ""]
    assert rows[0]["path"] == f"{bucket}/birds.csv"
    capsys.readouterr()


def test_a_folder_of_links_is_classified_and_a_broken_link_gets_its_reason(
        tmp_path, photo, tiny_model_path, capsys):
    """Camera-trap folders organised by links are not empty; a dangling link is a row."""
    originals = tmp_path / "originals"
    originals.mkdir()
    (originals / "red.jpg").write_bytes(photo("red"))
    (originals / "blue.jpg").write_bytes(photo("blue"))
    links = tmp_path / "by-site"
    links.mkdir()
    (links / "red.jpg").symlink_to(originals / "red.jpg")
    (links / "blue.jpg").symlink_to("../originals/blue.jpg")
    (links / "gone.jpg").symlink_to(originals / "deleted.jpg")
    output = tmp_path / "out.csv"
    code = main([str(links), "--model", str(tiny_model_path), "--output", str(output)])
    assert code == 0
    rows = read_csv(output)
    assert {name: row["species"] for name, row in rows.items()} == {
        "blue.jpg": "Gentoo", "gone.jpg": "", "red.jpg": "Adelie"}
    assert rows["gone.jpg"]["error"] == (
        f"cannot be read (broken symbolic link to {originals}/deleted.jpg)")
    stderr = capsys.readouterr().err
    assert "classified 2 photo(s), skipped 1" in stderr
    assert f"skipped {links}/gone.jpg: cannot be read (broken symbolic link" in stderr


def test_sub_folders_left_out_without_recursive_are_named(photo_folder, tiny_model_path,
                                                          tmp_path, capsys):
    (photo_folder / "camera-2").mkdir()
    main([str(photo_folder), "--model", str(tiny_model_path), "--output", str(tmp_path / "a.csv")])
    note = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert note == [f"note: {photo_folder} has 2 sub-folder(s) not searched (camera-2, colony); "
                    "add --recursive to classify the photos in them"]

    main([str(photo_folder), "--recursive", "--model", str(tiny_model_path),
          "--output", str(tmp_path / "b.csv")])
    assert "note:" not in capsys.readouterr().err


def test_sub_folders_in_a_bucket_are_named_too():
    from service.batch import storage

    fs = fsspec.filesystem("memory")
    fs.pipe({"/season/top.jpg": b"x", "/season/cam1/a.jpg": b"y", "/season/cam2/b.jpg": b"z"})
    try:
        assert [Path(name).name for name in storage.subfolders_in("memory://season")] == [
            "cam1", "cam2"]
        assert storage.subfolders_in("memory://season/top.jpg") == []
    finally:
        fs.rm("/season", recursive=True)
