"""Embeddings from a model the practitioner trusts: ``precomputed`` files and local ``torchvision`` backbones.

``--task precomputed --param file=EMB.npy`` reads an ``[N, D]`` array in the dataset's order
(train indices), or a ``.npz`` with ``paths`` (relative to the image folder) and ``embeddings``
``[n, D]`` matched by path (extra rows are ignored, missing images refused). ``--task torchvision
--param arch=resnet50 --param weights=PATH.pth`` builds a torchvision architecture without
pretrained weights, loads the local state dict (never a download), drops the last linear layer and
embeds every image (ImageNet normalisation, resized to ``resize`` px). Neither trains, so neither
needs labels; ``model.pt`` records where the embeddings came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from pydantic import Field
from torch import nn

from alpool.core import reporting
from alpool.core.atomic_files import sha256_file
from alpool.core.errors import ConfigError, CorruptFileError
from alpool.core.params import Params
from alpool.data.base import Dataset
from alpool.pretext import TASKS
from alpool.pretext.base import PretextTask, PretrainContext, PretrainOutput

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PrecomputedParams(Params):
    """Options of the ``precomputed`` task."""

    file: Path = Field(description="an [N, D] .npy in dataset order, or a .npz with paths + embeddings")


def _read_file(file: Path) -> Any:
    """Open ``.npy`` / ``.npz`` without pickles, with one-line errors."""
    if not file.is_file():
        raise ConfigError(f"embeddings file {file} not found; pass --param file=PATH to an existing .npy or .npz")
    try:
        return np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"{file} is not a readable .npy/.npz array file ({exc})") from None


def match_paths(stored: np.ndarray, embeddings: np.ndarray, wanted: tuple[str, ...], file: Path) -> np.ndarray:
    """Return the rows of ``embeddings`` in the order of ``wanted`` (dataset paths), matched by path."""
    if stored.ndim != 1 or len(stored) != len(embeddings):
        raise ConfigError(f"{file}: 'paths' has shape {stored.shape} but 'embeddings' has {len(embeddings)} rows; "
                          "give one path per row")
    row = {_normalise(str(p)): i for i, p in enumerate(stored.tolist())}
    if len(row) != len(stored):
        raise ConfigError(f"{file}: 'paths' holds duplicate paths; give each image once")
    missing = [p for p in wanted if p not in row]
    if missing:
        raise ConfigError(f"{file}: {len(missing)} image(s) of the dataset have no embedding (e.g. {missing[0]!r}); "
                          "paths must be relative to the image folder")
    return embeddings[[row[p] for p in wanted]]


def _normalise(path: str) -> str:
    """Return a relative path with forward slashes and no leading ``./``."""
    path = path.replace("\\", "/")
    return path[2:] if path.startswith("./") else path


def load_embeddings(file: Path, n: int, paths: tuple[str, ...]) -> np.ndarray:
    """Read and check external embeddings: ``[n, D]`` float32, finite, in dataset order."""
    data = _read_file(file)
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if "embeddings" not in data.files:
                raise ConfigError(f"{file} has no array 'embeddings' (it has: {', '.join(data.files)})")
            embeddings = data["embeddings"]
            if "paths" in data.files:
                if not paths:
                    raise ConfigError(f"{file} matches by 'paths', but this dataset has no files; "
                                      "give an [N, D] array in dataset order instead")
                embeddings = match_paths(data["paths"], embeddings, paths, file)
    else:
        embeddings = data
    return check_embeddings(np.asarray(embeddings), n, file)


def check_embeddings(array: np.ndarray, n: int, file: Path) -> np.ndarray:
    """Refuse wrong shapes, non-numbers and NaN/inf; return ``[n, D]`` float32."""
    if array.ndim != 2:
        raise ConfigError(f"{file}: embeddings must be a 2-d [N, D] array, got shape {array.shape}")
    if array.shape[0] != n:
        raise ConfigError(f"{file}: {array.shape[0]} rows of embeddings, but the dataset has {n} images; "
                          "give one row per image in the dataset's order (or a .npz with paths)")
    if array.shape[1] < 1 or not np.issubdtype(array.dtype, np.number):
        raise ConfigError(f"{file}: embeddings must be numbers [N, D >= 1], got {array.dtype} {array.shape}")
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise ConfigError(f"{file}: {int(bad.sum())} row(s) hold NaN or inf (first: row {int(np.argmax(bad))}); "
                          "fix or re-compute them")
    return array.astype(np.float32)


@TASKS.register("precomputed")
class PrecomputedTask(PretextTask):
    """Use a file of embeddings as the step's ``embeddings.npy`` (nothing is trained)."""

    Params = PrecomputedParams

    def check(self, dataset: Dataset) -> None:
        """Read and check the file before anything is written."""
        load_embeddings(cast(PrecomputedParams, self.params).file.expanduser(), dataset.n_train, dataset.paths)

    def run(self, ctx: PretrainContext) -> PretrainOutput:
        """Read, match and check the file."""
        file = cast(PrecomputedParams, self.params).file.expanduser()
        embeddings = load_embeddings(file, ctx.dataset.n_train, ctx.dataset.paths)
        record = {"source": "precomputed", "file": str(file.resolve()), "sha256": sha256_file(file)}
        return PretrainOutput({"embeddings": embeddings}, record,
                              summary={**record, "dim": int(embeddings.shape[1])})


