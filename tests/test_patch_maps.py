"""The discriminator's view (patch_maps.py): PatchGAN geometry, maps, D-only training, storage."""

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_core import ModelFormatError, TrainConfig, train
from cyclegan_core.teaching.patch_maps import (DISCRIMINATORS_NAME, find_discriminators, mark_patch, overlay,
                                          patch_box, patch_grid_size, patch_scores,
                                          receptive_field, save_discriminators, train_discriminators)
from cyclegan_core.nn.networks import NLayerDiscriminator


def test_the_papers_patchgan_sees_70_pixels():
    assert receptive_field(3) == 70
    assert receptive_field(2) == 34 and receptive_field(1) == 16


@pytest.mark.parametrize("n_layers", [1, 2, 3])
@pytest.mark.parametrize("size", [(32, 32), (64, 100), (256, 256), (75, 130)])
def test_map_size_is_what_the_architecture_implies(n_layers, size):
    D = NLayerDiscriminator(ndf=4, n_layers=n_layers)
    out = patch_scores(D, torch.zeros(1, 3, *size))
    assert tuple(out.shape) == patch_grid_size(*size, n_layers)
    if n_layers == 3 and size == (256, 256):
        assert tuple(out.shape) == (30, 30)


def test_receptive_field_box_matches_the_gradient():
    """The pixels whose change moves output (r, c) are exactly those in its box (InstanceNorm's
    image-wide statistics are taken out: the field is what the convolutions see)."""
    D = NLayerDiscriminator(ndf=4, n_layers=3)
    for i, layer in enumerate(D.model):
        if isinstance(layer, torch.nn.InstanceNorm2d):
            D.model[i] = torch.nn.Identity()
    torch.nn.init.constant_(D.model[0].weight, 0.1)  # no zero weights: every input in the field counts
    x = torch.randn(1, 3, 160, 160, requires_grad=True)
    r, c = 6, 9
    D(x)[0, 0, r, c].backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(1)[0], as_tuple=True)
    left, top, right, bottom = patch_box(r, c, 3)
    assert (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1) == (left, top, right, bottom)
    assert right - left == 70


def test_overlay_and_marked_patch_have_the_picture_size():
    x = torch.zeros(1, 3, 64, 96)
    scores = torch.ones(6, 10)
    scores[2, 7] = -1
    marked, where = mark_patch(overlay(x, scores), scores)
    assert marked.size == (96, 64) and where == (2, 7)
    corner, _ = mark_patch(Image.new("RGB", (96, 64), "white"), scores, at=(0, 0))  # its field starts off the picture
    drawn = np.nonzero(np.asarray(corner).min(axis=2) < 250)
    left, top, right, bottom = patch_box(0, 0, 3)
    assert left < 0 and top < 0  # the whole field reaches into the padding; its outline is drawn on the picture
    assert (drawn[1].min(), drawn[0].min()) == (0, 0) and (drawn[1].max(), drawn[0].max()) == (right - 1, bottom - 1)


def _pictures(colour, n=3, size=48):
    return [Image.new("RGB", (size + 8 * i, size), colour) for i in range(n)]


def test_d_only_training_learns_to_tell_real_from_generated_and_is_kept(tmp_path):
    # G paints everything grey; real A is red, real B is blue: D should learn real from fake quickly.
    grey = lambda t: torch.zeros_like(t)  # noqa: E731
    ds = train_discriminators(grey, grey, _pictures("red"), _pictures("blue"), seconds=30, max_steps=40, crop=32,
                              ndf=8, n_layers=2)
    real_b = torch.tensor([-1.0, -1.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 48, 48)
    assert float(patch_scores(ds.D_B, real_b).mean()) > float(patch_scores(ds.D_B, torch.zeros(1, 3, 48, 48)).mean()) + 0.3
    assert "40 steps" in ds.origin
    folder = tmp_path / "model"
    assert save_discriminators(ds, folder).name == DISCRIMINATORS_NAME
    again = find_discriminators(folder)
    assert again.origin == ds.origin and again.n_layers == 2
    assert torch.equal(patch_scores(again.D_B, real_b), patch_scores(ds.D_B, real_b))


def test_d_training_stops_at_its_time_budget(monkeypatch):
    """No step begins once `seconds` have passed. Its clock here: 0.4 s per step done, so a 1 s budget
    has room for three steps whatever this machine's speed."""
    import types

    from cyclegan_core.teaching import patch_maps
    reports = []
    monkeypatch.setattr(patch_maps, "time", types.SimpleNamespace(perf_counter=lambda: 0.4 * len(reports)))
    same = lambda t: t  # noqa: E731
    ds = train_discriminators(same, same, _pictures("red", 1), _pictures("blue", 1), seconds=1.0, crop=32, ndf=8,
                              progress=reports.append)
    assert [report.step for report in reports] == [1, 2, 3] and "(3 steps)" in ds.origin


def test_d_training_needs_both_domains():
    with pytest.raises(ValueError, match="each domain"):
        train_discriminators(lambda t: t, lambda t: t, [], _pictures("blue"), seconds=1)


def test_a_run_keeps_its_discriminators(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, colour in ((a, "red"), (b, "blue")):
        folder.mkdir()
        for i, image in enumerate(_pictures(colour, 2, 40)):
            image.save(folder / f"{i}.png")
    config = TrainConfig(steps=2, crop_size=32, ngf=8, n_blocks=1, ndf=8, n_layers_D=2, preview_every=100,
                         precision="fp32")
    events = list(train(config, a, b, tmp_path / "run"))
    ds = find_discriminators(events[-1].path)
    assert ds is not None and "from its training (step 2)" in ds.origin and ds.ndf == 8 and ds.n_layers == 2
    assert find_discriminators(tmp_path / "a") is None


def test_a_foreign_discriminator_file_is_refused(tmp_path):
    (tmp_path / DISCRIMINATORS_NAME).write_bytes(b"not safetensors")
    with pytest.raises(ModelFormatError, match="not a readable"):
        find_discriminators(tmp_path)
