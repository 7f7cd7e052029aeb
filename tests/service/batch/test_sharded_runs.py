"""Sharded runs end to end: shards written whole, resumed after a kill, merged into exactly the
unsharded run's results; on a local disk and on a bucket (fsspec's memory://)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import fsspec
import pytest

import service.batch.engine_run as engine_run
from service.batch_command import main


def run(*args: str, model: Path) -> int:
    return main([*args, "--model", str(model)])


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class Killed(BaseException):
    """Stands for the task being killed: nothing in the command catches it."""


@pytest.fixture
def chunks_seen(monkeypatch) -> list[list[str]]:
    """Records the files of every chunk the engine classifies."""
    seen: list[list[str]] = []
    real = engine_run.classify_chunk

    async def recording(files, *args):
        seen.append(list(files))
        return await real(files, *args)

    monkeypatch.setattr(engine_run, "classify_chunk", recording)
    return seen


def test_three_shards_merged_equal_the_unsharded_run_row_for_row(many_photos, tmp_path,
                                                                 tiny_model_path, capsys):
    whole = tmp_path / "whole.csv"
    assert run(str(many_photos), "--output", str(whole), model=tiny_model_path) == 0
    shards = tmp_path / "shards"
    for index in range(3):
        assert run(str(many_photos), "--shard", f"{index}/3", "--output", str(shards),
                   "--checkpoint-every", "2", model=tiny_model_path) == 0
    assert sorted(p.name for p in shards.iterdir()) == [
        "shard-00000-of-00003.csv", "shard-00001-of-00003.csv", "shard-00002-of-00003.csv"]
    merged = tmp_path / "merged.csv"
    assert main(["merge", str(shards), "--output", str(merged),
                 "--input", str(many_photos)]) == 0
    assert "merged 3 shard(s): 12 photo(s), 1 of them unreadable" in capsys.readouterr().err
    whole_rows = csv_rows(whole.read_text())
    assert csv_rows(merged.read_text()) == whole_rows
    assert len(whole_rows) == 12
    unreadable = [row for row in whole_rows if row["error"]]
    assert [Path(row["path"]).name for row in unreadable] == ["img005b.jpg"]
    species = {Path(row["path"]).name: row["species"] for row in whole_rows}
    assert (species["img000.jpg"], species["img001.jpg"], species["img002.jpg"],
            species["img003.jpg"]) == ("Adelie", "Chinstrap", "Gentoo", "no_penguin")


def test_a_bucket_in_and_out_and_json(many_photos, bucket, tiny_model_path, capsys):
    memory = fsspec.filesystem("memory")
    for path in sorted(many_photos.iterdir()):
        memory.pipe_file(f"/bucket/season/{path.name}", path.read_bytes())
    memory.pipe_file("/bucket/season/.hidden.jpg", b"skipped: hidden")
    for index in range(2):
        assert run(f"{bucket}/season", "--shard", f"{index}/2", "--format", "json",
                   "--output", f"{bucket}/results", model=tiny_model_path) == 0
    assert main(["merge", f"{bucket}/results", "--output", f"{bucket}/all.json"]) == 0
    records = json.loads(memory.cat_file("/bucket/all.json"))
    assert [record["path"] for record in records] == [
        f"memory://bucket/season/{path.name}" for path in sorted(many_photos.iterdir())]
    assert records[0]["species"] == "Adelie"
    assert records[6]["error"] and records[6]["path"].endswith("img005b.jpg")
    assert "images/s" in capsys.readouterr().err  # the throughput report


def test_a_shard_killed_midway_resumes_where_it_stopped(many_photos, tmp_path,
                                                        tiny_model_path, chunks_seen,
                                                        monkeypatch):
    output = tmp_path / "out"
    real_save = engine_run.asyncio.to_thread
    saves = 0

    async def killed_after_two_checkpoints(function, *args):
        nonlocal saves
        if saves == 2:
            raise Killed
        saves += 1
        return await real_save(function, *args)

    monkeypatch.setattr(engine_run.asyncio, "to_thread", killed_after_two_checkpoints)
    with pytest.raises(Killed):
        run(str(many_photos), "--shard", "0/1", "--output", str(output),
            "--checkpoint-every", "3", model=tiny_model_path)
    progress = output / "shard-00000-of-00001.progress"
    assert sorted(p.name for p in progress.iterdir()) == ["checkpoint-000000.jsonl",
                                                          "checkpoint-000001.jsonl"]
    assert not (output / "shard-00000-of-00001.csv").exists()
    first_attempt = [path for chunk in chunks_seen for path in chunk]
    assert len(first_attempt) == 9  # the third chunk was classified, never saved

    monkeypatch.setattr(engine_run.asyncio, "to_thread", real_save)
    chunks_seen.clear()
    assert run(str(many_photos), "--shard", "0/1", "--output", str(output),
               "--checkpoint-every", "3", model=tiny_model_path) == 0
    second_attempt = [path for chunk in chunks_seen for path in chunk]
    listing = [str(path) for path in sorted(many_photos.iterdir())]
    assert first_attempt == listing[:9]
    assert second_attempt == listing[6:]  # the two saved chunks are not classified again
    assert not progress.exists()  # superseded by the result
    resumed = csv_rows((output / "shard-00000-of-00001.csv").read_text())
    whole = tmp_path / "whole.csv"
    assert run(str(many_photos), "--output", str(whole), model=tiny_model_path) == 0
    assert resumed == csv_rows(whole.read_text())


def test_a_complete_shard_is_not_run_again(many_photos, tmp_path, tiny_model_path,
                                           chunks_seen, capsys):
    output = tmp_path / "out"
    assert run(str(many_photos), "--shard", "1/2", "--output", str(output),
               model=tiny_model_path) == 0
    chunks_seen.clear()
    assert run(str(many_photos), "--shard", "1/2", "--output", str(output),
               model=tiny_model_path) == 0
    assert chunks_seen == []
    assert "shard 1/2 is already complete" in capsys.readouterr().err


def test_cloud_run_task_variables_choose_the_shard(many_photos, tmp_path, tiny_model_path,
                                                   monkeypatch):
    monkeypatch.setenv("CLOUD_RUN_TASK_INDEX", "2")
    monkeypatch.setenv("CLOUD_RUN_TASK_COUNT", "3")
    output = tmp_path / "out"
    assert run(str(many_photos), "--output", str(output), model=tiny_model_path) == 0
    rows = csv_rows((output / "shard-00002-of-00003.csv").read_text())
    assert [Path(row["path"]).name for row in rows] == ["img007.jpg", "img008.jpg", "img009.jpg",
                                                       "img010.jpg"]  # the last 4 of 12


def test_merge_reports_a_missing_shard_and_writes_nothing(many_photos, tmp_path,
                                                          tiny_model_path, capsys):
    output = tmp_path / "out"
    for index in (0, 2):
        assert run(str(many_photos), "--shard", f"{index}/3", "--output", str(output),
                   model=tiny_model_path) == 0
    merged = tmp_path / "merged.csv"
    assert main(["merge", str(output), "--output", str(merged),
                 "--input", str(many_photos)]) == 1
    err = capsys.readouterr().err
    assert "1 of 3 shard(s) missing: 1/3" in err
    assert f"{many_photos / 'img004.jpg'} has no row" in err
    assert not merged.exists()


def test_merge_reports_a_photo_with_two_rows(tmp_path, capsys):
    header = "path,species,confidence,rejected,probability_a,error\n"
    (tmp_path / "shard-00000-of-00002.csv").write_text(header + "x.jpg,a,1.0,false,1.0,\n")
    (tmp_path / "shard-00001-of-00002.csv").write_text(header + "x.jpg,a,1.0,false,1.0,\n")
    assert main(["merge", str(tmp_path)]) == 1
    assert "x.jpg has 2 rows" in capsys.readouterr().err


def test_merge_refuses_shards_of_different_runs(tmp_path, capsys):
    (tmp_path / "shard-00000-of-00002.json").write_text("[]")
    (tmp_path / "shard-00000-of-00003.json").write_text("[]")
    assert main(["merge", str(tmp_path)]) == 1
    assert "different shard counts (2, 3)" in capsys.readouterr().err


def test_a_shard_with_nothing_classifiable_fails_and_is_not_complete(tmp_path, tiny_model_path,
                                                                     capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"junk")
    output = tmp_path / "out"
    assert run(str(photos), "--shard", "0/1", "--output", str(output),
               model=tiny_model_path) == 1
    assert not (output / "shard-00000-of-00001.csv").exists()
    assert "not marking it complete" in capsys.readouterr().err


def test_an_unwritable_output_fails_the_shard(many_photos, tmp_path, tiny_model_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    assert run(str(many_photos), "--shard", "0/2", "--output", str(blocker / "out"),
               model=tiny_model_path) == 1
    assert "storage error" in capsys.readouterr().err


def test_a_sharded_run_needs_an_output_folder(many_photos, tiny_model_path, capsys):
    assert run(str(many_photos), "--shard", "0/2", model=tiny_model_path) == 2
    assert "give --output FOLDER" in capsys.readouterr().err


def test_csv_shards_merge_into_the_unsharded_json(many_photos, tmp_path, tiny_model_path):
    whole = tmp_path / "whole.json"
    assert run(str(many_photos), "--format", "json", "--output", str(whole),
               model=tiny_model_path) == 0
    for index in range(2):
        assert run(str(many_photos), "--shard", f"{index}/2", "--output", str(tmp_path / "out"),
                   model=tiny_model_path) == 0
    assert main(["merge", str(tmp_path / "out"), "--output", str(tmp_path / "all.json")]) == 0
    assert json.loads((tmp_path / "all.json").read_text()) == json.loads(whole.read_text())


def test_merge_reports_rows_for_photos_outside_the_listing(many_photos, tmp_path,
                                                           tiny_model_path, capsys):
    assert run(str(many_photos), "--shard", "0/1", "--output", str(tmp_path / "out"),
               model=tiny_model_path) == 0
    (many_photos / "img000.jpg").unlink()
    assert main(["merge", str(tmp_path / "out"), "--input", str(many_photos)]) == 1
    assert f"{many_photos / 'img000.jpg'} has a row but is not in the listing" in \
        capsys.readouterr().err
