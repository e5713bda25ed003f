"""Images held in memory, or decoded on first use: what lets a step that needs no pixel read none."""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch


class Pixels:
    """Images ``[N, C, H, W]`` uint8: given as a tensor, or decoded by ``source`` on first use and kept.

    Copies of a dataset (``dataclasses.replace``) share one ``Pixels``, so a folder is decoded at most
    once per process, and only by a step that reads pixels.
    """

    def __init__(self, shape: tuple[int, int, int, int], tensor: torch.Tensor | None = None,
                 source: Callable[[], torch.Tensor] | None = None) -> None:
        if (tensor is None) == (source is None):
            raise ValueError("Pixels needs a tensor or a source, not both")
        self.shape = shape
        self._tensor = tensor
        self._source = source
        self._lock = threading.Lock()

    @classmethod
    def of(cls, tensor: torch.Tensor) -> Pixels:
        """Wrap decoded images ``[N, C, H, W]`` uint8."""
        if tensor.dtype != torch.uint8 or tensor.ndim != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {tensor.dtype} {tuple(tensor.shape)}")
        n, c, h, w = (int(v) for v in tensor.shape)
        return cls((n, c, h, w), tensor=tensor)

    @property
    def decoded(self) -> bool:
        """Return whether the images are in memory."""
        return self._tensor is not None

    def __getstate__(self) -> dict[str, object]:
        """Pickle the images themselves (decoded first): a worker process gets pixels, not a decoder."""
        return {"shape": self.shape, "tensor": self.get()}

    def __setstate__(self, state: dict[str, object]) -> None:
        """Restore pickled images."""
        self.__init__(state["shape"], tensor=state["tensor"])  # type: ignore[misc, arg-type]

    def get(self) -> torch.Tensor:
        """Return the images ``[N, C, H, W]`` uint8, decoding them on the first call."""
        with self._lock:
            if self._tensor is None:
                assert self._source is not None  # noqa: S101 - one of the two is set (constructor)
                tensor = self._source()
                if tuple(tensor.shape) != self.shape or tensor.dtype != torch.uint8:
                    got = f"{tensor.dtype} {tuple(tensor.shape)}"
                    raise RuntimeError(f"decoded images are {got}, expected {self.shape}")
                self._tensor, self._source = tensor, None
            return self._tensor
