"""Strong augmentation: known answers per operation, per-sample choices, range, determinism."""

from __future__ import annotations

import pytest
import torch

from alpool.data.strong_augment import (
    FILL,
    OPS,
    autocontrast,
    brightness,
    cutout,
    equalize,
    posterize,
    solarize,
    strong_augment,
    translate_x,
)


def images(n: int = 16, channels: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        0,
        256,
        (n, channels, size, size),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(seed),
    )


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_keeps_shape_and_range(name: str) -> None:
    x = images().float() / 255
    out = OPS[name](x.clone(), torch.linspace(-1, 1, len(x)))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert float(out.min()) >= -1e-6 and float(out.max()) <= 1 + 1e-6


@pytest.mark.parametrize(
    "name",
    [
        "identity",
        "brightness",
        "contrast",
        "color",
        "sharpness",
        "posterize",
        "rotate",
        "shear_x",
        "shear_y",
        "translate_x",
        "translate_y",
    ],
)
def test_zero_magnitude_is_the_identity(name: str) -> None:
    x = images().float() / 255
    torch.testing.assert_close(OPS[name](x.clone(), torch.zeros(len(x))), x, atol=1e-5, rtol=0)


def test_solarize_known_answer() -> None:
    x = torch.tensor([0.1, 0.4, 0.6, 0.9]).view(1, 1, 2, 2)
    out = solarize(x, torch.tensor([0.5]))  # threshold 0.5: 0.6 and 0.9 are inverted
    torch.testing.assert_close(out.flatten(), torch.tensor([0.1, 0.4, 0.4, 0.1]))


def test_posterize_full_magnitude_keeps_four_bits() -> None:
    out = posterize(images().float() / 255, torch.ones(16))
    levels = (out * 255).round()
    assert torch.all(levels % 16 == 0)


def test_brightness_scales_and_clamps() -> None:
    x = torch.full((1, 1, 2, 2), 0.5)
    torch.testing.assert_close(brightness(x, torch.tensor([-1.0])), torch.full_like(x, 0.05))
    torch.testing.assert_close(brightness(x, torch.tensor([1.0])), torch.full_like(x, 0.95))


def test_autocontrast_stretches_to_the_full_range() -> None:
    x = torch.tensor([0.2, 0.3, 0.4, 0.6]).view(1, 1, 2, 2)
    torch.testing.assert_close(
        autocontrast(x, torch.zeros(1)).flatten(), torch.tensor([0.0, 0.25, 0.5, 1.0])
    )
    flat = torch.full((1, 1, 2, 2), 0.3)
    torch.testing.assert_close(autocontrast(flat, torch.zeros(1)), flat)


def test_equalize_spreads_levels_by_their_rank() -> None:
    x = (torch.tensor([10.0, 10.0, 20.0, 30.0]) / 255).view(1, 1, 2, 2)
    out = equalize(x, torch.zeros(1)).flatten()
    # cdf = 2, 3, 4 ; darkest count 2 -> (cdf - 2) / (4 - 2)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, 0.5, 1.0]))
    flat = torch.full((1, 1, 2, 2), 0.4)
    torch.testing.assert_close(equalize(flat, torch.zeros(1)), (flat * 255).round() / 255)


def test_translate_moves_content_and_fills_gray() -> None:
    x = torch.zeros(1, 1, 10, 10)
    x[:, :, :, 4] = 1.0  # a vertical line at column 4
    out = translate_x(x, torch.tensor([1 / 3]))  # shift of 0.1 * 10 = 1 px (sign: sampling grid)
    column = out[0, 0].mean(0)
    assert int(column.argmax()) in (3, 5) and float(column.max()) == pytest.approx(1.0, abs=1e-5)
    edge = out[0, 0, :, 0] if int(column.argmax()) == 5 else out[0, 0, :, -1]
    torch.testing.assert_close(edge, torch.full((10,), FILL))


def test_cutout_sets_a_gray_square_at_most_half_the_size() -> None:
    x = torch.zeros(200, 1, 8, 8)
    out = cutout(x, torch.Generator().manual_seed(0), 0.5)
    gray = (out == FILL).flatten(1).sum(1)  # [n] pixels set
    assert int(gray.max()) <= 16 and (gray > 0).float().mean() > 0.5


def test_each_image_draws_its_own_operation() -> None:
    x = images(64, 1).float() / 255
    out = strong_augment(
        x,
        torch.Generator().manual_seed(0),
        n_ops=1,
        magnitude=1.0,
        cutout_fraction=0.0,
        ops=("identity", "solarize"),
    )
    unchanged = (out == x).flatten(1).all(1)
    inverted = torch.isclose(out, 1 - x).flatten(1).all(1)
    assert bool((unchanged | inverted).all())
    assert 10 < int(unchanged.sum()) < 54


def test_strong_augment_accepts_uint8_and_is_deterministic() -> None:
    x = images()
    a = strong_augment(x, torch.Generator().manual_seed(3))
    b = strong_augment(x, torch.Generator().manual_seed(3))
    c = strong_augment(x, torch.Generator().manual_seed(4))
    assert a.dtype == torch.float32 and a.shape == x.shape
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)
    assert x.dtype == torch.uint8  # input untouched


def test_float_input_is_not_modified_in_place() -> None:
    x = images().float() / 255
    before = x.clone()
    strong_augment(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, before)
