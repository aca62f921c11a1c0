"""synthetic.py: the built-in domains are images in [-1, 1], seeded, varied, and differ between A
and B in exactly the property each task names."""

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cyclegan_core.teaching.synthetic import SYNTHETIC_TASKS, examples, get_task


def seeded(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", list(SYNTHETIC_TASKS))
@pytest.mark.parametrize("size", [32, 48, 64])
def test_images_are_batches_in_range_at_any_size(name, size):
    task = SYNTHETIC_TASKS[name]
    for domain in ("A", "B"):
        x = task.sample(domain, 5, size, seeded(0))
        assert x.shape == (5, 3, size, size) and x.dtype == torch.float32
        assert x.min() >= -1.0 and x.max() <= 1.0
        assert x.min() < 0.0 < x.max()  # real contrast, not a blank image


@pytest.mark.parametrize("name", list(SYNTHETIC_TASKS))
def test_same_seed_same_images_and_every_image_differs(name):
    task = SYNTHETIC_TASKS[name]
    first, again, other = (task.sample("A", 12, 32, seeded(s)) for s in (3, 3, 4))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    distances = torch.cdist(first.flatten(1), first.flatten(1), p=1)
    assert (distances + torch.eye(12) * 1e9).min() > 10.0  # no two images of a batch alike


@pytest.mark.parametrize("name", list(SYNTHETIC_TASKS))
def test_every_image_has_a_white_frame(name):
    x = SYNTHETIC_TASKS[name].sample("B", 4, 32, seeded(1))
    for border in (x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]):
        assert torch.all(border == 1.0)


def test_colour_task_turns_red_objects_blue_and_keeps_the_rest():
    pairs = SYNTHETIC_TASKS["red_blue"].pairs(16, 32, seeded(0))
    inside = (pairs.mask_a > 0.9).expand_as(pairs.a)
    red, blue = pairs.a[:, 0][inside[:, 0]], pairs.a[:, 2][inside[:, 0]]
    assert (red - blue).mean() > 1.0  # A's objects: red ≫ blue (in [-1, 1] units)
    red, blue = pairs.b[:, 0][inside[:, 0]], pairs.b[:, 2][inside[:, 0]]
    assert (blue - red).mean() > 1.0  # B's objects: blue ≫ red
    assert torch.equal(pairs.mask_a, pairs.mask_b)  # the same shapes in the same places
    outside = pairs.mask_a == 0
    assert torch.equal(pairs.a[outside.expand_as(pairs.a)], pairs.b[outside.expand_as(pairs.b)])


def anisotropy(images, masks):
    """Per image, how one-directional the texture inside the objects is (the gradients' structure
    tensor): 1 for stripes (all gradients across them), near 0 for a pattern with no direction."""
    inner = (-F.max_pool2d(-masks, 3, 1, 1) > 0.99)[..., 1:-1, 1:-1].float()  # away from the edges
    gx = images[..., 1:-1, 2:] - images[..., 1:-1, :-2]
    gy = images[..., 2:, 1:-1] - images[..., :-2, 1:-1]
    jxx, jyy, jxy = ((g * h * inner).sum((1, 2, 3)) for g, h in ((gx, gx), (gy, gy), (gx, gy)))
    trace, det = jxx + jyy, jxx * jyy - jxy ** 2
    return 2 * torch.sqrt((trace / 2) ** 2 - det) / trace


def test_texture_task_changes_stripes_into_dots_in_the_same_outline():
    pairs = SYNTHETIC_TASKS["stripes_dots"].pairs(16, 32, seeded(0))
    assert torch.equal(pairs.mask_a, pairs.mask_b)
    inside = (pairs.mask_a > 0.9).expand_as(pairs.a)
    assert (pairs.a - pairs.b).abs()[inside].mean() > 0.2
    outside = (pairs.mask_a == 0).expand_as(pairs.a)
    assert torch.equal(pairs.a[outside], pairs.b[outside])
    assert anisotropy(pairs.a, pairs.mask_a).min() > 0.6  # stripes: one direction
    assert anisotropy(pairs.b, pairs.mask_b).max() < 0.3  # dots: none


def test_shape_task_changes_circles_into_squares_of_the_same_colour():
    task = SYNTHETIC_TASKS["circles_squares"]
    pairs = task.pairs(16, 32, seeded(0))
    assert torch.all(pairs.mask_b.sum((1, 2, 3)) > pairs.mask_a.sum((1, 2, 3)))  # squares cover more
    assert float((pairs.mask_a - pairs.mask_b).clamp_min(0).max()) < 0.35  # each circle inside its square
    corners = ((pairs.mask_b > 0.9) & (pairs.mask_a < 0.1)).sum((1, 2, 3))
    assert torch.all(corners >= 4)
    outside = ((pairs.mask_a == 0) & (pairs.mask_b == 0)).expand_as(pairs.a)
    assert torch.equal(pairs.a[outside], pairs.b[outside])
    layout = task.layout(64, seeded(1))
    (a, mask_a), (b, mask_b) = task.draw("A", layout, 32), task.draw("B", layout, 32)
    alone = layout.present.sum(1) == 1  # images of one object: nothing overlaps
    both = ((mask_a == 1) & (mask_b == 1)).expand_as(a)[alone]
    assert torch.equal(a[alone][both], b[alone][both])  # the circle is the square's colour


def test_objects_vary_in_number_position_and_size():
    pairs = SYNTHETIC_TASKS["red_blue"].pairs(200, 32, seeded(0))
    layout = SYNTHETIC_TASKS["red_blue"].layout(200, seeded(0))
    assert set(layout.present.sum(1).tolist()) == {1, 2, 3}
    assert layout.centres.std(0).min() > 0.1 and layout.radii.std() > 0.02
    coverage = pairs.mask_a.mean((1, 2, 3))
    assert coverage.max() > 2 * coverage.min()


def test_examples_are_the_same_pil_images_for_the_same_seed():
    images = examples("circles_squares", "B", n=3, size=48, seed=7)
    assert len(images) == 3 and all(isinstance(i, Image.Image) and i.size == (48, 48) for i in images)
    again = examples(SYNTHETIC_TASKS["circles_squares"], "B", n=3, size=48, seed=7)
    assert [i.tobytes() for i in images] == [i.tobytes() for i in again]
    assert images[0].tobytes() != images[1].tobytes()


def test_bad_requests_are_clear_errors():
    with pytest.raises(ValueError, match="unknown synthetic task"):
        get_task("zebras")
    with pytest.raises(ValueError, match="domain"):
        SYNTHETIC_TASKS["red_blue"].sample("C", 1)
    with pytest.raises(ValueError, match="px"):
        SYNTHETIC_TASKS["red_blue"].sample("A", 1, size=4)
    with pytest.raises(ValueError, match="at least 1"):
        SYNTHETIC_TASKS["red_blue"].sample("A", 0)


def test_a_thousand_images_in_one_batch():
    """Drawn as one batch of tensors (how fast: 0.7 s on a busy 2-core Xeon, a measurement, not a test)."""
    task = SYNTHETIC_TASKS["stripes_dots"]  # the most expensive to draw
    images = task.sample("A", 1000, 32, seeded(0))
    assert images.shape == (1000, 3, 32, 32) and images.dtype == torch.float32
    assert float(images.min()) >= -1 and float(images.max()) <= 1
    assert len({hash(image.numpy().tobytes()) for image in images}) == 1000  # every one its own layout
    assert torch.equal(images, task.sample("A", 1000, 32, seeded(0)))  # seeded
