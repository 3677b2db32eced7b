"""Retention of run folders (the playbook's policy): per campaign the ``keep_runs`` newest run
folders stay and older ones go; a kept folder older than ``compress_after_days`` becomes a verified
``run_<id>.tar.zst`` beside it; one older than ``archive_after_days`` moves to ``cold_dir`` when one
is set. Never touched: a folder a running run uses, anything under the Hall of Fame, and any folder
the miner does not know (left for an operator: it may be a local ``omp run-campaign``'s).

A run folder's campaign comes from the miner's runs (several attempts may share one folder: they
resume from its checkpoints); its age is its newest modification.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard

from omp_core.atomic import fsync_dir

from omp_services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from omp_services.watchdog.settings import RetentionSettings

ARCHIVE = ".tar.zst"
DAY = 86400.0
#: a folder written this recently is never touched, whatever its rank (a run may be starting in it)
RECENT_S = 3600.0


@dataclass(frozen=True)
class Action:
    kind: str               # keep, delete, compress, archive
    path: str
    campaign: str
    bytes: int
    age_days: float
    why: str


@dataclass(frozen=True)
class Outcome:
    done: tuple[Action, ...]
    failed: tuple[tuple[Action, str], ...]
    freed_bytes: int
    compressed_bytes: int   # how much the compressed folders held before


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _age_s(path: Path, now: float) -> float:
    newest = path.stat().st_mtime
    if path.is_dir():
        for p in path.iterdir():
            newest = max(newest, p.stat().st_mtime)
    return max(0.0, now - newest)


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def compress(folder: Path) -> Path:
    """``folder`` as ``folder.tar.zst`` beside it, written atomically (a temporary file, fsync,
    rename) and verified (every file's bytes read back from the archive) before the folder is
    removed. Returns the archive."""
    target = folder.with_name(folder.name + ARCHIVE)
    tmp = folder.with_name(f".{folder.name}{ARCHIVE}.tmp")
    with open(tmp, "wb") as raw:
        with zstandard.ZstdCompressor(level=10).stream_writer(raw, closefd=False) as z:
            with tarfile.open(fileobj=z, mode="w|") as tar:
                tar.add(folder, arcname=folder.name)
        raw.flush()
        os.fsync(raw.fileno())
    want = _digest_tree(folder)
    got = {}
    with open(tmp, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as z, \
            tarfile.open(fileobj=z, mode="r|") as tar:
        for m in tar:
            if m.isfile():
                got[m.name.split("/", 1)[1]] = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
    if got != want:
        tmp.unlink()
        raise OSError(f"the archive of {folder} does not read back as the folder: nothing removed")
    os.replace(tmp, target)
    fsync_dir(target.parent)
    shutil.rmtree(folder)
    return target


def restore(archive: Path, into: Path) -> Path:
    """Unpack ``archive`` (a ``run_<id>.tar.zst``) into ``into``; refuses members that would land
    outside it. Returns the restored folder; the archive stays."""
    into = into.resolve()
    with open(archive, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as z, \
            tarfile.open(fileobj=z, mode="r|") as tar:
        tar.extractall(into, filter="data")     # no absolute paths, no .., no links out
    return into / archive.name[:-len(ARCHIVE)]


class Retention:
    def __init__(self, cfg: RetentionSettings, runs_dir: Path, hof_dir: Path, clock, miner):
        self.cfg, self.runs_dir, self.hof_dir, self.clock, self.miner = cfg, Path(runs_dir), Path(hof_dir), clock, miner

    def _cold(self) -> Path | None:
        return Path(self.cfg.cold_dir).resolve() if self.cfg.cold_dir else None

    def hof_runs(self) -> set[str]:
        """The runs the Hall of Fame's entries point to (each entry's provenance.json names its
        run): never deleted, compressed or moved. An entry whose provenance cannot be read keeps
        every run of the plan (nothing is judged safe to remove on a guess)."""
        runs: set[str] = set()
        if not self.hof_dir.is_dir():
            return runs
        for entry in self.hof_dir.iterdir():
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                runs.add(str(json.loads((entry / "provenance.json").read_text())["run_id"]))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise FailedPrecondition(f"Hall of Fame entry {entry.name}: provenance unreadable ({exc}); "
                                   "retention will not guess which runs it needs") from None
        return runs

    def plan(self) -> list[Action]:
        """What a cleanup would do now, folder by folder, with sizes."""
        now = self.clock.now()
        owners: dict[str, str] = {}
        running: set[str] = set()
        for f in self.miner.run_folders():
            if f.run_dir:
                name = Path(f.run_dir).name
                owners.setdefault(name, f.campaign_id)
                if f.running:
                    running.add(name)
        by_campaign: dict[str, list[tuple[float, Path]]] = {}
        out: list[Action] = []
        if not self.runs_dir.is_dir():
            return out
        hof = self.hof_dir.resolve()
        in_hof = self.hof_runs()
        for p in sorted(self.runs_dir.iterdir()):
            name = p.name[:-len(ARCHIVE)] if p.name.endswith(ARCHIVE) else p.name
            if not name.startswith("run_") or p.name.startswith("."):
                continue
            if p.resolve().is_relative_to(hof):
                continue
            campaign = owners.get(name)
            if campaign is None:
                out.append(Action("keep", str(p), "", _size(p), _age_s(p, now) / DAY,
                                  "not a run the miner knows: left for an operator"))
                continue
            by_campaign.setdefault(campaign, []).append((_age_s(p, now), p))
        for campaign, folders in sorted(by_campaign.items()):
            folders.sort(key=lambda x: x[0])                    # newest first
            for rank, (age, p) in enumerate(folders):
                name = p.name[:-len(ARCHIVE)] if p.name.endswith(ARCHIVE) else p.name
                days, size = age / DAY, _size(p)
                if name in running:
                    out.append(Action("keep", str(p), campaign, size, days, "a running run uses it"))
                elif name in in_hof:
                    out.append(Action("keep", str(p), campaign, size, days, "a Hall of Fame entry points to it"))
                elif age < RECENT_S:
                    out.append(Action("keep", str(p), campaign, size, days, "written in the last hour"))
                elif rank >= self.cfg.keep_runs:
                    out.append(Action("delete", str(p), campaign, size, days,
                                      f"older than the {self.cfg.keep_runs} newest of its campaign"))
                elif self._cold() is not None and days > self.cfg.archive_after_days:
                    out.append(Action("archive", str(p), campaign, size, days,
                                      f"older than {self.cfg.archive_after_days:g} days: to cold storage"))
                elif days > self.cfg.compress_after_days and p.is_dir():
                    out.append(Action("compress", str(p), campaign, size, days,
                                      f"older than {self.cfg.compress_after_days:g} days"))
                else:
                    out.append(Action("keep", str(p), campaign, size, days, "recent"))
        return out

    def apply(self, actions: list[Action]) -> Outcome:
        """Carry out a plan; each action on its own (one failing leaves the others done)."""
        done, failed, freed, compressed = [], [], 0, 0
        cold = self._cold()
        for a in actions:
            p = Path(a.path)
            try:
                if a.kind == "delete":
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
                    freed += a.bytes
                elif a.kind == "compress":
                    archive = compress(p)
                    compressed += a.bytes
                    freed += a.bytes - archive.stat().st_size
                elif a.kind == "archive":
                    cold.mkdir(parents=True, exist_ok=True)
                    source = compress(p) if p.is_dir() else p
                    shutil.move(str(source), cold / source.name)
                    freed += a.bytes
                else:
                    continue
                done.append(a)
            except OSError as exc:
                failed.append((a, f"{type(exc).__name__}: {exc}"))
        return Outcome(tuple(done), tuple(failed), freed, compressed)

    def archives(self) -> list[Path]:
        places = [self.runs_dir] + ([self._cold()] if self._cold() else [])
        return sorted((p for d in places if d and d.is_dir() for p in d.iterdir() if p.name.endswith(ARCHIVE)),
                      key=lambda p: p.name)

    def restore(self, name: str) -> Path:
        """Unpack the archive of run folder ``name`` (``run_<id>``) back into the runs folder."""
        if not name.startswith("run_") or "/" in name or len(name) > 100:
            raise InvalidArgument(f"run folder must look like run_<id>, got {name[:100]!r}")
        for a in self.archives():
            if a.name == name + ARCHIVE:
                if (self.runs_dir / name).exists():
                    raise InvalidArgument(f"{name} is already in {self.runs_dir}")
                return restore(a, self.runs_dir)
        raise NotFound(f"no archive of {name}")
