"""A stored activation of a streamed translation, kept as bands of rows that are released once read.

Streaming (`streaming.py`) sweeps each pass over the image top to bottom. A pass that reads an
activation for the last time (d128 when d256 is computed from it, the residual stream when u128 is,
u128 when the output is) frees its rows as it goes, while its own output's rows are allocated as
they are written. So two large activations are never held whole at once: at 4096² with fp16
storage the streamed translation holds markedly less at any time than the whole tensors would
take (d128 and the residual stream together; benchmarks/README.md).

A band is one tensor of `rows` whole rows of at least `BAND_BYTES` (when the activation is that
large): above glibc's largest mmap threshold (32 MB), so a released band is returned to the
operating system at once rather than kept in the heap.
"""

from __future__ import annotations

import torch

BAND_BYTES = 64 << 20


class RowBands:
    """A 1×C×H×W activation as bands of whole rows, allocated when first written and released by
    `release_above`. Reads (`read`) copy into a new tensor of the caller's dtype and layout."""

    def __init__(self, channels: int, height: int, width: int, dtype: torch.dtype, device: torch.device,
                 layout: torch.memory_format = torch.contiguous_format, band_bytes: int | None = None):
        self.channels, self.height, self.width = channels, height, width
        band_bytes = band_bytes or BAND_BYTES
        self.dtype, self.device, self.layout = dtype, device, layout
        self.rows = max(1, min(height, -(-band_bytes // (channels * width * dtype.itemsize))))
        self.bands: list[torch.Tensor | None] = [None] * -(-height // self.rows)
        self.released = 0  # rows above this one are gone

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return 1, self.channels, self.height, self.width

    def band(self, index: int) -> torch.Tensor:
        """Band `index` (rows index·rows … ), allocated on first use."""
        if self.bands[index] is None:
            if min((index + 1) * self.rows, self.height) <= self.released:
                raise RuntimeError(f"rows {index * self.rows}… were released and cannot be used again")
            rows = min(self.rows, self.height - index * self.rows)
            self.bands[index] = torch.empty(1, self.channels, rows, self.width, dtype=self.dtype,
                                            device=self.device, memory_format=self.layout)
        return self.bands[index]

    def pieces(self, top: int, bottom: int):
        """(band, first row in the band, last row + 1 in the band, offset from `top`) covering rows
        [top, bottom)."""
        if not 0 <= top <= bottom <= self.height:
            raise IndexError(f"rows {top}:{bottom} outside 0:{self.height}")
        if top < self.released:
            raise RuntimeError(f"rows from {top} were read after rows above {self.released} were released")
        row = top
        while row < bottom:
            index, start = divmod(row, self.rows)
            end = min(self.rows, start + bottom - row)
            yield self.band(index), start, end, row - top
            row += end - start

    def read(self, top: int, bottom: int, left: int, right: int, dtype: torch.dtype,
             layout: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
        """A copy of rows [top, bottom) × columns [left, right), as `dtype` in `layout`."""
        first = next(self.pieces(top, bottom), None)
        if first is not None and first[2] - first[1] == bottom - top:  # inside one band: one copy
            band, start, end, _ = first
            return band[..., start:end, left:right].to(dtype).contiguous(memory_format=layout)
        out = torch.empty(1, self.channels, bottom - top, right - left, dtype=dtype, device=self.device,
                          memory_format=layout)
        for band, start, end, offset in self.pieces(top, bottom):
            out[..., offset:offset + end - start, :].copy_(band[..., start:end, left:right])
        return out

    def write(self, top: int, left: int, value: torch.Tensor) -> None:
        """Rows [top, top + h) × columns [left, left + w) ← `value` (1×C×h×w, converted)."""
        right = left + value.shape[-1]
        for band, start, end, offset in self.pieces(top, top + value.shape[-2]):
            band[..., start:end, left:right].copy_(value[..., offset:offset + end - start, :])

    def release_above(self, row: int) -> None:
        """Free every band wholly above `row`: no later read may touch those rows."""
        self.released = max(self.released, min(row, self.height))
        gone = len(self.bands) if self.released == self.height else self.released // self.rows
        for index in range(gone):
            self.bands[index] = None

    def allocated(self) -> list[torch.Tensor]:
        """The bands that hold rows, top to bottom (for in-place updates band by band)."""
        return [band for band in self.bands if band is not None]

    def whole(self, height: int | None = None, width: int | None = None) -> torch.Tensor:
        """The top-left `height` × `width` (default: all) as one tensor, and this activation
        released (its bands go as they are copied, so both are never held whole)."""
        height, width = height or self.height, width or self.width
        out = torch.empty(1, self.channels, height, width, dtype=self.dtype, device=self.device)
        for index in range(-(-height // self.rows)):
            top = index * self.rows
            band = self.band(index)[..., :min(self.rows, height - top), :width]
            out[..., top:top + band.shape[-2], :].copy_(band)
            self.bands[index] = None
        self.release_above(self.height)
        return out
