"""Photo checks, target sizes, the window grid, person regions from window scores and from masks."""

import itertools

import pytest
import torch

from diffsensei_core.errors import InputShapeError
from diffsensei_core.photo.regions import (
    MAX_SIDE,
    MIN_SIDE,
    Box,
    mask_regions,
    person_regions,
    prepare_photo,
    resize_image,
    resize_square,
    target_size,
    window_grid,
)

WHERE = "DiffSensei: Describe photo (image)"


# ------------------------------------------------------------------------------------------------------ boxes


def test_box_geometry():
    a, b = Box(0, 0, 10, 10), Box(5, 5, 15, 15)
    assert a.area == 100 and a.intersection(b) == 25
    assert a.iou(b) == pytest.approx(25 / 175)
    assert a.union(b) == Box(0, 0, 15, 15)
    assert Box(0, 0, 10, 10).iou(Box(20, 20, 30, 30)) == 0.0
    assert Box(10, 10, 20, 40).padded(0.5, 100, 100) == Box(5, -5 + 5, 25, 55)
    assert Box(0, 0, 10, 10).padded(0.5, 12, 12) == Box(0, 0, 12, 12)


@pytest.mark.parametrize(
    ("box", "height", "width", "expected"),
    [
        (Box(40, 10, 60, 90), 100, 200, Box(10, 10, 90, 90)),  # tall box → square around its centre
        (Box(0, 10, 20, 90), 100, 200, Box(0, 10, 80, 90)),  # shifted right to stay inside
        (Box(10, 0, 190, 40), 100, 200, Box(50, 0, 150, 100)),  # wider than the photo is high → cut to 100
    ],
)
def test_box_squared(box, height, width, expected):
    square = box.squared(height, width)
    assert square == expected
    assert square.width == square.height
    assert 0 <= square.x0 and square.x1 <= width and 0 <= square.y0 and square.y1 <= height


def test_box_crop_shape():
    photo = torch.rand(1, 50, 80, 3)
    crop = Box(10, 5, 30, 45).crop(photo)
    assert crop.shape == (1, 40, 20, 3) and torch.equal(crop, photo[:, 5:45, 10:30])


# ------------------------------------------------------------------------------------------------ prepare


def test_prepare_rgb_is_unchanged():
    image = torch.rand(1, 100, 120, 3)
    prepared = prepare_photo(image, where=WHERE)
    assert torch.equal(prepared.image, image) and not prepared.grayscale and prepared.notes == ()


def test_prepare_grayscale_one_channel_and_equal_channels():
    one = torch.rand(1, 80, 90, 1)
    prepared = prepare_photo(one, where=WHERE)
    assert prepared.image.shape == (1, 80, 90, 3) and prepared.grayscale
    assert any("grayscale" in n for n in prepared.notes)
    equal = one.expand(-1, -1, -1, 3).clone()
    assert prepare_photo(equal, where=WHERE).grayscale


def test_prepare_alpha_batch_and_range():
    image = torch.rand(3, 70, 70, 4) * 1.5
    prepared = prepare_photo(image, where=WHERE)
    assert prepared.image.shape == (1, 70, 70, 3) and float(prepared.image.max()) <= 1.0
    assert any("batch of 3" in n for n in prepared.notes)


def test_prepare_too_small_raises_with_size_and_fix():
    with pytest.raises(InputShapeError, match=rf"{MIN_SIDE - 1}×200 pixels.*at least {MIN_SIDE}.*Upscale"):
        prepare_photo(torch.rand(1, 200, MIN_SIDE - 1, 3), where=WHERE)


def test_prepare_huge_is_downscaled():
    image = torch.rand(1, MAX_SIDE + 952, 1500, 3)
    prepared = prepare_photo(image, where=WHERE)
    assert prepared.image.shape[1] == MAX_SIDE and prepared.image.shape[2] == round(1500 * MAX_SIDE / 3000)
    assert any("downscaled" in n for n in prepared.notes)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (torch.rand(100, 100), "expected an IMAGE"),
        (torch.rand(1, 100, 100, 2), "1, 3 or 4 colour channels"),
        (torch.full((1, 100, 100, 3), float("nan")), "NaN"),
        ("photo.png", "expected an IMAGE"),
    ],
)
def test_prepare_rejects_bad_input(image, match):
    with pytest.raises(InputShapeError, match=match) as info:
        prepare_photo(image, where=WHERE)
    assert WHERE in str(info.value)


