"""A content-keyed cache of radius graphs (and their radius rule) for the coverage selectors.

Drawing many ProbCover / DCoM pools of one embedding step recomputes the same graph every time (an
8-11 minute pass on 54,000 images). The cache keys every entry by a hash of the exact point set
(the L2-normalised embeddings, in order) plus the radius or the rule's parameters, so a changed
embedding step or another candidate set can never hit a stale entry. Files are written atomically
under ``<run>/cache/<selector>/``; deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alpool.core.atomic_files import atomic_write_bytes, atomic_write_text
from alpool.ops.graph import Graph
from alpool.selectors.base import SelectionContext


def content_hash(x: np.ndarray) -> str:
    """Return a short hash of an array's shape, dtype and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{x.shape}{x.dtype}".encode())
    digest.update(np.ascontiguousarray(x).data)
    return digest.hexdigest()


@dataclass(frozen=True)
class GraphCache:
    """Cache entries for one point set; ``folder=None`` turns every call into a no-op."""

    folder: Path | None
    points: str

    @classmethod
    def open(cls, ctx: SelectionContext, name: str, x: np.ndarray) -> GraphCache:
        """Return the cache of ``name`` for the points ``x`` (off when the inputs have no folder)."""
        folder_of = getattr(ctx.inputs, "cache_dir", None)  # inputs built outside a run have none
        folder = folder_of(name) if folder_of is not None else None
        return cls(Path(folder) if folder is not None else None, content_hash(x) if folder else "")

    def _path(self, key: str, suffix: str) -> Path | None:
        if self.folder is None:
            return None
        tag = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        return self.folder / f"{self.points}-{tag}{suffix}"

    def load_json(self, key: str) -> dict[str, Any] | None:
        """Return a cached record, or None."""
        path = self._path(key, ".json")
        return json.loads(path.read_text()) if path is not None and path.exists() else None

    def save_json(self, key: str, record: dict[str, Any]) -> None:
        """Store a record."""
        path = self._path(key, ".json")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(record))

    def load_graph(self, radius: float) -> Graph | None:
        """Return the cached graph of ``radius``, or None."""
        path = self._path(f"graph:{float(radius)!r}", ".npz")
        if path is None or not path.exists():
            return None
        with np.load(path) as data:
            return Graph(data["indptr"], data["indices"])

    def save_graph(self, radius: float, graph: Graph) -> None:
        """Store the graph of ``radius``."""
        path = self._path(f"graph:{float(radius)!r}", ".npz")
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, indptr=graph.indptr, indices=graph.indices)
        atomic_write_bytes(path, buffer.getvalue())

    def load_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        """Return the cached arrays of ``key``, or None."""
        path = self._path(key, ".npz")
        if path is None or not path.exists():
            return None
        with np.load(path) as data:
            return {name: data[name] for name in data.files}

    def save_arrays(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store named arrays under ``key``."""
        path = self._path(key, ".npz")
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        atomic_write_bytes(path, buffer.getvalue())
