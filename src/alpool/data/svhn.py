"""SVHN (cropped digits) from the official ``train_32x32.mat`` / ``test_32x32.mat`` files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alpool.core.errors import CorruptFileError
from alpool.data import DATASETS
from alpool.data.base import Dataset, DataSource, labels_tensor, to_uint8_nchw
from alpool.data.download import Resource, locate

SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
SVHN_FILES = {"train": ("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
              "test": ("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")}


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one ``.mat`` file into ``[N, 32, 32, 3]`` uint8 images and ``[N]`` labels 0..9.

    The file stores ``X`` as ``[32, 32, 3, N]`` and ``y`` as ``[N, 1]`` with the digit 0
    labelled 10; that label is mapped back to 0.
    """
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except (ValueError, OSError) as exc:
        raise CorruptFileError(f"{path}: not a MATLAB file ({exc}); download it again") from exc
    if "X" not in mat or "y" not in mat:
        raise CorruptFileError(f"{path}: variables 'X' and 'y' missing; download it again")
    images = np.ascontiguousarray(np.asarray(mat["X"], dtype=np.uint8).transpose(3, 0, 1, 2))
    labels = np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    labels[labels == 10] = 0
    if len(images) != len(labels):
        raise CorruptFileError(f"{path}: {len(images)} images but {len(labels)} labels")
    return images, labels


@DATASETS.register("svhn")
def load_svhn(source: DataSource) -> Dataset:
    """Load SVHN's train and test ``.mat`` files (the ``extra`` split is not used)."""
    names = [name for name, _ in SVHN_FILES.values()]
    resources = tuple(Resource(f"{SVHN_URL}{name}", name, md5, "svhn")
                      for name, md5 in SVHN_FILES.values())
    folder = locate(source, "svhn", names, ["svhn", "SVHN"], resources)
    train_x, train_y = read_svhn_mat(folder / SVHN_FILES["train"][0])
    test_x, test_y = read_svhn_mat(folder / SVHN_FILES["test"][0])
    return Dataset(
        name="svhn",
        train_x=to_uint8_nchw(train_x),  # [73257, 3, 32, 32]
        train_y=labels_tensor(train_y),
        test_x=to_uint8_nchw(test_x),
        test_y=labels_tensor(test_y),
        classes=tuple(str(d) for d in range(10)),
    )
