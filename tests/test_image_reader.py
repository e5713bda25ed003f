"""The one image-folder reader: images read as a person sees them, pixels only where needed, no silent drift.

Unreadable files are made with what root cannot read either (the tests run as root, which ignores
``chmod``): a broken symlink, a FIFO, a file that is not an image, a JPEG cut short, a symlink loop
as a sub-folder. The ``chmod`` cases run only as a normal user.
"""

from __future__ import annotations

import csv
import json
import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from alpool.core import reporting
from alpool.core.errors import ConfigError
from alpool.data import load_dataset
from alpool.data.folder_reader import FolderChangedError, FolderStore
from test_cli import invoke, tree_digest

RNG = np.random.default_rng(0)


def _permissions_bind() -> bool:
    """Return whether a file with mode 0 is unreadable here (not so for root with CAP_DAC_OVERRIDE)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        return False


PERMISSIONS_BIND = _permissions_bind()


class Recorder(reporting.Reporter):
    """Collect the notes and progress tasks a load reports."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.tasks: list[str] = []

    def info(self, message: str) -> None:
        self.messages.append(message)

    def start(self, description: str, total: int | None) -> object:
        self.tasks.append(description)
        return None


def recorded(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Return ``(fn(*args, **kwargs), recorder)`` with the notes of the call recorded."""
    recorder = Recorder()
    previous = reporting.set_reporter(recorder)
    try:
        return fn(*args, **kwargs), recorder
    finally:
        reporting.set_reporter(previous)


def noise(h: int, w: int, channels: int = 3) -> np.ndarray:
    """Return random uint8 pixels ``[h, w, channels]`` (``[h, w]`` for one channel)."""
    shape = (h, w) if channels == 1 else (h, w, channels)
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def with_orientation(image: Image.Image, path: Path, orientation: int) -> None:
    """Save ``image`` with an EXIF orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes())


# ---------------------------------------------------------------- read as a person sees it


@pytest.mark.parametrize(("suffix", "orientation"), [(".jpg", 6), (".jpg", 3), (".png", 8), (".webp", 5)])
def test_exif_orientation_is_applied(tmp_path: Path, suffix: str, orientation: int) -> None:
    path = tmp_path / f"photo{suffix}"
    with_orientation(Image.fromarray(noise(12, 20)), path, orientation)
    dataset = load_dataset(f"images:{tmp_path}")
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    side = (20, 12) if orientation in (5, 6, 7, 8) else (12, 20)
    assert dataset.image_shape == (3, *side) and not dataset.train_pixels.decoded  # from the header alone
    np.testing.assert_array_equal(dataset.train_x[0].permute(1, 2, 0).numpy(), expected)


