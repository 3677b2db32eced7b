"""Atomic file writes: a temporary file in the same folder, fsync, rename, fsync of the folder.

A reader sees the old file or the new one, never a torn one, even if the machine dies mid-write.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: str | Path) -> None:
    """Make a folder's entries (a rename, a new file) durable."""
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_folder(path: str | Path, files: dict[str, bytes], read_only: bool = False) -> bool:
    """Write a whole folder at once: its files into a temporary sibling (each fsynced), then one
    rename, so a reader sees all of it or nothing, even if the machine dies mid-write. A folder
    already at ``path`` is left as it is (False): written once, never over. ``read_only``: the
    files and the folder lose their write bits. Debris of a write killed mid-way is a hidden
    ``.<name>.*.tmpdir`` sibling, removed by ``sweep_folders``."""
    path = Path(path)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmpdir"))
    try:
        for name, data in sorted(files.items()):
            target = (tmp / name).resolve()
            if tmp.resolve() not in target.parents:
                raise ValueError(f"file name {name!r} would land outside the folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if read_only:
                os.chmod(target, 0o444)
        for d in sorted({(tmp / n).resolve().parent for n in files}, key=lambda p: -len(p.parts)):
            fsync_dir(d)
            if read_only:
                os.chmod(d, 0o555)
        if read_only:
            os.chmod(tmp, 0o555)
        try:
            os.rename(tmp, path)        # not replace: a folder written meanwhile stays as it is
        except OSError:
            if path.exists():
                _remove(tmp)
                return False
            raise
    except BaseException:
        if tmp.exists():
            _remove(tmp)
        raise
    fsync_dir(path.parent)
    return True


def sweep_folders(folder: str | Path) -> list[Path]:
    """Remove the temporary folders of ``write_folder`` calls killed mid-way under ``folder``."""
    removed = [p for p in Path(folder).glob(".*.tmpdir") if p.is_dir()]
    for p in removed:
        _remove(p)
    return removed


def _remove(tree: Path) -> None:
    for p in [tree, *tree.rglob("*")]:
        if p.is_dir():
            os.chmod(p, 0o755)
    shutil.rmtree(tree, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def sweep_temporaries(folder: str | Path) -> list[Path]:
    """Remove what a write killed mid-way left behind (``.<name>.*.tmp`` under ``folder``)."""
    removed = []
    for p in Path(folder).rglob(".*.tmp"):
        if p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
