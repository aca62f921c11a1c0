"""image_pool.py: the history of generated images (Sec. 4)."""

import torch

from cyclegan_core.nn.image_pool import ImagePool


def test_filling_returns_what_it_got_then_mixes_in_history():
    torch.manual_seed(0)
    pool = ImagePool(3)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returns what it got
    later = torch.full((20, 1, 1, 1), 9.0)
    out = pool.query(later)
    assert out.shape == later.shape
    assert {float(v) for v in out.flatten()} <= {0.0, 1.0, 2.0, 9.0}
    assert any(float(v) != 9.0 for v in out.flatten()), "old images are sometimes returned"
    assert any(float(v) == 9.0 for v in out.flatten()), "new images are sometimes returned"
    assert len(pool.images) == 3  # bounded


def test_returned_history_is_replaced_by_the_new_image():
    torch.manual_seed(1)
    pool = ImagePool(1)
    pool.query(torch.zeros(1, 1, 1, 1))
    returned = [float(pool.query(torch.full((1, 1, 1, 1), float(i)))) for i in range(1, 30)]
    # Each step returns either the new value i or the stored one, which is the last value not returned.
    stored = 0.0
    for i, value in enumerate(returned, start=1):
        assert value in (i, stored)
        if value == stored:
            stored = float(i)


def test_state_round_trip_and_size_zero():
    torch.manual_seed(0)
    pool = ImagePool(3)
    pool.query(torch.rand(5, 2, 4, 4))
    restored = ImagePool(3)
    restored.load_state(pool.state())
    assert torch.equal(restored.state(), pool.state()) and len(restored.images) == 3
    empty = ImagePool(3)
    empty.load_state(ImagePool(3).state())
    assert empty.images == []
    later = torch.rand(4, 2, 4, 4)
    assert torch.equal(ImagePool(0).query(later), later)


def test_a_restored_pool_follows_the_device_and_dtype_of_the_images_it_is_given():
    """A resume restores the pool from the state file (CPU, float32); the generated images may live on
    a GPU (here the `meta` device stands in for it) or be float64: the pool moves to them."""
    torch.manual_seed(0)
    restored = ImagePool(2)
    restored.load_state(torch.rand(2, 3, 4, 4))
    out = restored.query(torch.zeros(6, 3, 4, 4, device="meta"))
    assert out.device.type == "meta" and out.shape == (6, 3, 4, 4)
    assert all(image.device.type == "meta" for image in restored.images)
    restored = ImagePool(2)
    restored.load_state(torch.rand(2, 3, 4, 4))
    kept = restored.state().double()
    out = restored.query(torch.full((6, 3, 4, 4), 7.0, dtype=torch.float64))
    assert out.dtype == torch.float64 and all(image.dtype == torch.float64 for image in restored.images)
    assert any(torch.equal(row, kept[i:i + 1]) for row in out.split(1) for i in range(2))  # old images came back
