"""Photos and results on a local disk or in object storage, through fsspec.

A location is a string fsspec understands: a local path, `gs://bucket/prefix` (through gcsfs, a
serving dependency, so the image's Cloud Run Jobs can read buckets), or `memory://...` in tests.
Local paths are kept as given, so a result names a photo the way the user named it.

Symbolic links are followed (photos are often organised by links): a link to a file is listed
as a file, a broken one too (its row then says why it cannot be read), and under --recursive a
link to a folder is entered unless it leads back into a folder being listed (a loop). Nothing
in a folder but sub-folders (without --recursive), hidden files and non-photo names is left
out of a listing: anything else is tried, and gets a row with its reason if it cannot be read.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import fsspec
from fsspec.implementations.local import LocalFileSystem

from service.model.preprocessing import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Missing:
    """A location named on the command line that holds nothing."""

    location: str
    reason: str


class UnusableLocation(Exception):
    """A location no installed fsspec backend can open; the message says what to install."""


class NotAFile(OSError):
    """A local path named like a photo that is no file to read: a broken link, a FIFO, a
    device. Its message is the reason in the photo's row."""


def filesystem(location: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem holding `location`, and the path fsspec uses for it there."""
    try:
        return fsspec.core.url_to_fs(location)
    except ImportError as error:  # fsspec names the package the scheme needs
        raise UnusableLocation(f"cannot open {location}: {error}") from error
    except ValueError as error:  # "Protocol not known: ..."
        raise UnusableLocation(f"cannot open {location}: {error}") from error


def list_images(locations: Iterable[str], *, recursive: bool) -> tuple[list[str], list[Missing]]:
    """Every photo to classify, in a stable order: each named location in turn, a folder's
    photos sorted. Files named on the command line are always tried; in folders, only image
    suffixes, and no hidden files. Every task of a sharded job computes the same listing."""
    found: list[str] = []
    missing: list[Missing] = []
    for location in locations:
        fs, path = filesystem(location)
        if fs.isdir(path):
            found.extend(sorted(_location(location, path, child)
                                for child in _files_in(fs, path, recursive=recursive)
                                if _is_image_name(child)))
        elif fs.exists(path) or _is_local_link(fs, path):
            found.append(location)  # a broken link or a FIFO too: its row says what it is
        else:
            missing.append(Missing(location, "no such file or folder"))
    return list(dict.fromkeys(found)), missing


def subfolders_in(location: str) -> list[str]:
    """The sub-folders of a folder location (none for a file): what a listing without
    --recursive leaves out, so that the command can say so instead of dropping them unseen."""
    fs, path = filesystem(location)
    if not fs.isdir(path):
        return []
    entries = fs.ls(path, detail=True)
    if isinstance(fs, LocalFileSystem):
        return sorted(info["name"] for info in entries if _is_folder(fs, info))
    return sorted(info["name"] for info in entries if info["type"] == "directory")


def _files_in(fs: fsspec.AbstractFileSystem, path: str, *, recursive: bool) -> list[str]:
    """Everything in a folder that is not a folder, from the listing's own details: asking the
    store about each of a million objects one by one would cost a request per photo."""
    if isinstance(fs, LocalFileSystem):
        return _local_files_in(fs, path, recursive=recursive)
    if recursive:
        return list(fs.find(path))  # all but folders
    return [info["name"] for info in fs.ls(path, detail=True) if info["type"] != "directory"]


def _local_files_in(fs: LocalFileSystem, path: str, *, recursive: bool) -> list[str]:
    """As `_files_in`, following links: fsspec reports a link as type "other" and its `find`
    does not enter linked folders. A folder is entered once per path that leads to it, except
    through a link back to a folder it is inside of (a loop, whose photos are listed anyway)."""
    files: list[str] = []
    pending = [(path, (_identity(path),))]  # a folder, and the folders it is inside of
    while pending:
        folder, inside = pending.pop()
        for info in fs.ls(folder, detail=True):
            name = info["name"]
            if not _is_folder(fs, info):
                files.append(name)
            elif recursive and (identity := _identity(name)) not in inside:
                pending.append((name, (*inside, identity)))
    return files


def _is_folder(fs: LocalFileSystem, info: dict) -> bool:
    if info["type"] == "directory":
        return True
    return bool(info.get("islink")) and fs.isdir(info["name"])  # through the link


def _identity(folder: str) -> tuple[int, int]:
    """The folder itself, whatever the path (links included) that led to it."""
    status = os.stat(folder)
    return status.st_dev, status.st_ino


def _is_local_link(fs: fsspec.AbstractFileSystem, path: str) -> bool:
    return isinstance(fs, LocalFileSystem) and os.path.islink(path)


def _is_image_name(path: str) -> bool:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    return suffix in IMAGE_SUFFIXES and not name.startswith(".")


def _location(named: str, named_path: str, child: str) -> str:
    """A file found inside the folder `named`, named from it as the user wrote it (a relative
    local path stays relative; gs://bucket/prefix/... keeps its scheme)."""
    relative = child[len(named_path.rstrip("/")):].lstrip("/")
    return f"{named.rstrip('/')}/{relative}"


def read_bytes(location: str) -> bytes:
    fs, path = filesystem(location)
    if isinstance(fs, LocalFileSystem):
        _check_regular_file(path)
    return fs.cat_file(path)


def _check_regular_file(path: str) -> None:
    """Raise NotAFile unless `path` is, through any links, a regular file: a broken link gets
    a reason that says so, and a FIFO or a device named like a photo is refused, not read
    (reading it would wait for a writer, or never end)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise NotAFile(f"broken symbolic link to {os.readlink(path)}") from None
        raise
    if not stat.S_ISREG(mode):
        raise NotAFile("not a regular file")


def read_text(location: str) -> str:
    return read_bytes(location).decode("utf-8")


def exists(location: str) -> bool:
    fs, path = filesystem(location)
    return fs.exists(path)


def join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}"


def names_in(folder: str) -> list[str]:
    """The names of the files directly inside `folder` (none if it does not exist)."""
    fs, path = filesystem(folder)
    if not fs.isdir(path):
        return []
    return sorted(child.rstrip("/").rsplit("/", 1)[-1] for child in fs.ls(path, detail=False))


def write_atomically(location: str, text: str) -> None:
    """Write beside the target, then rename: a reader (or a re-run deciding what is done) sees
    the whole file or none of it, never the half a killed task left. (On a bucket the rename is
    a copy then a delete; an object only ever appears whole.)"""
    fs, path = filesystem(location)
    if isinstance(fs, LocalFileSystem):  # object stores have no folders to create
        fs.makedirs(fs._parent(path), exist_ok=True)
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    fs.pipe_file(temporary, text.encode("utf-8"))
    fs.mv(temporary, path)


def remove(locations: Iterable[str]) -> None:
    for location in locations:
        fs, path = filesystem(location)
        fs.rm(path, recursive=True)
