"""The one reader of image folders (``images:`` and ``imagefolder:``): index, checks, lazily decoded pixels.

* The folder is indexed once (:mod:`alpool.data.folder_index`): paths, sizes, times and headers. A
  run keeps its index (:class:`FolderStore`), so later commands only ``stat`` the files.
* Files added since the run began are left out of it and named in one line (the run's indices
  stay valid); files removed or changed (size or modification time) are refused in one line that
  names them and says how to go on (:class:`FolderChangedError`): the run's embeddings, picks and
  labels were made from the files as they were.
* Pixels are decoded only when a step reads ``train_x``/``test_x`` (:mod:`alpool.data.decode`),
  once, into the run's cache (``<run>/cache/images/``; ``ALPOOL_CACHE=DIR`` overrides it).
* Size: ``PATH@S`` (``--image-size S``) resizes and centre-crops every image to ``S x S``; without it
  every image must have one size, at most :data:`MAX_RAW_SIDE` pixels a side.
* Channels: RGB when any image can hold colour (palettes are looked at, so a grey GIF is grey),
  else grey: one odd file never turns colour photos grey.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from alpool.core import reporting
from alpool.core.errors import AlpoolError, ConfigError, DatasetFilesMissing
from alpool.data.decode import cache_file, cache_folder, decode_files, read_cache, write_cache
from alpool.data.folder_index import IMAGE_SUFFIXES, Entry, FolderIndex, build, compare, named, walk
from alpool.data.pixels import Pixels

MAX_RAW_SIDE = 128
FOLDER_SPECS = ("images", "imagefolder")


class FolderChangedError(AlpoolError):
    """Files of a run's image folder were removed or changed since the run began."""


@dataclass
class FolderStore:
    """Where a run keeps its folder index and decoded pixels; ``keep`` writes an index built meanwhile."""

    index: Path
    cache: Path
    built: FolderIndex | None = field(default=None, repr=False)

    def keep(self) -> None:
        """Write the index the reader built, unless the run already has one."""
        if self.built is not None and not self.index.exists():
            self.built.save(self.index)

    def cache_dir(self) -> Path | None:
        """Return the pixel cache once the run keeps its index (a run that exists), else ``None``."""
        return self.cache if self.index.exists() else None


@dataclass(frozen=True)
class Folder:
    """An indexed folder ready to become a dataset: its kept entries, channels and image size."""

    root: Path
    index: FolderIndex
    size: int | None
    colour: bool
    digest: str

    def shape(self, n: int, entries: list[Entry]) -> tuple[int, int, int, int]:
        """Return ``[n, C, H, W]`` for ``entries``."""
        channels = 3 if self.colour else 1
        if self.size is not None:
            return n, channels, self.size, self.size
        first = entries[0] if entries else self.index.kept[0]
        return n, channels, first.height, first.width

    def pixels(self, entries: list[Entry], split: str, store: FolderStore | None, name: str) -> Pixels:
        """Return lazily decoded pixels of ``entries`` (kept in the run's cache once decoded)."""
        shape = self.shape(len(entries), entries)
        return Pixels(shape, source=self._decoder(entries, split, shape, store, name))

    def _decoder(self, entries: list[Entry], split: str, shape: tuple[int, int, int, int],
                 store: FolderStore | None, name: str) -> Callable[[], torch.Tensor]:
        def decode() -> torch.Tensor:
            where = cache_folder(store.cache_dir() if store is not None else None)
            path = cache_file(where, self.digest, split) if where is not None else None
            cached = read_cache(path, shape) if path is not None else None
            if cached is None:
                files = [self.root / e.disk for e in entries]
                cached = decode_files(files, [e.path for e in entries], shape, self.colour, self.size)
                if path is not None:
                    write_cache(path, *cached)
            images, failed = cached
            if failed:
                reporting.info(f"{name}: {len(failed)} file(s) with a readable header could not be decoded "
                               f"and are black images: {named(failed)}; remove them and start a new run")
            return images

        return decode


