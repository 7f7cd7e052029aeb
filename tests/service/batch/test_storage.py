"""Locations through fsspec: listings named as the user named them, atomic writes."""

from __future__ import annotations

import fsspec
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