def test_resize_square():
    out = resize_square(torch.rand(1, 30, 50, 3), 24)
    assert out.shape == (1, 24, 24, 3) and 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_resize_image_keeps_same_size_and_clamps_overshoot():
    image = torch.rand(2, 30, 50, 3, dtype=torch.float16)
    same = resize_image(image, 30, 50)
    assert same.dtype == torch.float32 and torch.equal(same, image.float())
    # bicubic overshoots at a hard edge; the result stays a valid image
    edge = torch.zeros(1, 16, 16, 3)
    edge[:, :, 8:] = 1.0
    out = resize_image(edge, 40, 24)
    assert out.shape == (1, 40, 24, 3) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize(
    ("height", "width", "long_side", "expected"),
    [
        (320, 240, 1024, (1024, 768)),
        (240, 320, 512, (384, 512)),
        (1000, 1000, 1000, (992, 992)),  # rounded to multiples of 16
        (100, 2000, 256, (16, 256)),  # at least one multiple
    ],
)
def test_target_size(height, width, long_side, expected):
    size = target_size(height, width, long_side)
    assert size == expected
    assert all(side % 16 == 0 and (side // 2) % 8 == 0 for side in size)


def test_target_size_rejects_nonsense():
    with pytest.raises(InputShapeError):
        target_size(0, 10, 512)
    with pytest.raises(InputShapeError):
        target_size(10, 10, 8)


# ------------------------------------------------------------------------------------------------ grid


def test_window_grid_covers_the_photo_at_every_scale():
    height, width = 300, 400
    boxes = window_grid(height, width, scales=(0.8, 0.5))
    sides = sorted({b.width for b in boxes})
    assert sides == [150, 240]
    for box in boxes:
        assert box.width == box.height and 0 <= box.x0 and box.x1 <= width and 0 <= box.y0 and box.y1 <= height
    for side in sides:
        same = [b for b in boxes if b.width == side]
        covered = torch.zeros(height, width, dtype=torch.bool)
        for b in same:
            covered[b.y0 : b.y1, b.x0 : b.x1] = True
        assert covered.all(), side
        # neighbours overlap by about half a window
        xs = sorted({b.x0 for b in same})
        if len(xs) > 1:
            assert max(b - a for a, b in itertools.pairwise(xs)) <= side * 0.5 + 1
    assert len(boxes) == len(set(boxes))


def test_window_grid_small_photo_and_errors():
    assert window_grid(64, 64, scales=(1.0,)) == [Box(0, 0, 64, 64)]
    with pytest.raises(InputShapeError):
        window_grid(0, 10)
    with pytest.raises(InputShapeError):
        window_grid(10, 10, scales=(1.5,))
    with pytest.raises(InputShapeError):
        window_grid(10, 10, overlap=1.0)


# ------------------------------------------------------------------------------------------------ regions


def test_person_regions_join_overlapping_confident_windows():
    boxes = [Box(0, 0, 40, 40), Box(20, 0, 60, 40), Box(200, 0, 220, 20), Box(100, 100, 140, 140)]
    probs = [0.9, 0.7, 0.95, 0.3]
    regions = person_regions(boxes, probs, threshold=0.6)
    assert [r.box for r in regions] == [Box(0, 0, 60, 40), Box(200, 0, 220, 20)]  # largest first
    assert regions[0].windows == 2 and regions[0].score == pytest.approx(0.9)
    assert regions[1].windows == 1


def test_person_regions_threshold_and_link_rule():
    boxes = [Box(0, 0, 40, 40), Box(30, 0, 70, 40)]  # IoU 40/280 ≈ 0.14
    assert len(person_regions(boxes, [0.9, 0.9], threshold=0.6)) == 2
    assert len(person_regions(boxes, [0.9, 0.9], threshold=0.6, link_iou=0.1)) == 1
    assert person_regions(boxes, [0.59, 0.2], threshold=0.6) == []
    with pytest.raises(InputShapeError, match="2 windows but 1 scores"):
        person_regions(boxes, [0.9], threshold=0.6)


def test_person_regions_tie_on_area_prefers_the_higher_score():
    boxes = [Box(0, 0, 20, 20), Box(100, 0, 120, 20)]
    regions = person_regions(boxes, [0.7, 0.9], threshold=0.6)
    assert regions[0].box == Box(100, 0, 120, 20)


def near(box: Box, expected: Box, tolerance: int = 2) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(box.as_list(), expected.as_list(), strict=True))


def test_mask_regions_components_largest_first():
    mask = torch.zeros(1, 100, 200)
    mask[0, 10:90, 20:70] = 1.0  # big
    mask[0, 40:70, 150:180] = 1.0  # small
    mask[0, 0, 199] = 1.0  # speck, dropped
    regions = mask_regions(mask, 100, 200)  # labelled at 128 px: boxes within 2 px
    assert len(regions) == 2
    assert near(regions[0].box, Box(20, 10, 70, 90)) and near(regions[1].box, Box(150, 40, 180, 70))


def test_mask_regions_scales_to_the_photo_and_joins_diagonal_pixels():
    mask = torch.zeros(50, 50)
    mask[10:20, 10:20] = 1
    mask[20:30, 20:30] = 1  # touches the first one at a corner: one component
    regions = mask_regions(mask, 100, 100)
    assert [r.box for r in regions] == [Box(20, 20, 60, 60)]
    assert mask_regions(torch.zeros(1, 10, 10), 64, 64) == []
    with pytest.raises(InputShapeError, match="MASK"):
        mask_regions(torch.zeros(10), 64, 64)
