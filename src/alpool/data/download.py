"""Find a dataset's files, downloading them from the official URLs only when asked."""

from __future__ import annotations

import hashlib
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from alpool.core import reporting
from alpool.core.errors import CorruptFileError, DatasetFilesMissing
from alpool.data.base import DataSource, find_files

CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """One file to download: its URL, the name to save it under, its md5 and where it goes.

    Attributes:
        url: the official download address.
        filename: the file name inside ``root / subdir``.
        md5: the published md5 (``None`` where none is published; then nothing is checked).
        subdir: the folder under the data directory that receives the file.
        extract: unpack a ``.tar.gz`` / ``.zip`` archive into ``root / subdir`` and delete it.
    """

    url: str
    filename: str
    md5: str | None = None
    subdir: str = ""
    extract: bool = False


def md5sum(path: Path) -> str:
    """Return the hex md5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(resource: Resource, root: Path) -> Path:
    """Download ``resource`` into ``root / resource.subdir``, check its md5 and unpack archives."""
    folder = root / resource.subdir
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / resource.filename
    partial = target.with_name(target.name + ".part")
    reporting.info(f"downloading {resource.url}")
    try:
        with (urllib.request.urlopen(resource.url, timeout=60) as response,
              partial.open("wb") as out):
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
    except OSError as exc:  # URLError, timeouts and disk errors are all OSError
        partial.unlink(missing_ok=True)
        raise DatasetFilesMissing(
            f"download of {resource.url} failed ({exc}); download it by hand into {folder}"
        ) from exc
    if resource.md5 is not None and md5sum(partial) != resource.md5:
        partial.unlink()
        raise CorruptFileError(
            f"{resource.url} did not match md5 {resource.md5}; try --download again later"
        )
    partial.replace(target)
    if resource.extract:
        extract(target, folder)
        target.unlink()
    return target


def extract(archive: Path, into: Path) -> None:
    """Unpack a ``.tar.gz``/``.tar`` or ``.zip`` archive into ``into``, refusing escapes."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            _check_members(archive, zipped.namelist(), into)
            zipped.extractall(into)
        return
    with tarfile.open(archive) as tarred:
        _check_members(archive, tarred.getnames(), into)
        tarred.extractall(into, filter="data")


def _check_members(archive: Path, names: list[str], into: Path) -> None:
    """Raise if an archive member would land outside ``into``."""
    base = into.resolve()
    for name in names:
        if not (base / name).resolve().is_relative_to(base):
            raise CorruptFileError(f"{archive}: member {name!r} escapes {into}; delete the archive")


def locate(source: DataSource, dataset: str, names: list[str], subdirs: list[str],
           resources: tuple[Resource, ...] = (), extra_dirs: list[Path] | None = None) -> Path:
    """Return the folder holding every file of ``names``, downloading when the source allows.

    Args:
        source: where to look and whether downloading is allowed.
        dataset: the dataset name, for messages.
        names: file names (relative paths allowed) that must all exist in one folder.
        subdirs: folders under ``source.root`` to look in before ``source.root`` itself.
        resources: what to download when the files are missing and ``source.download`` is set.
        extra_dirs: further folders to look in (system-wide copies).

    Returns:
        The folder that holds the files.

    Raises:
        DatasetFilesMissing: the files are not found (and not downloaded).
    """
    try:
        return find_files(source, dataset, names, subdirs, extra_dirs)
    except DatasetFilesMissing:
        if not (source.download and resources):
            raise
    if source.root is None:
        raise DatasetFilesMissing(
            f"dataset {dataset!r}: --download needs a folder to save into; "
            "pass --data-dir DIR or set ALPOOL_DATA"
        )
    for resource in resources:
        fetch(resource, source.root)
    return find_files(source, dataset, names, subdirs, extra_dirs)