def test_sixteen_bit_pngs_alone_or_among_eight_bit(tmp_path: Path) -> None:
    deep = RNG.integers(0, 65536, (6, 7), dtype=np.uint16)
    (tmp_path / "mixed").mkdir()
    (tmp_path / "deep").mkdir()
    Image.fromarray(deep).save(tmp_path / "mixed" / "a16.png")
    Image.fromarray(noise(6, 7, 1)).save(tmp_path / "mixed" / "b8.png")
    for i in range(2):
        Image.fromarray(deep // (i + 1)).save(tmp_path / "deep" / f"{i}.png")
    expected = np.rint(deep / 257).astype(np.uint8)  # 65535 -> 255, as a viewer shows it
    mixed = load_dataset(f"images:{tmp_path / 'mixed'}")
    assert mixed.train_x.shape == (2, 1, 6, 7)
    np.testing.assert_array_equal(mixed.train_x[0, 0].numpy(), expected)
    deep_only = load_dataset(f"images:{tmp_path / 'deep'}")
    assert deep_only.train_x.dtype == torch.uint8 and deep_only.train_x.shape == (2, 1, 6, 7)
    np.testing.assert_array_equal(deep_only.train_x[1, 0].numpy(), np.rint((deep // 2) / 257).astype(np.uint8))


def test_sixteen_bit_png_through_the_cli_is_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    for i in range(6):
        Image.fromarray(RNG.integers(0, 65536, (8, 8), dtype=np.uint16)).save(tmp_path / "photos" / f"{i}.png")
        Image.fromarray(noise(8, 8, 1)).save(tmp_path / "photos" / f"{i}-8bit.png")
    result = invoke("pretrain", "--task", "vae", f"images:{tmp_path / 'photos'}", "--run-dir", str(tmp_path / "r"),
                    "--param", "epochs=1", "--param", "latent_dim=4", "--param", "batch_size=8", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "run.json").read_text())["dataset"]["image_shape"] == [1, 8, 8]


def test_other_modes_become_grey_or_rgb(tmp_path: Path) -> None:
    rgb = noise(5, 6)
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(np.dstack([noise(5, 6, 1), noise(5, 6, 1)]), "LA").save(tmp_path / "la.png")
    Image.fromarray(noise(5, 6, 1) > 127).save(tmp_path / "bits.png")
    Image.fromarray(RNG.random((5, 6)).astype(np.float32), "F").save(tmp_path / "float.tif")
    Image.fromarray(RNG.integers(0, 70000, (5, 6)).astype(np.int32), "I").save(tmp_path / "int.tif")
    dataset = load_dataset(f"images:{tmp_path}")
    assert dataset.paths == ("bits.png", "cmyk.jpg", "float.tif", "int.tif", "la.png", "palette.png")
    x = dataset.train_x.permute(0, 2, 3, 1).numpy()  # [N, H, W, 3]: palettes and CMYK hold colour
    for i, name in ((0, "bits.png"), (1, "cmyk.jpg"), (4, "la.png"), (5, "palette.png")):
        with Image.open(tmp_path / name) as image:
            np.testing.assert_array_equal(x[i], np.asarray(image.convert("RGB")), err_msg=name)
    with Image.open(tmp_path / "float.tif") as image:
        np.testing.assert_array_equal(x[2, :, :, 0], np.rint(np.asarray(image) * 255).astype(np.uint8))
    with Image.open(tmp_path / "int.tif") as image:
        np.testing.assert_array_equal(x[3, :, :, 1], np.clip(np.rint(np.asarray(image) / 257), 0, 255))


def test_one_grey_gif_never_recolours_and_colour_is_kept(tmp_path: Path) -> None:
    grey, colour = tmp_path / "grey", tmp_path / "colour"
    for folder in (grey, colour):
        folder.mkdir()
        Image.fromarray(noise(8, 8, 1)).convert("P").save(folder / "odd.gif")  # a palette of greys
    for i in range(3):
        Image.fromarray(noise(8, 8, 1)).save(grey / f"{i}.png")
        Image.fromarray(noise(8, 8)).save(colour / f"{i}.png")
    assert load_dataset(f"images:{grey}").image_shape == (1, 8, 8)
    mixed = load_dataset(f"images:{colour}")
    assert mixed.image_shape == (3, 8, 8)
    gif = mixed.train_x[mixed.paths.index("odd.gif")]
    assert torch.equal(gif[0], gif[1]) and torch.equal(gif[1], gif[2])  # grey repeated, never the reverse


def test_unreadable_files_and_folders_are_skipped_and_named(tmp_path: Path) -> None:
    for i in range(3):
        Image.fromarray(noise(8, 8)).save(tmp_path / f"{i}.png")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "link.jpg")  # a broken link
    os.mkfifo(tmp_path / "pipe.png")  # not a regular file (reading it would hang)
    (tmp_path / "text.jpg").write_text("not an image")
    Image.fromarray(noise(8, 8)).save(tmp_path / "whole.jpg")
    Image.fromarray(noise(96, 96)).save(tmp_path / "big.jpg")
    data = (tmp_path / "big.jpg").read_bytes()
    (tmp_path / "big.jpg").write_bytes(data[: len(data) // 2])  # a download cut short: the header reads well
    (tmp_path / "dir.jpg").mkdir()  # a folder named like an image is a folder: read through
    Image.fromarray(noise(8, 8)).save(tmp_path / "dir.jpg" / "inside.png")
    os.symlink("loop", tmp_path / "loop")  # a sub-folder that cannot be listed
    (tmp_path / "notes.txt").write_text("x")
    dataset, rec = recorded(load_dataset, f"images:{tmp_path}")
    assert dataset.paths == ("0.png", "1.png", "2.png", "dir.jpg/inside.png", "whole.jpg")
    skipped = next(m for m in rec.messages if "skipped" in m)
    for name in ("big.jpg (cut short", "link.jpg (broken link)", "pipe.png (not a regular file)",
                 "text.jpg (not a readable image)"):
        assert name in skipped, skipped
    assert "\n" not in skipped
    assert any("loop (" in m and "sub-folder" in m for m in rec.messages), rec.messages
    assert any("notes.txt" in m for m in rec.messages)


@pytest.mark.skipif(not PERMISSIONS_BIND, reason="root (with CAP_DAC_OVERRIDE) reads files whatever their mode")
def test_no_permission_file_and_folder_are_named(tmp_path: Path) -> None:
    for i in range(2):
        Image.fromarray(noise(8, 8)).save(tmp_path / f"{i}.png")
    (tmp_path / "private").mkdir()
    Image.fromarray(noise(8, 8)).save(tmp_path / "private" / "p.png")
    (tmp_path / "0.png").chmod(0)
    (tmp_path / "private").chmod(0)
    try:
        dataset, rec = recorded(load_dataset, f"images:{tmp_path}")
    finally:
        (tmp_path / "0.png").chmod(0o644)
        (tmp_path / "private").chmod(0o755)
    assert dataset.paths == ("1.png",)
    assert any("0.png (Permission denied)" in m for m in rec.messages)
    assert any("private/ (Permission denied)" in m for m in rec.messages)


def test_nfd_file_names_are_recorded_nfc_and_opened_as_on_disk(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "café.png")
    Image.fromarray(noise(8, 8)).save(tmp_path / nfd)
    Image.fromarray(noise(8, 8)).save(tmp_path / "a.png")
    dataset = load_dataset(f"images:{tmp_path}")
    assert dataset.paths == ("a.png", unicodedata.normalize("NFC", "café.png"))
    assert dataset.file(1) == tmp_path / nfd and dataset.file(1).is_file()
    with Image.open(tmp_path / nfd) as image:
        np.testing.assert_array_equal(dataset.train_x[1].permute(1, 2, 0).numpy(), np.asarray(image))


# ---------------------------------------------------------------- one reader for class folders


def test_class_folders_keep_paths_and_take_image_size(tmp_path: Path) -> None:
    for k, name in enumerate(["cat", "dog"]):
        for i in range(5):
            Image.fromarray(noise(20 + 4 * k, 30)).save(_mkdir(tmp_path / "pets" / name) / f"{i}.jpg")
    (tmp_path / "pets" / "cat" / "bad.jpg").write_bytes(b"xx")
    with pytest.raises(ConfigError, match="2 sizes"):
        load_dataset(f"imagefolder:{tmp_path / 'pets'}")
    dataset, rec = recorded(load_dataset, f"imagefolder:{tmp_path / 'pets'}@16")
    assert dataset.image_shape == (3, 16, 16) and dataset.classes == ("cat", "dog") and dataset.has_labels
    assert dataset.n_train == 8 and len(dataset.test_y) == 2 and all(p.split("/")[0] in ("cat", "dog")
                                                                     for p in dataset.paths)
    assert [dataset.classes[k] for k in dataset.train_y.tolist()] == [p.split("/")[0] for p in dataset.paths]
    assert any("cat/bad.jpg" in m for m in rec.messages)
    assert dataset.train_x.shape == (8, 3, 16, 16) and dataset.test_x.shape == (2, 3, 16, 16)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_class_folders_export_and_embeddings_by_path(tmp_path: Path) -> None:
    for name in ("a", "b"):
        for i in range(4):
            Image.fromarray(noise(8, 8)).save(_mkdir(tmp_path / "pets" / name) / f"{i}.png")
    dataset = load_dataset(f"imagefolder:{tmp_path / 'pets'}")
    paths = np.array(dataset.paths)
    np.savez(tmp_path / "emb.npz", paths=paths[::-1], embeddings=RNG.random((len(paths), 4)).astype(np.float32))
    run = str(tmp_path / "r")
    for step in (["pretrain", "--task", "precomputed", "--param", f"file={tmp_path / 'emb.npz'}",
                  f"imagefolder:{tmp_path / 'pets'}", "--run-dir", run],
                 ["init-pool", "--strategy", "random", "--budget", "3", "--run-dir", run],
                 ["export", "random-3", "--run-dir", run]):
        result = invoke(*step, "-q")
        assert result.exit_code == 0, (step, result.output)
    with (tmp_path / "r" / "exports" / "random-3" / "to_label.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert all(r["path"] == dataset.paths[int(r["index"])] for r in rows) and len(rows) == 3


# ---------------------------------------------------------------- the run owns the index; pixels when needed


def _precomputed_run(tmp_path: Path, n: int = 8) -> tuple[Path, Path]:
    """Return ``(folder, run)``: a folder of ``n`` PNGs and a run made on it by ``pretrain --task precomputed``."""
    folder = _mkdir(tmp_path / "photos")
    for i in range(n):
        Image.fromarray(noise(8, 8)).save(folder / f"{i:02d}.png")
    np.save(tmp_path / "emb.npy", RNG.random((n, 4)).astype(np.float32))
    result = invoke("pretrain", "--task", "precomputed", "--param", f"file={tmp_path / 'emb.npy'}",
                    f"images:{folder}", "--run-dir", str(tmp_path / "run"), "-q")
    assert result.exit_code == 0, result.output
    return folder, tmp_path / "run"


def test_steps_without_pixels_decode_nothing_and_pixel_steps_decode_once(tmp_path: Path) -> None:
    folder, run = _precomputed_run(tmp_path)
    assert (run / "images.json").is_file()
    for step in (["init-pool", "--strategy", "random", "--budget", "4"], ["export", "random-4"]):
        assert invoke(*step, "--run-dir", str(run), "-q").exit_code == 0
    with (run / "exports" / "random-4" / "to_label.csv").open() as handle:
        paths = [row["path"] for row in csv.DictReader(handle)]
    (tmp_path / "labels.csv").write_text("path,label\n" + "".join(f"{p},{'ab'[i % 2]}\n" for i, p in enumerate(paths)))
    assert invoke("import-labels", str(tmp_path / "labels.csv"), "--run-dir", str(run), "-q").exit_code == 0
    result = invoke("next", "--budget", "2", "--folds", "0", "--run-dir", str(run), "-q")
    assert result.exit_code == 0, result.output
    assert not (run / "cache" / "images").exists()  # nothing was decoded by any of these steps
    store = FolderStore(run / "images.json", run / "cache" / "images")
    first = load_dataset(f"images:{folder}", store=store)
    assert first.train_x.shape == (8, 3, 8, 8)
    assert len(list((run / "cache" / "images").glob("images-*.npz"))) == 1
    again, rec = recorded(lambda: load_dataset(f"images:{folder}", store=store).train_x)
    assert torch.equal(again, first.train_x) and "decoding images" not in rec.tasks  # the run's cache


def test_folder_is_recorded_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _mkdir(tmp_path / "work" / "photos")
    for i in range(4):
        Image.fromarray(noise(8, 8)).save(tmp_path / "work" / "photos" / f"{i}.png")
    np.save(tmp_path / "emb.npy", RNG.random((4, 4)).astype(np.float32))
    monkeypatch.chdir(tmp_path / "work")
    result = invoke("pretrain", "--task", "precomputed", "--param", f"file={tmp_path / 'emb.npy'}", "images:photos",
                    "--run-dir", "R", "-q")
    assert result.exit_code == 0, result.output
    spec = json.loads((tmp_path / "work" / "R" / "run.json").read_text())["dataset"]["spec"]
    assert spec == f"images:{(tmp_path / 'work' / 'photos').resolve()}"
    monkeypatch.chdir(_mkdir(tmp_path / "elsewhere" / "deeper"))
    result = invoke("init-pool", "--strategy", "random", "--budget", "2", "-r", "../../work/R", "-q")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("change", ["modify", "remove", "touch"])
def test_changed_files_are_refused_by_name_and_the_run_is_unchanged(tmp_path: Path, change: str) -> None:
    folder, run = _precomputed_run(tmp_path)
    target = folder / "03.png"
    if change == "modify":
        Image.fromarray(noise(8, 8)).save(target)
    elif change == "remove":
        target.unlink()
    else:
        os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    before = tree_digest(run)
    result = invoke("init-pool", "--strategy", "random", "--budget", "2", "--run-dir", str(run), "-q")
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())
    word = "removed" if change == "remove" else "changed"
    assert f"1 {word}: 03.png" in line and "--run-dir NEW_RUN" in line and "Traceback" not in line
    assert tree_digest(run) == before
    with pytest.raises(FolderChangedError, match="03.png"):
        load_dataset(f"images:{folder}", store=FolderStore(run / "images.json", run / "cache" / "images"))


def test_added_files_are_named_and_left_out_of_the_run(tmp_path: Path) -> None:
    folder, run = _precomputed_run(tmp_path)
    Image.fromarray(noise(8, 8)).save(folder / "new.png")
    store = FolderStore(run / "images.json", run / "cache" / "images")
    dataset, rec = recorded(load_dataset, f"images:{folder}", store=store)
    assert dataset.n_train == 8 and "new.png" not in dataset.paths
    assert any("1 file(s) added" in m and "new.png" in m and "new run" in m for m in rec.messages)
    assert invoke("init-pool", "--strategy", "random", "--budget", "2", "--run-dir", str(run), "-q").exit_code == 0


def test_fingerprints_of_other_datasets_are_unchanged() -> None:
    """The digits fingerprint as alpool computed it before the folder index existed."""
    assert load_dataset("digits").fingerprint == "c2c44188776caec51cc4676369574552f0558bc58bca2bad57a667eeba4abc47"
