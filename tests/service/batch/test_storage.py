"""Locations through fsspec: listings named as the user named them, atomic writes."""

from __future__ import annotations

import os

import fsspec
import pytest
from fsspec.registry import known_implementations  # (fsspec.registry is another object)

from service.batch import storage
from service.batch_command import main


def test_a_bucket_listing_keeps_the_scheme_and_skips_non_photos(bucket):
    memory = fsspec.filesystem("memory")
    for name in ["b.jpg", "a.PNG", "notes.txt", ".hidden.jpg", "deeper/c.webp"]:
        memory.pipe_file(f"/bucket/in/{name}", b"x")
    flat, missing = storage.list_images([f"{bucket}/in", f"{bucket}/gone"], recursive=False)
    assert flat == [f"{bucket}/in/a.PNG", f"{bucket}/in/b.jpg"]
    assert [(m.location, m.reason) for m in missing] == [(f"{bucket}/gone",
                                                          "no such file or folder")]
    deep, _ = storage.list_images([f"{bucket}/in/"], recursive=True)
    assert deep == [f"{bucket}/in/a.PNG", f"{bucket}/in/b.jpg", f"{bucket}/in/deeper/c.webp"]


def test_a_local_listing_stays_relative_when_named_relative(tmp_path, monkeypatch):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert storage.list_images(["photos"], recursive=False)[0] == ["photos/a.jpg"]


def test_an_atomic_write_leaves_only_the_target(bucket):
    target = f"{bucket}/out/deep/result.csv"
    storage.write_atomically(target, "first\n")
    storage.write_atomically(target, "second\n")
    assert storage.read_text(target) == "second\n"
    assert storage.names_in(f"{bucket}/out/deep") == ["result.csv"]


def test_an_unknown_scheme_is_a_clear_error(tiny_model_path, capsys):
    assert main(["nosuchscheme://bucket/photos", "--model", str(tiny_model_path)]) == 2
    assert "cannot open nosuchscheme://bucket/photos: Protocol not known" in \
        capsys.readouterr().err


def test_gs_locations_have_their_backend_installed():
    """gcsfs is a serving dependency: Cloud Run Jobs read buckets with the service's image.
    (Only the class: an instance would look for Google credentials over the network.)"""
    import gcsfs

    assert issubclass(fsspec.get_filesystem_class("gs"), gcsfs.GCSFileSystem)


def test_a_scheme_whose_backend_is_missing_names_the_package(tiny_model_path, capsys,
                                                             monkeypatch):
    monkeypatch.setitem(known_implementations, "penguintest",
                        {"class": "no_such_backend.FileSystem",
                         "err": "Install no_such_backend to access penguintest"})
    assert main(["penguintest://bucket/photos", "--model", str(tiny_model_path)]) == 2
    assert ("cannot open penguintest://bucket/photos: Install no_such_backend to access "
            "penguintest") in capsys.readouterr().err


def test_links_to_photos_are_listed_like_photos_and_a_broken_one_is_not_dropped(tmp_path):
    """Photos organised by links: fsspec calls a link type "other", which must not hide it."""
    (tmp_path / "originals" / "nested").mkdir(parents=True)
    for name in ["a.jpg", "b.jpg", "nested/c.jpg"]:
        (tmp_path / "originals" / name).write_bytes(b"x")
    by_site = tmp_path / "by-site"
    by_site.mkdir()
    (by_site / "a.jpg").symlink_to(tmp_path / "originals" / "a.jpg")
    (by_site / "b.jpg").symlink_to("../originals/b.jpg")  # relative, as `ln -s` often makes
    (by_site / "gone.jpg").symlink_to(tmp_path / "originals" / "deleted.jpg")
    (by_site / "more").symlink_to(tmp_path / "originals" / "nested")  # a linked folder
    (by_site / "notes.txt").symlink_to(tmp_path / "originals" / "a.jpg")
    flat, missing = storage.list_images([str(by_site)], recursive=False)
    assert flat == [f"{by_site}/a.jpg", f"{by_site}/b.jpg", f"{by_site}/gone.jpg"]
    assert missing == []
    deep, _ = storage.list_images([str(by_site)], recursive=True)
    assert deep == [f"{by_site}/a.jpg", f"{by_site}/b.jpg", f"{by_site}/gone.jpg",
                    f"{by_site}/more/c.jpg"]
    named, missing = storage.list_images([f"{by_site}/b.jpg", f"{by_site}/gone.jpg"],
                                         recursive=False)
    assert (named, missing) == ([f"{by_site}/b.jpg", f"{by_site}/gone.jpg"], [])
    assert storage.read_bytes(f"{by_site}/b.jpg") == b"x"


def test_a_recursive_listing_survives_link_loops(tmp_path):
    season = tmp_path / "season"
    (season / "site-1").mkdir(parents=True)
    (season / "site-1" / "a.jpg").write_bytes(b"x")
    (season / "site-1" / "back-up").symlink_to("..")  # leads back to season/
    (season / "site-1" / "itself").symlink_to(".")
    (season / "loop-a.jpg").symlink_to("loop-b.jpg")  # links to each other: not a folder
    (season / "loop-b.jpg").symlink_to("loop-a.jpg")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.jpg").write_bytes(b"x")
    (tmp_path / "elsewhere" / "season").symlink_to(season)  # out and back in: a loop too
    (season / "site-2").symlink_to(tmp_path / "elsewhere")
    deep, missing = storage.list_images([str(season)], recursive=True)
    assert deep == [f"{season}/loop-a.jpg", f"{season}/loop-b.jpg", f"{season}/site-1/a.jpg",
                    f"{season}/site-2/b.jpg"]
    assert missing == []


def test_what_is_listed_but_is_no_file_says_why_when_read(tmp_path):
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")  # reading would wait for a writer forever
    assert storage.list_images([str(tmp_path)], recursive=False)[0] == [
        f"{tmp_path}/gone.jpg", f"{tmp_path}/pipe.jpg"]
    named = [f"{tmp_path}/pipe.jpg", f"{tmp_path}/gone.jpg"]
    assert storage.list_images(named, recursive=False) == (named, [])  # tried, not "missing"
    with pytest.raises(storage.NotAFile, match=f"^broken symbolic link to {tmp_path}/deleted"):
        storage.read_bytes(f"{tmp_path}/gone.jpg")
    with pytest.raises(storage.NotAFile, match="^not a regular file$"):
        storage.read_bytes(f"{tmp_path}/pipe.jpg")
