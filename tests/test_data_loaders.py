"""Dataset loaders: each reads small files written in the exact original format."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from alpool.core.errors import ConfigError, CorruptFileError, DatasetFilesMissing
from alpool.data import DATASETS, cifar, idx, imagefolder, load_dataset, medmnist
from alpool.data.base import DataSource
from alpool.data.download import Resource, extract, fetch, locate, md5sum

# ---------------------------------------------------------------- writers of the original formats


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a ubyte IDX file (magic 0x0803 for images, 0x0801 for labels), gzipped on .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_mnist(folder: Path, rng: np.random.Generator, gz: bool = True) -> dict[str, np.ndarray]:
    """Write the four MNIST IDX files with 12 train and 5 test images."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": (np.arange(12) % 10).astype(np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": np.array([7, 2, 1, 0, 4], dtype=np.uint8)}
    for name, array in arrays.items():
        write_idx(folder / (f"{name}.gz" if gz else name), array)
    return arrays


def dump(path: Path, obj: dict) -> None:
    """Pickle like the CIFAR python batches (protocol 2, bytes keys)."""
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_cifar10(folder: Path, per_class_per_batch: int = 2) -> np.ndarray:
    """Write data_batch_1..5, test_batch and batches.meta; return the [N, 3072] train rows."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows = []
    for b in range(1, 6):
        labels = [k for k in range(10) for _ in range(per_class_per_batch)][::-1]
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        rows.append(data)
        dump(folder / f"data_batch_{b}", {b"batch_label": f"training batch {b} of 5".encode(),
                                          b"labels": labels, b"data": data,
                                          b"filenames": [b"x.png"] * len(labels)})
    test = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    dump(folder / "test_batch", {b"batch_label": b"testing batch 1 of 1", b"labels": [3, 1, 4, 1],
                                 b"data": test, b"filenames": [b"t.png"] * 4})
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    dump(folder / "batches.meta", {b"num_cases_per_batch": 10000, b"label_names": names,
                                   b"num_vis": 3072})
    return np.concatenate(rows)


def write_png(path: Path, array: np.ndarray) -> None:
    """Save a uint8 [H, W] or [H, W, 3] array as PNG (or JPEG by suffix)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(autouse=True)
def _no_system_copies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide system-wide dataset folders and $ALPOOL_DATA so tests see only their files."""
    monkeypatch.setattr(idx, "FASHION_DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setattr(medmnist, "MEDMNIST_HOME", tmp_path / "no-medmnist-home")
    monkeypatch.delenv("ALPOOL_DATA", raising=False)


# ---------------------------------------------------------------- registry


def test_every_dataset_has_a_one_line_description() -> None:
    for entry in DATASETS.entries():
        assert entry.description.strip() and "\n" not in entry.description, entry.name


def test_expected_names_are_registered_and_chestmnist_is_not() -> None:
    expected = {"mnist", "fashion-mnist", "cifar10", "cifar100", "cifar10-lt", "svhn",
                "tinyimagenet", "imagefolder", *medmnist.MEDMNIST_INFO}
    assert expected <= set(DATASETS.names())
    assert "chestmnist" not in DATASETS
    assert len(medmnist.MEDMNIST_INFO) == 11


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_idx_files(tmp_path: Path, gz: bool) -> None:
    arrays = write_mnist(tmp_path / "mnist", np.random.default_rng(0), gz=gz)
    data = load_dataset("mnist", data_dir=tmp_path)
    assert data.train_x.shape == (12, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (5, 1, 28, 28) and data.test_y.dtype == torch.int64
    assert data.test_y.tolist() == [7, 2, 1, 0, 4]
    assert int(data.train_x[3, 0, 5, 17]) == arrays["train-images-idx3-ubyte"][3, 5, 17]
    assert data.classes == tuple("0123456789")


def test_fashion_mnist_from_torchvision_layout(tmp_path: Path) -> None:
    write_mnist(tmp_path / "FashionMNIST" / "raw", np.random.default_rng(0))
    data = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert data.n_train == 12 and data.classes[0] == "T-shirt/top"
    assert data.classes[9] == "Ankle boot"


def test_idx_bad_magic_is_a_corrupt_file(tmp_path: Path) -> None:
    write_mnist(tmp_path, np.random.default_rng(0), gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00")
    with pytest.raises(CorruptFileError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", data_dir=tmp_path)


def test_fashion_mnist_debian_package_loads_real_data(monkeypatch: pytest.MonkeyPatch) -> None:
    debian = Path("/usr/share/datasets/fashion-mnist")
    if not (debian / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    monkeypatch.setattr(idx, "FASHION_DEBIAN_DIR", debian)
    data = load_dataset("fashion-mnist")
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert np.bincount(data.train_y.numpy()).tolist() == [6000] * 10
    assert np.bincount(data.test_y.numpy()).tolist() == [1000] * 10


# ---------------------------------------------------------------- CIFAR


def test_cifar10_reads_pickles(tmp_path: Path) -> None:
    rows = write_cifar10(tmp_path / "cifar-10-batches-py")
    data = load_dataset("cifar10", data_dir=tmp_path)
    assert data.train_x.shape == (100, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
    assert data.classes[0] == "airplane" and data.classes[9] == "truck"
    assert data.train_y[:3].tolist() == [9, 9, 8] and data.test_y.tolist() == [3, 1, 4, 1]
    c, y, x = 2, 7, 30  # row layout: 1024 red, 1024 green, 1024 blue, each row-major
    assert int(data.train_x[25, c, y, x]) == rows[25, c * 1024 + y * 32 + x]


def test_cifar100_reads_fine_labels_and_names(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = np.arange(6 * 3072, dtype=np.int64).astype(np.uint8).reshape(6, 3072)
    for split, fine in (("train", [0, 99, 5, 5, 42, 1]), ("test", [7, 8, 9, 10, 11, 12])):
        dump(folder / split, {b"filenames": [b"f"] * 6, b"batch_label": split.encode(),
                              b"fine_labels": fine, b"coarse_labels": [0] * 6, b"data": data})
    fine_names = [f"class{k:02d}".encode() for k in range(100)]
    dump(folder / "meta", {b"fine_label_names": fine_names,
                           b"coarse_label_names": [b"c"] * 20})
    loaded = load_dataset("cifar100", data_dir=tmp_path)
    assert loaded.num_classes == 100 and loaded.classes[99] == "class99"
    assert loaded.train_y.tolist() == [0, 99, 5, 5, 42, 1]
    assert int(loaded.train_x[1, 0, 0, 3]) == data[1, 3]


def test_long_tail_counts_known_answer() -> None:
    counts = cifar.long_tail_counts(5000, 10, 0.02)
    assert counts == [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100]
    assert sum(counts) == 13996
    assert cifar.long_tail_counts(5000, 10, 0.01)[-1] == 50
    assert cifar.long_tail_counts(5000, 10, 1.0) == [5000] * 10


def test_cifar10_lt_end_to_end_keeps_first_images_in_file_order(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "cifar-10-batches-py")  # 10 images per class
    full = load_dataset("cifar10", data_dir=tmp_path)
    lt = load_dataset("cifar10-lt:0.01", data_dir=tmp_path)
    counts = cifar.long_tail_counts(10, 10, 0.01)
    assert np.bincount(lt.train_y.numpy(), minlength=10).tolist() == counts
    expected = np.sort(np.concatenate(
        [np.flatnonzero(full.train_y.numpy() == k)[:n] for k, n in enumerate(counts)]))
    assert torch.equal(lt.train_x, full.train_x[expected])
    assert torch.equal(lt.test_x, full.test_x) and lt.classes == full.classes
    default = load_dataset("cifar10-lt", data_dir=tmp_path)
    assert default.n_train == sum(cifar.long_tail_counts(10, 10, 0.02))


@pytest.mark.parametrize("arg", ["abc", "0", "1.5", "-0.1"])
def test_cifar10_lt_rejects_bad_ratio(arg: str) -> None:
    with pytest.raises(ConfigError, match="cifar10-lt"):
        cifar.parse_ratio(arg)


# ---------------------------------------------------------------- SVHN


def test_svhn_reads_mat_files_and_maps_10_to_0(tmp_path: Path) -> None:
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    folder = tmp_path / "svhn"
    folder.mkdir()
    x = rng.integers(0, 256, (32, 32, 3, 6), dtype=np.uint8)  # [H, W, C, N] as in the files
    savemat(folder / "train_32x32.mat", {"X": x, "y": np.array([[10], [1], [2], [10], [9], [5]])})
    savemat(folder / "test_32x32.mat", {"X": x[..., :2], "y": np.array([[3], [10]])})
    data = load_dataset("svhn", data_dir=tmp_path)
    assert data.train_x.shape == (6, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert data.train_y.tolist() == [0, 1, 2, 0, 9, 5] and data.test_y.tolist() == [3, 0]
    assert int(data.train_x[4, 1, 10, 20]) == x[10, 20, 1, 4]


# ---------------------------------------------------------------- MedMNIST


def write_medmnist(path: Path, rgb: bool, size: int = 28, num_classes: int = 9) -> dict:
    """Write a MedMNIST .npz with train/val/test images and [N, 1] labels."""
    rng = np.random.default_rng(3)
    arrays = {}
    for split, n in (("train", 8), ("val", 3), ("test", 4)):
        shape = (n, size, size, 3) if rgb else (n, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, num_classes, (n, 1), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def test_pathmnist_reads_npz_with_official_val(tmp_path: Path) -> None:
    arrays = write_medmnist(tmp_path / "medmnist" / "pathmnist.npz", rgb=True)
    data = load_dataset("pathmnist", data_dir=tmp_path)
    assert data.train_x.shape == (8, 3, 28, 28) and data.val_x is not None
    assert data.val_x.shape == (3, 3, 28, 28) and data.test_x.shape == (4, 3, 28, 28)
    assert data.val_y.tolist() == arrays["val_labels"].ravel().tolist()
    assert int(data.train_x[2, 1, 4, 9]) == arrays["train_images"][2, 4, 9, 1]
    assert data.classes[0] == "adipose" and data.num_classes == 9


def test_breastmnist_grayscale_and_size_suffix(tmp_path: Path) -> None:
    write_medmnist(tmp_path / "breastmnist_64.npz", rgb=False, size=64, num_classes=2)
    data = load_dataset("breastmnist:64", data_dir=tmp_path)
    assert data.train_x.shape == (8, 1, 64, 64) and data.classes == ("malignant", "normal, benign")
    with pytest.raises(ConfigError, match="32"):
        load_dataset("breastmnist:32", data_dir=tmp_path)


def test_medmnist_multilabel_file_is_refused(tmp_path: Path) -> None:
    arrays = write_medmnist(tmp_path / "octmnist.npz", rgb=False, num_classes=4)
    arrays["train_labels"] = np.zeros((8, 14), dtype=np.uint8)
    np.savez(tmp_path / "octmnist.npz", **arrays)
    with pytest.raises(CorruptFileError, match="one label"):
        load_dataset("octmnist", data_dir=tmp_path)


def test_medmnist_class_tables_match_sizes() -> None:
    sizes = {"pathmnist": 9, "dermamnist": 7, "octmnist": 4, "pneumoniamnist": 2,
             "retinamnist": 5, "breastmnist": 2, "bloodmnist": 8, "tissuemnist": 8,
             "organamnist": 11, "organcmnist": 11, "organsmnist": 11}
    assert {n: len(info[1]) for n, info in medmnist.MEDMNIST_INFO.items()} == sizes


# ---------------------------------------------------------------- Tiny ImageNet


def write_tiny(root: Path) -> None:
    """Write a 3-class tiny-imagenet-200 folder with 2 train and 1 val JPEG per class."""
    folder = root / "tiny-imagenet-200"
    wnids = ["n02", "n01", "n03"]  # file order is not sorted, as in the original
    folder.mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (folder / "words.txt").write_text("n00\tentity\nn01\tgoldfish, Carassius auratus\n"
                                      "n02\ttabby, tabby cat\nn03\tgoldfish\n")
    for k, wnid in enumerate(sorted(wnids)):
        for i in range(2):
            write_png(folder / "train" / wnid / "images" / f"{wnid}_{i}.JPEG",
                      np.full((64, 64, 3), 40 * k + 10 * i + 20, dtype=np.uint8))
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text("x\t0\t0\t63\t63\n")
    lines = []
    for i, wnid in enumerate(["n03", "n01", "n02"]):
        write_png(folder / "val" / "images" / f"val_{i}.JPEG", np.full((64, 64), 200, np.uint8))
        lines.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def test_tinyimagenet_reads_folder_with_val_as_test(tmp_path: Path) -> None:
    write_tiny(tmp_path)
    data = load_dataset("tinyimagenet", data_dir=tmp_path)
    assert data.train_x.shape == (6, 3, 64, 64) and data.test_x.shape == (3, 3, 64, 64)
    assert data.classes == ("goldfish (n01)", "tabby", "goldfish (n03)")
    assert data.train_y.tolist() == [0, 0, 1, 1, 2, 2] and data.test_y.tolist() == [2, 0, 1]
    assert abs(int(data.train_x[3, 0, 30, 30]) - 70) <= 2  # JPEG of a flat colour, class 1 i 1
    assert abs(int(data.test_x[0, 2, 5, 5]) - 200) <= 2  # grayscale JPEG converted to RGB


# ---------------------------------------------------------------- ImageFolder


def test_imagefolder_flat_layout_split_is_stratified_and_fixed(tmp_path: Path) -> None:
    for k, name in enumerate(["cat", "dog"]):
        for i in range(5):
            write_png(tmp_path / "pets" / name / f"{i}.png",
                      np.full((6, 5, 3), 10 * i + 100 * k, dtype=np.uint8))
    data = load_dataset("imagefolder:pets", data_dir=tmp_path)
    again = load_dataset(f"imagefolder:{tmp_path / 'pets'}")
    assert data.classes == ("cat", "dog") and data.train_x.shape == (8, 3, 6, 5)
    assert np.bincount(data.test_y.numpy()).tolist() == [1, 1]
    assert torch.equal(data.train_x, again.train_x) and torch.equal(data.test_y, again.test_y)
    values = sorted(int(v) for v in torch.cat([data.train_x, data.test_x])[:, 0, 0, 0])
    assert values == sorted(10 * i + 100 * k for k in range(2) for i in range(5))


def test_imagefolder_train_test_layout_gray_and_image_size(tmp_path: Path) -> None:
    """Class folders go through the images: reader: one size or --image-size (no silent resize), paths kept."""
    for split, n in (("train", 3), ("val", 1)):
        for name in ("a", "b"):
            for i in range(n):
                write_png(tmp_path / split / name / f"{i}.png", np.full((4, 4), 7 * i, np.uint8))
    write_png(tmp_path / "train" / "b" / "big.png", np.full((8, 8), 99, np.uint8))
    with pytest.raises(ConfigError, match=r"2 sizes \(e.g. train/b/big.png is 8x8, most are 4x4\); pass --image-size"):
        load_dataset(f"imagefolder:{tmp_path}")
    data = load_dataset(f"imagefolder:{tmp_path}@8")
    assert data.train_x.shape == (7, 1, 8, 8) and data.test_x.shape == (2, 1, 8, 8)
    assert data.train_y.tolist() == [0, 0, 0, 1, 1, 1, 1] and data.test_y.tolist() == [0, 1]
    assert int(data.train_x[2, 0, 1, 1]) == 14 and int(data.train_x[6, 0, 0, 0]) == 99
    assert data.paths[:3] == ("train/a/0.png", "train/a/1.png", "train/a/2.png") and data.root == str(tmp_path)
    assert data.paths[6] == "train/b/big.png" and data.file(6) == tmp_path / "train" / "b" / "big.png"


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="imagefolder:PATH"):
        load_dataset("imagefolder", data_dir=tmp_path)
    with pytest.raises(DatasetFilesMissing, match="nowhere"):
        load_dataset(f"imagefolder:{tmp_path / 'nowhere'}")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DatasetFilesMissing, match="cls"):
        load_dataset(f"imagefolder:{tmp_path / 'empty'}")


def test_stratified_split_keeps_one_train_image_per_class() -> None:
    train, test = imagefolder.stratified_split(np.array([0, 1, 1, 1, 1, 1]), 0.2, seed=0)
    assert 0 in train and len(test) == 1 and sorted([*train, *test]) == list(range(6))


# ---------------------------------------------------------------- missing files and downloads

MISSING = [("mnist", "train-images-idx3-ubyte.gz"), ("fashion-mnist", "t10k-labels-idx1-ubyte.gz"),
           ("cifar10", "data_batch_1"), ("cifar10-lt", "batches.meta"),
           ("cifar100", "train, test, meta"), ("svhn", "train_32x32.mat"),
           ("tinyimagenet", "wnids.txt"),
           *[(name, f"{name}.npz") for name in medmnist.MEDMNIST_INFO]]


@pytest.mark.parametrize(("spec", "filename"), MISSING)
def test_missing_files_name_the_file_and_folder(tmp_path: Path, spec: str, filename: str) -> None:
    with pytest.raises(DatasetFilesMissing) as info:
        load_dataset(spec, data_dir=tmp_path)
    assert filename in str(info.value) and str(tmp_path) in str(info.value)
    assert "\n" not in str(info.value)


def test_md5sum_known_answer(tmp_path: Path) -> None:
    (tmp_path / "abc").write_bytes(b"abc")
    assert md5sum(tmp_path / "abc") == "900150983cd24fb0d6963f7d28e17f72"


def test_download_of_cifar10_archive_from_file_url(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path / "src" / "cifar-10-batches-py", per_class_per_batch=1)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    resource = Resource(archive.as_uri(), archive.name, md5, extract=True)
    monkeypatch.setattr(cifar, "CIFAR10_DOWNLOAD", resource)
    data_dir = tmp_path / "data"
    with pytest.raises(DatasetFilesMissing):
        load_dataset("cifar10", data_dir=data_dir)  # no --download: no network access
    data = load_dataset("cifar10", data_dir=data_dir, download=True)
    assert data.n_train == 50 and (data_dir / "cifar-10-batches-py" / "test_batch").exists()
    assert not (data_dir / archive.name).exists()  # the archive is removed after extraction


def test_fetch_rejects_wrong_md5_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"payload")
    resource = Resource((tmp_path / "f.bin").as_uri(), "f.bin", "0" * 32, "out")
    with pytest.raises(CorruptFileError, match="md5"):
        fetch(resource, tmp_path)
    assert list((tmp_path / "out").iterdir()) == []


def test_download_without_data_dir_is_refused() -> None:
    source = DataSource(root=None, download=True)
    with pytest.raises(DatasetFilesMissing, match="--data-dir"):
        locate(source, "x", ["f"], ["x"], (Resource("file:///nonexistent", "f"),))


def test_extract_refuses_members_outside_the_folder(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("../escape.txt", "x")
    with pytest.raises(CorruptFileError, match="escape"):
        extract(archive, tmp_path / "into")
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zipped:
        zipped.writestr("d/a.txt", "hello")
    extract(good, tmp_path / "into")
    assert (tmp_path / "into" / "d" / "a.txt").read_text() == "hello"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_decoding_matches_pillow_convert_and_resize(tmp_path: Path, suffix: str) -> None:
    """torchvision decodes JPEG/PNG (Pillow the rest) to the pixels of Pillow's convert + bilinear resize."""
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (20, 17, 3), dtype=np.uint8)
    kinds = ["RGB", "L"] if suffix == ".jpg" else ["RGB", "L", "RGBA", "P"]
    for kind in kinds:
        path = tmp_path / f"{kind}{suffix}"
        Image.fromarray(rgb).convert(kind).save(path)
        for mode in ["RGB", "L"] if kind == "L" else ["RGB"]:
            for size in [(17, 20), (8, 10)]:
                with Image.open(path) as image:
                    expected = np.asarray(image.convert(mode).resize(size, Image.Resampling.BILINEAR))
                np.testing.assert_array_equal(imagefolder._decode(path, size, mode), expected)
