"""Stored activations as bands of rows: reads and writes across bands, release, and what a streamed
translation holds at once."""

import weakref

import pytest
import torch

from cyclegan_core import CycleGAN, ModelConfig

from cyclegan_core.engine import row_bands
from cyclegan_core.engine.row_bands import RowBands
from cyclegan_core.engine.streaming import translate_streamed
from cyclegan_core.engine.translation import translate_whole


def filled(reference: torch.Tensor, band_bytes: int, layout=torch.contiguous_format) -> RowBands:
    _, c, h, w = reference.shape
    bands = RowBands(c, h, w, torch.float16, torch.device("cpu"), layout, band_bytes=band_bytes)
    bands.write(0, 0, reference[..., :5, :])  # across bands, in pieces of any height
    bands.write(5, 0, reference[..., 5:, :w // 2])
    bands.write(5, w // 2, reference[..., 5:, w // 2:])
    return bands


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_reads_and_writes_across_bands(layout):
    torch.manual_seed(0)
    reference = torch.randn(1, 4, 23, 9).half().float()
    bands = filled(reference, band_bytes=4 * 9 * 2 * 3, layout=layout)  # 3 rows per band
    assert bands.rows == 3 and len(bands.bands) == 8
    for top, bottom, left, right in [(0, 23, 0, 9), (2, 4, 1, 8), (3, 6, 0, 9), (22, 23, 4, 5), (7, 7, 0, 9)]:
        got = bands.read(top, bottom, left, right, torch.float32, torch.channels_last)
        assert got.dtype == torch.float32 and got.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(got, reference[..., top:bottom, left:right], atol=0, rtol=0)
    with pytest.raises(IndexError):
        bands.read(20, 24, 0, 9, torch.float32)


def test_released_rows_are_freed_and_cannot_be_read():
    reference = torch.randn(1, 2, 10, 4).half().float()
    bands = filled(reference, band_bytes=2 * 4 * 2 * 4)  # 4 rows per band
    bands.release_above(5)  # rows 0–4: band 0 (rows 0–3) goes, band 1 (4–7) stays for rows 5–7
    assert bands.bands[0] is None and bands.bands[1] is not None
    torch.testing.assert_close(bands.read(5, 10, 0, 4, torch.float32), reference[..., 5:, :], atol=0, rtol=0)
    with pytest.raises(RuntimeError, match="released"):
        bands.read(4, 6, 0, 4, torch.float32)
    with pytest.raises(RuntimeError, match="released"):
        bands.write(0, 0, reference[..., :2, :])


def test_whole_crops_and_releases():
    reference = torch.randn(1, 3, 11, 7).half().float()
    bands = filled(reference, band_bytes=3 * 7 * 2 * 2)
    out = bands.whole(9, 5)
    assert out.dtype == torch.float16 and out.is_contiguous()
    torch.testing.assert_close(out.float(), reference[..., :9, :5], atol=0, rtol=0)
    assert bands.allocated() == []


def test_one_band_holds_a_small_activation_whole():
    bands = RowBands(64, 100, 100, torch.float16, torch.device("cpu"))
    assert bands.rows == 100 and len(bands.bands) == 1


@pytest.mark.parametrize("size, core", [((52, 40), 3), ((37, 61), 5)])
def test_translation_with_one_row_bands_equals_the_whole_pass(tiny_model, monkeypatch, size, core):
    """Bands of a single row: every window's read and write crosses bands, and every pass that
    releases its source does so row by row; the result is still the whole-image pass."""
    monkeypatch.setattr(row_bands, "BAND_BYTES", 1)
    torch.manual_seed(3)
    x = torch.rand(1, 3, *size) * 2 - 1
    whole = translate_whole(tiny_model.G_AB, x, "fp32")
    streamed = translate_streamed(tiny_model.G_AB, x, "fp32", core=core)
    torch.testing.assert_close(streamed, whole, atol=2e-5, rtol=0)


def test_a_streamed_translation_holds_one_large_activation_at_a_time(monkeypatch):
    """d128 is released as d256 is computed, the residual stream as u128 is, u128 as the output
    is: the stored bytes never exceed the residual stage's two 1/4-resolution activations (the
    size of d128 or u128) by more than a few bands. Whole buffers would hold d128 and the stream,
    or u128 and the output, together: 1.5× and more."""
    monkeypatch.setattr(row_bands, "BAND_BYTES", 1)
    live = weakref.WeakSet()  # the activations still referenced
    peak = [0]
    original = RowBands.band

    def band(self, index):
        live.add(self)
        result = original(self, index)
        held = sum(b.numel() * b.element_size() for bands in live for b in bands.bands if b is not None)
        peak[0] = max(peak[0], held)
        return result

    monkeypatch.setattr(RowBands, "band", band)
    torch.manual_seed(0)
    model = CycleGAN(ModelConfig(ngf=8, n_blocks=2))
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    translate_streamed(model.G_AB, x, "fp32", storage="fp32", core=8)
    quarter = 32 * 32 * 32 * 4  # 4·ngf channels at 1/4 resolution, fp32
    d128 = 16 * 64 * 64 * 4
    assert d128 == 2 * quarter
    assert 2 * quarter <= peak[0] <= 2 * quarter * 1.2, peak[0]
