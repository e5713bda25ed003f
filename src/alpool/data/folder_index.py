"""The index of an image folder: its files, sizes, times and headers, built without decoding a pixel.

The index is what a run knows of its folder (the run keeps it next to ``run.json``): every image's
relative path (NFC-normalised, with the on-disk name where it differs, as macOS writes NFD names),
its byte size and modification time, and from its header the size as a person sees it (after the
EXIF orientation) and whether it holds colour. The folder's fingerprint is a hash of the index, so
later commands compare ``os.stat`` against the index instead of reading the files.

Files that cannot be read (a broken link, a FIFO, no permission, not an image, cut short) and
sub-folders that cannot be listed are kept in the index as *skipped*, with the reason, so they are
named and never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alpool.core import reporting
from alpool.core.atomic_files import atomic_write_text
from alpool.core.errors import CorruptFileError

INDEX_VERSION = 1
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff",
                            ".ppm", ".pgm", ".pbm"})
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
ROTATED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height
EXIF_ORIENTATION = 0x0112
END_MARKERS = {".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9", ".png": b"IEND\xaeB`\x82", ".gif": b"\x3b"}
TRAILING_SLACK = 4096  # bytes after the end marker that are tolerated (padding some cameras add)


@dataclass(frozen=True)
class Entry:
    """One image file of the folder as indexed."""

    path: str  # relative posix path, NFC (the dataset path)
    disk: str  # relative posix path as the file system spells it
    size: int  # bytes
    mtime_ns: int
    width: int = 0  # as a person sees it (after EXIF orientation)
    height: int = 0
    colour: bool = False
    skipped: str = ""  # why the file is not part of the dataset ("" when it is)

    def row(self) -> list[Any]:
        """Return the entry as a JSON row."""
        return [self.path, self.disk if self.disk != self.path else None, self.size, self.mtime_ns,
                self.width, self.height, self.colour, self.skipped]

    @staticmethod
    def from_row(row: list[Any]) -> Entry:
        """Read an entry written by :meth:`row`."""
        path, disk, size, mtime, width, height, colour, skipped = row
        return Entry(path, disk or path, int(size), int(mtime), int(width), int(height), bool(colour), skipped)


@dataclass
class FolderIndex:
    """Every image file under a folder (kept and skipped), plus what was not an image."""

    folder: str  # absolute
    entries: list[Entry]  # sorted by path; skipped ones included
    unlisted: list[str] = field(default_factory=list)  # "relative/ (reason)": sub-folders that cannot be listed
    others: list[str] = field(default_factory=list)  # non-image files (named once, never indexed)

    @property
    def kept(self) -> list[Entry]:
        """Return the entries that are part of the dataset."""
        return [e for e in self.entries if not e.skipped]

    @property
    def skipped(self) -> list[Entry]:
        """Return the entries that could not be read."""
        return [e for e in self.entries if e.skipped]

    def digest(self, extra: str) -> str:
        """Return the sha256 of the kept entries (path, size, time, header) and ``extra`` (e.g. the image size)."""
        h = hashlib.sha256(f"folder-index v{INDEX_VERSION}\n{extra}\n".encode())
        for e in self.kept:
            h.update(f"{e.path}\0{e.size}\0{e.mtime_ns}\0{e.width}x{e.height}\0{int(e.colour)}\n".encode())
        return h.hexdigest()

    def save(self, path: Path) -> None:
        """Write the index as JSON (atomically)."""
        data = {"version": INDEX_VERSION, "folder": self.folder, "entries": [e.row() for e in self.entries],
                "unlisted": self.unlisted, "others": self.others}
        atomic_write_text(path, json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    @staticmethod
    def load(path: Path) -> FolderIndex:
        """Read an index written by :meth:`save`."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != INDEX_VERSION:
                raise ValueError(f"version {data.get('version')}, expected {INDEX_VERSION}")
            return FolderIndex(data["folder"], [Entry.from_row(r) for r in data["entries"]],
                               list(data["unlisted"]), list(data["others"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptFileError(f"{path}: not a readable folder index ({exc}); delete it to rebuild it "
                                   "from the folder (the run is refused if the folder changed)") from exc


@dataclass
class Listing:
    """What a walk of the folder found: image files by relative path, and what it could not read."""

    images: dict[str, tuple[str, os.stat_result | None, str]]  # NFC path -> (disk path, stat, problem)
    unlisted: list[str]
    others: list[str]


def walk(folder: Path) -> Listing:
    """List the non-hidden files under ``folder`` (following links to folders once), naming what fails."""
    listing = Listing({}, [], [])
    seen = {os.path.realpath(folder)}
    pending = [""]
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(folder / relative) as it:
                names = sorted(e.name for e in it)
        except OSError as exc:
            listing.unlisted.append(f"{relative}/ ({exc.strerror or exc})")
            continue
        for name in names:
            if name.startswith("."):
                continue
            _visit(folder, f"{relative}/{name}" if relative else name, listing, seen, pending)
    listing.unlisted.sort()
    listing.others.sort()
    return listing


def _visit(folder: Path, disk: str, listing: Listing, seen: set[str], pending: list[str]) -> None:
    """Classify one directory entry: a folder to walk, an image, another file, or a problem."""
    path = folder / disk
    nfc = unicodedata.normalize("NFC", disk)
    is_image = Path(disk).suffix.lower() in IMAGE_SUFFIXES
    try:
        info = os.stat(path)
    except OSError as exc:
        reason = "broken link" if path.is_symlink() and isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
        if is_image:
            listing.images.setdefault(nfc, (disk, None, reason))
        else:
            listing.unlisted.append(f"{nfc} ({reason})")
        return
    if stat.S_ISDIR(info.st_mode):
        real = os.path.realpath(path)
        if real in seen:
            listing.unlisted.append(f"{nfc}/ (a link to a folder already read)")
        else:
            seen.add(real)
            pending.append(disk)
    elif not is_image:
        listing.others.append(nfc)
    elif not stat.S_ISREG(info.st_mode):
        listing.images.setdefault(nfc, (disk, info, "not a regular file"))
    elif nfc in listing.images:
        listing.unlisted.append(f"{disk} (same name as {listing.images[nfc][0]} once normalised)")
    else:
        listing.images[nfc] = (disk, info, "")


def probe(folder: Path, nfc: str, disk: str, info: os.stat_result | None, problem: str) -> Entry:
    """Read one file's header (no pixel) into an :class:`Entry`; a problem makes it a skipped entry."""
    size, mtime = (info.st_size, info.st_mtime_ns) if info is not None else (0, 0)
    if problem:
        return Entry(nfc, disk, size, mtime, skipped=problem)
    from PIL import Image, UnidentifiedImageError

    path = folder / disk
    try:
        with Image.open(path) as image:
            width, height = image.size
            if exif_orientation(image) in ROTATED:
                width, height = height, width
            colour = has_colour(image)
        if not _ends_well(path, size):
            return Entry(nfc, disk, size, mtime, skipped="cut short (no end marker)")
    except UnidentifiedImageError:
        return Entry(nfc, disk, size, mtime, skipped="not a readable image")
    except (OSError, ValueError, SyntaxError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        return Entry(nfc, disk, size, mtime, skipped=reason)
    return Entry(nfc, disk, size, mtime, width, height, colour)


def exif_orientation(image: Any) -> int:
    """Return the EXIF orientation (1-8) from the header; PNGs only when eXIf precedes the pixels."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1  # PIL would decode the whole PNG to look for a trailing eXIf chunk
    try:
        return int(image.getexif().get(EXIF_ORIENTATION, 1))
    except (ValueError, TypeError, OSError, SyntaxError):
        return 1


def has_colour(image: Any) -> bool:
    """Return whether an opened image can hold colour: its mode, and for palettes, the palette itself."""
    if image.mode in GREY_MODES:
        return False
    if image.mode in ("P", "PA"):
        palette = image.getpalette("RGB") or []
        return any(not (r == g == b) for r, g, b in zip(palette[0::3], palette[1::3], palette[2::3], strict=False))
    return True


def _ends_well(path: Path, size: int) -> bool:
    """Return whether a JPEG/PNG/GIF ends with its end marker (a cut download does not); other formats pass."""
    marker = END_MARKERS.get(path.suffix.lower())
    if marker is None:
        return True
    with open(path, "rb") as handle:
        handle.seek(max(0, size - TRAILING_SLACK))
        tail = handle.read()
    return marker in tail


def build(folder: Path, listing: Listing, known: dict[str, Entry] | None = None) -> FolderIndex:
    """Index every image of ``listing``; entries of ``known`` whose size and time match are reused unread."""
    known = known or {}
    todo = sorted(listing.images.items(), key=lambda item: tuple(item[0].split("/")))
    fresh = [(n, d, i, p) for n, (d, i, p) in todo if not _same(known.get(n), i, p)]

    def read(args: tuple[str, str, os.stat_result | None, str]) -> Entry:
        return probe(folder, *args)

    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        probed = {e.path: e for e in reporting.progress(pool.map(read, fresh), "indexing images", total=len(fresh))}
    entries = [probed[n] if n in probed else known[n] for n, _ in todo]
    return FolderIndex(str(folder), entries, list(listing.unlisted), list(listing.others))


def _same(entry: Entry | None, info: os.stat_result | None, problem: str) -> bool:
    """Return whether a file's stat matches its indexed entry (then its header needs no new read)."""
    if entry is None or info is None or problem:
        return False
    return entry.size == info.st_size and entry.mtime_ns == info.st_mtime_ns


@dataclass
class Changes:
    """How a folder differs from a run's index (by ``os.stat`` only)."""

    added: list[str]
    removed: list[str]
    changed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def compare(index: FolderIndex, listing: Listing) -> Changes:
    """Return the files added, removed or changed (size or time) since ``index`` was built.

    A file skipped at indexing that has changed since counts as added (it is not part of the run either way);
    one that is gone counts as nothing.
    """
    recorded = {e.path: e for e in index.entries}
    added: list[str] = []
    changed: list[str] = []
    for name, (_, info, problem) in listing.images.items():
        entry = recorded.get(name)
        if entry is None:
            added.append(name)
        elif entry.skipped:
            if info is not None and (entry.size, entry.mtime_ns) != (info.st_size, info.st_mtime_ns):
                added.append(name)
        elif not _same(entry, info, problem):
            changed.append(name)
    removed = [e.path for e in index.kept if e.path not in listing.images]
    return Changes(sorted(added), sorted(removed), sorted(changed))


def named(names: Iterable[str], shown: int = 5) -> str:
    """Return ``a, b, c and 4 more``: the first few names of a list, then a count."""
    items = list(names)
    head = ", ".join(items[:shown])
    return head + (f" and {len(items) - shown} more" if len(items) > shown else "")