def open_folder(folder: Path, size: int | None, name: str, store: FolderStore | None,
                usable: Callable[[Entry], bool] = lambda e: True) -> Folder:
    """Index ``folder`` (or check the run's index against it), name what is left out, decide size and channels.

    Args:
        folder: the image folder.
        size: ``S`` of ``PATH@S``, or ``None``.
        name: the dataset name, for messages.
        store: the run's index and cache, or ``None`` outside a run.
        usable: which kept entries the dataset uses (class folders); the others decide nothing.

    Raises:
        FolderChangedError: files of the run's index were removed or changed.
        DatasetFilesMissing: no readable image.
        ConfigError: mixed or large sizes without ``size``.
    """
    root = folder.resolve()
    listing = walk(root)
    index = FolderIndex.load(store.index) if store is not None and store.index.is_file() else None
    if index is not None and index.folder == str(root):  # another folder: the fingerprint check refuses it
        changes = compare(index, listing)
        if changes.removed or changes.changed:
            raise FolderChangedError(_changed_message(name, root, changes.removed, changes.changed))
        if changes.added:
            reporting.info(f"{name}: {len(changes.added)} file(s) added to {root} since the run began are not "
                           f"part of this run: {named(changes.added)}; start a new run to include them")
    else:
        index = build(root, listing)
        if store is not None:
            store.built = index
    _name_left_out(name, index)
    kept = [e for e in index.kept if usable(e)]
    if not kept:
        raise DatasetFilesMissing(f"{name}: none of the {len(index.entries)} image files under {root} could be "
                                  f"read (image files: {', '.join(sorted(s[1:] for s in IMAGE_SUFFIXES))})")
    colour = any(e.colour for e in kept)
    if size is None:
        _check_raw_sizes(kept)
    return Folder(root, index, size, colour, index.digest(f"size={size} colour={colour}"))


def _changed_message(name: str, root: Path, removed: list[str], changed: list[str]) -> str:
    """Return the one-line refusal for a changed folder: which files, and how to go on."""
    parts = [f"{len(changed)} changed: {named(changed)}" if changed else "",
             f"{len(removed)} removed: {named(removed)}" if removed else ""]
    return (f"{name}: {root} changed since the run began ({'; '.join(p for p in parts if p)}), and the run's "
            "embeddings, picks and labels were made from the files as they were; put those files back as they "
            "were, or start a new run on the folder as it is now (alpool pretrain ... --run-dir NEW_RUN)")


def _name_left_out(name: str, index: FolderIndex) -> None:
    """Name, in one line each, the files skipped, the folders not listed and the non-image files."""
    if index.skipped:
        reporting.info(f"{name}: skipped {len(index.skipped)} unreadable file(s): "
                       f"{named(f'{e.path} ({e.skipped})' for e in index.skipped)}")
    if index.unlisted:
        reporting.info(f"{name}: could not read {len(index.unlisted)} sub-folder(s) or link(s), their images are "
                       f"not part of the dataset: {named(index.unlisted)}")
    if index.others:
        reporting.info(f"{name}: ignored {len(index.others)} file(s) that are not images: {named(index.others)}")


def _check_raw_sizes(kept: list[Entry]) -> None:
    """Refuse mixed sizes or a side over :data:`MAX_RAW_SIDE` without ``--image-size``."""
    sizes = Counter((e.width, e.height) for e in kept)
    common = min(sizes, key=lambda s: (-sizes[s], s))
    if len(sizes) > 1:
        odd = next(e for e in kept if (e.width, e.height) != common)
        raise ConfigError(f"the images have {len(sizes)} sizes (e.g. {odd.path} is {odd.width}x{odd.height}, most "
                          f"are {common[0]}x{common[1]}); pass --image-size S to resize them all")
    if max(common) > MAX_RAW_SIDE:
        first = kept[0]
        raise ConfigError(f"{first.path} is {first.width}x{first.height}, larger than {MAX_RAW_SIDE} px; "
                          "pass --image-size S (e.g. 64 or 96) to resize every image")


def split_size(arg: str, root: Path | None) -> tuple[str, int | None]:
    """Split ``PATH@S`` into ``(PATH, S)``; a folder whose own name holds ``@`` is kept whole."""
    head, sep, tail = arg.rpartition("@")
    if not sep or not tail.isdigit() or locate(arg, root).is_dir():
        return arg, None
    size = int(tail)
    if size < 8:
        raise ConfigError(f"image size {size} is too small; use --image-size 8 or more (e.g. 64)")
    return head, size


def locate(arg: str, root: Path | None) -> Path:
    """Return ``arg`` as a folder, relative to the data directory when it exists there."""
    path = Path(arg).expanduser()
    if not path.is_absolute() and root is not None and (root / path).is_dir():
        return root / path
    return path


def absolute_spec(spec: str, data_dir: Path | None) -> str:
    """Return ``images:PATH[@S]`` / ``imagefolder:PATH[@S]`` with ``PATH`` absolute; other specs unchanged.

    The run records this, so every later command finds the folder from any working directory.
    """
    name, sep, arg = spec.partition(":")
    if name not in FOLDER_SPECS or not sep or not arg:
        return spec
    if data_dir is None and os.environ.get("ALPOOL_DATA"):
        data_dir = Path(os.environ["ALPOOL_DATA"])
    path, size = split_size(arg, data_dir)
    folder = locate(path, data_dir)
    if not folder.is_dir():
        return spec
    return f"{name}:{folder.resolve()}" + (f"@{size}" if size is not None else "")
