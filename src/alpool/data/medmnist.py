"""The 2-D MedMNIST family from its ``.npz`` files, with the official validation split.

ChestMNIST is left out on purpose: it is multi-label (14 binary labels per image) and every
alpool step assumes one class per image.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from alpool.data.base import Dataset, DataSource, labels_tensor, to_uint8_nchw
from alpool.data.download import Resource, locate
from alpool.data.registry import DATASETS
from alpool.errors import ConfigError, CorruptFileError

MEDMNIST_URL = "https://zenodo.org/records/10519652/files/"
MEDMNIST_HOME = Path.home() / ".medmnist"  # where the ``medmnist`` package saves its files
MEDMNIST_SIZES = ("28", "64", "128", "224")
MEDMNIST_BUDGET = 20  # [CS] cold start: 20 initial labels
_ORGANS = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
           "liver", "lung-left", "lung-right", "pancreas", "spleen")

# name -> (one-line description, class names, md5 of the 28x28 file)
MEDMNIST_INFO: dict[str, tuple[str, tuple[str, ...], str]] = {
    "pathmnist": ("colon pathology, 9 tissue types, 90k/10k/7k RGB",
                  ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                   "normal colon mucosa", "cancer-associated stroma",
                   "colorectal adenocarcinoma epithelium"),
                  "a8b06965200029087d5bd730944a56c1"),
    "dermamnist": ("dermatoscope skin lesions (HAM10000), 7 classes, 7k/1k/2k RGB",
                   ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                    "benign keratosis-like lesions", "dermatofibroma", "melanoma",
                    "melanocytic nevi", "vascular lesions"),
                   "0744692d530f8e62ec473284d019b0c7"),
    "octmnist": ("retinal OCT, 4 diagnoses, 97k/11k/1k grayscale",
                 ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
                 "c68d92d5b585d8d81f7112f81e2d0842"),
    "pneumoniamnist": ("paediatric chest X-ray, normal vs pneumonia, 4.7k/0.5k/0.6k grayscale",
                       ("normal", "pneumonia"), "28209eda62fecd6e6a2d98b1501bb15f"),
    "retinamnist": ("fundus images, 5 diabetic-retinopathy grades (ordinal), 1k/120/400 RGB",
                    ("0", "1", "2", "3", "4"), "bd4c0672f1bba3e3a89f0e4e876791e4"),
    "breastmnist": ("breast ultrasound, malignant vs normal/benign, 546/78/156 grayscale",
                    ("malignant", "normal, benign"), "750601b1f35ba3300ea97c75c52ff8f6"),
    "bloodmnist": ("blood cell microscopy, 8 cell types, 12k/1.7k/3.4k RGB",
                   ("basophil", "eosinophil", "erythroblast",
                    "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
                    "lymphocyte", "monocyte", "neutrophil", "platelet"),
                   "7053d0359d879ad8a5505303e11de1dc"),
    "tissuemnist": ("kidney cortex cells, 8 types, 165k/24k/47k grayscale",
                    ("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
                     "Glomerular endothelial cells", "Interstitial endothelial cells",
                     "Leukocytes", "Podocytes", "Proximal Tubule Segments",
                     "Thick Ascending Limb"),
                    "ebe78ee8b05294063de985d821c1c34b"),
    "organamnist": ("abdominal CT axial slices, 11 organs, 35k/6.5k/18k grayscale",
                    _ORGANS, "866b832ed4eeba67bfb9edee1d5544e6"),
    "organcmnist": ("abdominal CT coronal slices, 11 organs, 13k/2.4k/8.3k grayscale",
                    _ORGANS, "0afa5834fb105f7705a7d93372119a21"),
    "organsmnist": ("abdominal CT sagittal slices, 11 organs, 14k/2.5k/8.8k grayscale",
                    _ORGANS, "e5c39f1af030238290b9557d9503af9d"),
}


def npz_filename(name: str, size: str | None) -> str:
    """Return ``<name>.npz`` for 28x28 and ``<name>_<size>.npz`` for the MedMNIST+ sizes."""
    if size is None or size in ("", "28"):
        return f"{name}.npz"
    if size not in MEDMNIST_SIZES:
        raise ConfigError(f"{name} size {size!r} is not one of {', '.join(MEDMNIST_SIZES)}; "
                          f"use e.g. {name}:64")
    return f"{name}_{size}.npz"


def read_split(archive: np.lib.npyio.NpzFile, split: str,
               path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``<split>_images`` (``[N, H, W]`` or ``[N, H, W, 3]`` uint8) and flat labels."""
    keys = (f"{split}_images", f"{split}_labels")
    if any(key not in archive.files for key in keys):
        raise CorruptFileError(f"{path}: arrays {', '.join(keys)} missing; download it again")
    images, labels = archive[keys[0]], archive[keys[1]]
    if images.dtype != np.uint8:
        raise CorruptFileError(f"{path}: {split} images are {images.dtype}, uint8 expected")
    if labels.ndim == 2 and labels.shape[1] != 1:
        raise CorruptFileError(f"{path}: {split} labels have shape {labels.shape}; one label "
                               "per image expected (multi-label sets such as chestmnist are "
                               "not supported)")
    if len(images) != len(labels):
        raise CorruptFileError(f"{path}: {len(images)} {split} images but {len(labels)} labels")
    return images, labels.reshape(-1)


def load_medmnist(source: DataSource, name: str) -> Dataset:
    """Load one MedMNIST ``.npz`` with its train, official val and test splits."""
    filename = npz_filename(name, source.arg)
    md5 = MEDMNIST_INFO[name][2] if filename == f"{name}.npz" else None
    resource = Resource(f"{MEDMNIST_URL}{filename}?download=1", filename, md5, "medmnist")
    folder = locate(source, name, [filename], ["medmnist", name], (resource,), [MEDMNIST_HOME])
    path = folder / filename
    try:
        archive = np.load(path)
    except (ValueError, OSError) as exc:
        raise CorruptFileError(f"{path}: not an .npz archive ({exc}); download it again") from exc
    with archive:
        (train_x, train_y), (val_x, val_y), (test_x, test_y) = (
            read_split(archive, split, path) for split in ("train", "val", "test"))
    return Dataset(
        name=name,
        train_x=to_uint8_nchw(train_x),  # [N, 1 or 3, 28, 28]
        train_y=labels_tensor(train_y),
        test_x=to_uint8_nchw(test_x),
        test_y=labels_tensor(test_y),
        classes=MEDMNIST_INFO[name][1],
        val_x=to_uint8_nchw(val_x),
        val_y=labels_tensor(val_y),
    )


def _loader(name: str) -> Callable[[DataSource], Dataset]:
    """Return the registered loader of one MedMNIST dataset."""

    def load(source: DataSource) -> Dataset:
        return load_medmnist(source, name)

    load.__name__ = f"load_{name}"
    load.__doc__ = f"Load {name} from {name}.npz (or {name}_<size>.npz, spec {name}:<size>)."
    return load


for _name, (_description, _classes, _md5) in MEDMNIST_INFO.items():
    DATASETS.add(_name, _loader(_name), f"MedMNIST {_description} (.npz; {_name}:64 for 64x64)",
                 default_budget=MEDMNIST_BUDGET)
