"""Plain objects at a key of the store (the lease), written through fsspec so they work on any
URL a store can have. On the local filesystem creation and removal are atomic; elsewhere they
are as atomic as the filesystem's exclusive ("xb") writes, and a check then a write otherwise.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid

import fsspec


def object_path(url: str, key: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of ``url`` and the path of ``key`` under it (``url`` itself for "")."""
    fs, root = fsspec.core.url_to_fs(str(url))
    return fs, posixpath.join(root.rstrip("/"), key) if key else root


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, fsspec.implementations.local.LocalFileSystem)


def objects_are_atomic(url: str) -> bool:
    """Whether :func:`create_object` and :func:`remove_object` are atomic at ``url``: true on
    the local filesystem (link, rename); elsewhere a caller confirms by reading back."""
    return _is_local(object_path(url, "")[0])


def read_object(url: str, key: str) -> bytes | None:
    """The bytes at ``key`` of the store at ``url``, or None where there is no such object."""
    fs, path = object_path(url, key)
    try:
        return fs.cat_file(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def create_object(url: str, key: str, data: bytes) -> bool:
    """Write ``data`` at ``key`` unless an object is there; True when this call wrote it.

    Exclusive on the local filesystem (a hard link, which fails where the name exists: of two
    callers exactly one wins, and readers never see a partial object)
    and where fsspec's ``"xb"`` mode is a conditional write (S3); otherwise a check then a
    write, which two callers can both pass (see :func:`objects_are_atomic`).
    """
    fs, path = object_path(url, key)
    if _is_local(fs):
        return _link_new(path, data)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    try:
        with fs.open(path, "xb") as file:
            file.write(data)
        return True
    except FileExistsError:
        return False
    except (ValueError, NotImplementedError):  # no exclusive mode on this filesystem
        if fs.exists(path):
            return False
        fs.pipe_file(path, data)
        return True


def _link_new(path: str, data: bytes) -> bool:
    """Write ``data`` aside, then link it to ``path``: os.link fails where the name exists, so
    the object appears whole and exclusively (the O_EXCL of a finished file)."""
    partial = f"{path}.{uuid.uuid4().hex}.partial"
    for _ in range(3):  # remove_object may drop the emptied folder between makedirs and open
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(partial, "wb") as file:
                file.write(data)
            break
        except FileNotFoundError:
            continue
    try:
        os.link(partial, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(partial)
    return True


def replace_object(url: str, key: str, data: bytes) -> None:
    """Overwrite ``key`` with ``data``; on the local filesystem readers see the old or the new
    bytes, never a torn write (a temporary file renamed over it)."""
    fs, path = object_path(url, key)
    if _is_local(fs):
        partial = f"{path}.{uuid.uuid4().hex}.partial"
        with open(partial, "wb") as file:
            file.write(data)
        os.replace(partial, path)
    else:
        fs.pipe_file(path, data)


def remove_object(url: str, key: str, expected: bytes) -> bool:
    """Remove ``key`` if it still holds ``expected`` (a compare-and-delete); True if removed.

    On the local filesystem the object is first renamed aside (atomic, so of two callers only
    one gets it) and compared there; an object that changed meanwhile is linked back unless a
    new one was created in the instant between. Elsewhere: read, compare, delete.
    """
    fs, path = object_path(url, key)
    if not _is_local(fs):
        if read_object(url, key) != expected:
            return False
        fs.rm_file(path)
        return True
    aside = f"{path}.{uuid.uuid4().hex}.taken"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    try:
        with open(aside, "rb") as file:
            if file.read() == expected:
                return True
        try:
            os.link(aside, path)  # put back the object that is not ours to remove
        except FileExistsError:
            pass
        return False
    finally:
        os.unlink(aside)
        # An empty folder left behind would be listed by Zarr as a member it cannot read.
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))
