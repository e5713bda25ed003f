"""The batched SimCLR augmentation: identity at full-size crops, ranges, seeds, grayscale."""

from __future__ import annotations

import torch

from alpool.data.contrastive_augment import ContrastiveAugment, color_jitter, contrastive_views, random_resized_crop

NONE = ContrastiveAugment(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=0.0, jitter=0.0, grayscale=0.0)


def images(n: int = 6, c: int = 3, size: int = 12) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(0))


def test_a_full_size_crop_with_nothing_else_is_the_identity() -> None:
    x = images()
    out = contrastive_views(x, torch.Generator().manual_seed(1), NONE)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_views_keep_shape_and_range_and_follow_the_seed() -> None:
    x = images()
    a = contrastive_views(x, torch.Generator().manual_seed(3))
    b = contrastive_views(x, torch.Generator().manual_seed(3))
    c = contrastive_views(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_small_crops_zoom_in() -> None:
    x = torch.zeros(1, 1, 16, 16)
    x[..., :8, :] = 1.0  # top half white
    out = random_resized_crop(x.expand(200, -1, -1, -1), (0.2, 0.2), (1.0, 1.0), torch.Generator().manual_seed(0))
    means = out.mean(dim=(1, 2, 3))
    assert (means > 0.99).any() and (means < 0.01).any()  # some crops fall fully in one half


def test_grayscale_makes_channels_equal_and_one_channel_images_work() -> None:
    gray = ContrastiveAugment(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=0.0, jitter=0.0, grayscale=1.0)
    out = contrastive_views(images(), torch.Generator().manual_seed(0), gray)
    torch.testing.assert_close(out[:, 0], out[:, 1])
    torch.testing.assert_close(out[:, 1], out[:, 2])
    one = contrastive_views(images(c=1), torch.Generator().manual_seed(0))
    assert one.shape == (6, 1, 12, 12)


def test_hue_and_saturation_leave_gray_images_gray() -> None:
    x = images(c=1).expand(-1, 3, -1, -1).contiguous()
    options = ContrastiveAugment(brightness=0.0, contrast=0.0, saturation=0.4, hue=0.5)
    out = color_jitter(x, options, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x, atol=1e-4, rtol=0)
