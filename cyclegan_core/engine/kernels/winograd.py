"""3×3 stride-1 convolutions as Winograd F(4×4, 3×3) transforms and batched matrix products.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): each 4×4 block of
outputs comes from a 6×6 tile of inputs as Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, which takes 36
multiplications per input channel instead of 144. Over all channels the elementwise products
become 36 matrix products (one per tile position): [tiles × C] · [C × K]. Those run through the
BLAS (MKL on x86), at the CPU's full fp32 vector width (AVX-512 where present), which is where the
speed comes from: the residual blocks' convs (≈88 % of the generator's arithmetic) take 4×
fewer multiplications. Accuracy: an error per conv at the level of fp32 rounding (larger than
oneDNN's direct conv's), far below one grey level on the whole trained generator
(benchmarks/README.md).

The weight transform (G g Gᵀ, 4× the weights' size) costs more than a whole small convolution,
so `TransformedWeights` keeps it per conv module while its weights are unchanged. The activations
are channels-last (each pixel's channels contiguous), which makes the tile gather and scatter
plain row copies; tiles are processed in bands of rows that stay in cache.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# Lavin & Gray's F(4×4, 3×3) matrices, for cross-correlation as torch's conv2d computes it.
_BT = torch.tensor([[4, 0, -5, 0, 1, 0],
                    [0, -4, -4, 1, 1, 0],
                    [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0],
                    [0, 2, -1, -2, 1, 0],
                    [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
_G = torch.tensor([[1 / 4, 0, 0],
                   [-1 / 6, -1 / 6, -1 / 6],
                   [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6],
                   [1 / 24, -1 / 12, 1 / 6],
                   [0, 0, 1]], dtype=torch.float64)
_AT = torch.tensor([[1, 1, 1, 1, 1, 0],
                    [0, 1, -1, 2, -2, 0],
                    [0, 1, 1, 4, 4, 0],
                    [0, 1, -1, 8, -8, 1]], dtype=torch.float64)
# The 2-D transforms of a flattened tile, as one matrix each: (Bᵀ ⊗ Bᵀ) vec(d), (Aᵀ ⊗ Aᵀ) vec(M).
INPUT_TRANSFORM = torch.kron(_BT, _BT).float()  # 36 × 36
OUTPUT_TRANSFORM = torch.kron(_AT, _AT).float()  # 16 × 36
TILE, OUT = 6, 4  # input tile and output block sides
# Tiles per band: the band's transformed input (36 × tiles × C fp32, ≈9 MB at 256 channels) and
# products stay in cache. 128 ran fastest of the band sizes tried (benchmarks/README.md).
BAND_TILES = 128


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """K×C×3×3 conv weights → 36×C×K (G g Gᵀ per channel pair, laid out for the products),
    computed in float64, returned in float32."""
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f"Winograd F(4×4, 3×3) takes 3×3 kernels, not {tuple(weight.shape[-2:])}")
    g = _G.to(weight.device)
    u = g @ weight.detach().double() @ g.T  # K×C×6×6
    return u.permute(2, 3, 1, 0).reshape(TILE * TILE, weight.shape[1], weight.shape[0]).float().contiguous()


def conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """An unpadded stride-1 3×3 convolution of 1×C×(H+2)×(W+2) fp32 `x` (any memory format) with
    transformed weights `u` (`transform_weight`): 1×K×H×W, channels-last. Equal to
    `F.conv2d(x, weight, bias)` up to float rounding."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected a 1×C×H×W tensor, got shape {tuple(x.shape)}")
    channels, height, width = x.shape[1], x.shape[2] - 2, x.shape[3] - 2
    if u.shape[1] != channels:
        raise ValueError(f"input has {channels} channels; the weights expect {u.shape[1]}")
    if height < 1 or width < 1:
        raise ValueError(f"input {tuple(x.shape[-2:])} is smaller than the 3×3 kernel")
    kernels = u.shape[2]
    rows, columns = -(-height // OUT), -(-width // OUT)  # tiles down and across
    pixels = x[0].permute(1, 2, 0)  # H×W×C view; contiguous when x is channels-last
    extra_h, extra_w = rows * OUT + 2 - x.shape[2], columns * OUT + 2 - x.shape[3]
    if extra_h or extra_w:  # whole tiles: zeros below and right, cropped from the output
        pixels = F.pad(pixels, (0, 0, 0, extra_w, 0, extra_h))
    out = torch.empty(1, kernels, height, width, device=x.device, memory_format=torch.channels_last)
    out_pixels = out[0].permute(1, 2, 0)  # H×W×K view of the output
    band = max(1, BAND_TILES // columns)
    for top in range(0, rows, band):
        count = min(band, rows - top)
        window = pixels[top * OUT:(top + count) * OUT + 2]
        tiles = count * columns
        # d: 36 × tiles × C, one row per tile position (gathered as whole-pixel copies).
        d = window.unfold(0, TILE, OUT).unfold(1, TILE, OUT).permute(3, 4, 0, 1, 2).reshape(TILE * TILE, -1)
        v = (INPUT_TRANSFORM.to(x.device) @ d).view(TILE * TILE, tiles, channels)
        m = torch.bmm(v, u)  # 36 × tiles × K
        y = (OUTPUT_TRANSFORM.to(x.device) @ m.view(TILE * TILE, -1)).view(OUT, OUT, count, columns, kernels)
        block = y.permute(2, 0, 3, 1, 4).reshape(count * OUT, columns * OUT, kernels)
        top_px, bottom_px = top * OUT, min((top + count) * OUT, height)
        out_pixels[top_px:bottom_px].copy_(block[:bottom_px - top_px, :width])
    if bias is not None:
        out.add_(bias.view(1, -1, 1, 1))
    return out


CACHE_BYTES = 384 << 20  # transformed weights kept: two 9-block generators' worth (≈170 MB each)


class TransformedWeights:
    """The transformed weights of recently used conv modules, least recently used dropped beyond
    `capacity_bytes` (≈9.4 MB per 256-channel conv, 4× its weights). A module's entry is redone
    when its weight changes (training, loading: the tensor's version counter or storage moves) and
    goes when the module is garbage-collected. Thread-safe; two threads may both compute a missing
    entry."""

    def __init__(self, capacity_bytes: int = CACHE_BYTES):
        self.capacity = capacity_bytes
        self._entries: OrderedDict[int, tuple[tuple, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conv: nn.Conv2d) -> torch.Tensor:
        """`transform_weight(conv.weight)`, computed once while the weight is unchanged."""
        weight = conv.weight
        stamp = (weight._version, weight.data_ptr(), weight.device, weight.dtype, tuple(weight.shape))
        key = id(conv)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == stamp:
                self._entries.move_to_end(key)
                return entry[1]
        with torch.no_grad():
            transformed = transform_weight(weight)
        with self._lock:
            if key not in self._entries:  # forgotten when the module goes (before its id can be reused)
                weakref.finalize(conv, self._forget, key)
            self._entries[key] = (stamp, transformed)
            self._entries.move_to_end(key)
            while self.bytes() > self.capacity and len(self._entries) > 1:
                self._entries.popitem(last=False)
        return transformed

    def _forget(self, key: int) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def bytes(self) -> int:
        """Memory the kept transforms take."""
        return sum(entry[1].numel() * entry[1].element_size() for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


_TRANSFORMED = TransformedWeights()


def cached(conv: nn.Conv2d) -> torch.Tensor:
    """`conv`'s transformed weights from the process-wide cache (`TransformedWeights`)."""
    return _TRANSFORMED.get(conv)
