"""Locations through fsspec: listings named as the user named them, atomic writes."""

from __future__ import annotations

import fsspec
import pytest

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


def test_gcs_needs_its_extra_or_says_so(tiny_model_path, capsys):
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        assert main(["gs://bucket/photos", "--model", str(tiny_model_path)]) == 2
        assert "penguin-classifier[gcs]" in capsys.readouterr().err
    else:
        pytest.skip("gcsfs is installed here: gs:// would try the network")