class TorchvisionParams(Params):
    """Options of the ``torchvision`` task."""

    arch: str = Field(description="a torchvision classification model name, e.g. resnet50")
    weights: Path = Field(description="a local .pth state dict of that architecture (never downloaded)")
    resize: int = Field(224, ge=16, description="images are resized to this square size")
    batch_size: int = Field(64, gt=0, description="images per forward pass")


def build_backbone(arch: str, weights: Path) -> nn.Module:
    """Build ``arch`` with the local weights and its last linear layer replaced by the identity."""
    from torchvision import models

    if arch not in models.list_models(module=models):
        raise ConfigError(f"unknown torchvision architecture {arch!r}; choose a classification model "
                          f"such as resnet18, resnet50, vit_b_16, convnext_tiny")
    if not weights.is_file():
        raise ConfigError(f"weights file {weights} not found; pass --param weights=PATH.pth (a local state dict; "
                          "alpool never downloads weights)")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for unreadable files
        raise CorruptFileError(f"{weights} is not a readable torch state dict ({type(exc).__name__})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    model = models.get_model(arch, weights=None)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).splitlines()[1 if len(str(exc).splitlines()) > 1 else 0].strip()
        raise ConfigError(f"{weights} does not fit torchvision {arch!r} ({first}); give the weights of that "
                          "architecture") from None
    _drop_last_linear(model)
    return model.eval()


def _drop_last_linear(model: nn.Module) -> None:
    """Replace the last ``nn.Linear`` (the classification head) with the identity."""
    name = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, nn.Identity())


@torch.no_grad()
def embed_with(model: nn.Module, images: torch.Tensor, size: int, batch_size: int,
               device: torch.device) -> np.ndarray:
    """Return ``[N, D]`` float32 embeddings of uint8 ``[N, C, H, W]`` images (grey repeated to RGB)."""
    from torchvision.transforms.v2 import functional as tvf

    model = model.to(device)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    out = []
    starts = range(0, len(images), batch_size)
    for start in reporting.progress(starts, "embedding images", total=len(starts)):
        x = images[start:start + batch_size].to(device)
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = tvf.resize(x, [size, size], antialias=True).float().div_(255)
        out.append(model((x - mean) / std).flatten(1).float().cpu())
    return torch.cat(out).numpy()


@TASKS.register("torchvision")
class TorchvisionTask(PretextTask):
    """Embed every image with a pretrained torchvision model read from a local file."""

    Params = TorchvisionParams

    def check(self, dataset: Dataset) -> None:
        """Build the backbone from the local weights before anything is written."""
        p = cast(TorchvisionParams, self.params)
        build_backbone(p.arch, p.weights.expanduser())

    def run(self, ctx: PretrainContext) -> PretrainOutput:
        """Build the backbone and embed the train split."""
        p = cast(TorchvisionParams, self.params)
        weights = p.weights.expanduser()
        model = build_backbone(p.arch, weights)
        embeddings = embed_with(model, ctx.dataset.train_x, p.resize, p.batch_size, ctx.device)
        record = {"source": "torchvision", "arch": p.arch, "weights": str(weights.resolve()),
                  "sha256": sha256_file(weights), "resize": p.resize}
        check_embeddings(embeddings, ctx.dataset.n_train, weights)
        return PretrainOutput({"embeddings": embeddings}, record,
                              summary={**record, "dim": int(embeddings.shape[1])})
