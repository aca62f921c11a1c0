"""A generator as an ONNX graph, written node by node from its modules (no tracing, no exporter).

The graph takes a 1×3×H×W image in [-1, 1] of any height and width (at least 1×1) and returns the
translation at the same size, float32 in and out. It pads the way `images.pad_to_multiple` does
(bottom/right up to a multiple of 4 and at least 8; reflection, or edge replication where a side
is too thin to reflect), runs the ResNet generator (c7s1-64, d128, d256, n×R256, u128, u64,
c7s1-3, Tanh: `networks.ResnetGenerator`) and crops back. InstanceNorm is ONNX's
`InstanceNormalization`, which is the inference computation (the image's own statistics; there
are no running statistics to choose between).

`precision="fp16"` stores the weights and computes in float16 (half the file; what browsers and
GPUs run fastest) with each InstanceNorm's statistics taken in float32: a whole image's sum of
squares overflows float16. Written directly, a graph takes milliseconds to build, so backends
(`backends.py`) can build one for each new set of weights.

`live=True` (fp32) is the graph for a webcam whose InstanceNorm statistics stay locked per shot, as
`shots.translate_with_statistics` does in torch (one frame's statistics shared by the frames of its
shot, so the colours do not flicker). Each norm is written out (ReduceMean of x and of (x − mean)²:
the image's own mean and population variance over H and W), and takes
m = own + w·(shared − own) for its mean and variance, w = input `use_shared` (0: the ordinary
whole-image norm; 1: the statistics given in input `shared`). Output `statistics` is the image's own
ones, to be fed back as `shared`. Both are float32 [N] (`statistics_length`): for each norm in module
order, its C means then its C variances (`shots.frame_statistics` flattened). Batch 1.

`own_statistics=False` (live only) is the graph for statistics that are always given (a video's shots
on a runtime: `backends.run_shared`): inputs `image` and `shared`, output `translated`; each norm is
y = x·gain + bias with gain and bias made per channel from `shared`. The image's own statistics are
never computed (two reductions over every activation less: ≈20 % faster in OpenVINO's bf16 pass at
256²–512², benchmarks/README.md, `video_speed.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from torch import nn

if TYPE_CHECKING:
    import onnx

OPSET = 17
PRECISIONS = ("fp32", "fp16")
INPUT, OUTPUT = "image", "translated"
INPUT_SHARED, INPUT_USE_SHARED, OUTPUT_STATISTICS = "shared", "use_shared", "statistics"  # live graph only


def statistics_length(generator: nn.Module) -> int:
    """N of the live graph's `shared` and `statistics`: a mean and a variance per channel of every
    InstanceNorm."""
    return 2 * sum(m.num_features for m in generator.modules() if isinstance(m, nn.InstanceNorm2d))


class GraphWriter:
    """Nodes and initializers of one graph, with fresh names. (`onnx` is imported when a graph is
    written: the package is optional for translation, `backends.py`.)"""

    def __init__(self, dtype: np.dtype):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.dtype = dtype
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0
        self.live = False  # live graph: each norm mixes its own statistics with `shared` (module docstring)
        self.statistics: list[str] = []  # live: each norm's own means and variances, [C] each, in order
        self.shared_offset = 0  # live: where the next norm's statistics start in `shared`
        self.own_statistics = True  # live: each norm computes the image's own (else `shared` only)

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, array: np.ndarray) -> str:
        name = self.name(stem)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def weight(self, stem: str, tensor) -> str:
        return self.constant(stem, tensor.detach().cpu().float().numpy().astype(self.dtype))

    def node(self, op: str, inputs: list[str], stem: str | None = None, **attributes) -> str:
        output = self.name(stem or op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attributes))
        return output


def generator_graph(generator: nn.Module, precision: str = "fp32", live: bool = False,
                    own_statistics: bool = True) -> onnx.ModelProto:
    """`generator` (a `ResnetGenerator`, in eval mode) as an ONNX model with dynamic height and
    width; `live`: the graph with shared statistics (fp32 only); `own_statistics=False`: the live
    graph that only takes them. See the module docstring. Metadata is added by the caller
    (`cyclegan_core.export`)."""
    from onnx import TensorProto, helper
    if precision not in PRECISIONS:
        raise ValueError(f"unknown ONNX precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if live and precision != "fp32":
        raise ValueError("the live ONNX graph is fp32 only (its statistics are float32 inputs and outputs)")
    dtype = np.float16 if precision == "fp16" else np.float32
    g = GraphWriter(dtype)
    g.live, g.own_statistics = live, own_statistics
    height_width, padded = _pad_to_multiple(g, INPUT)
    x = g.node("Cast", [padded], to=TensorProto.FLOAT16) if dtype == np.float16 else padded
    x = _layers(g, list(generator.model), x)
    if dtype == np.float16:
        x = g.node("Cast", [x], to=TensorProto.FLOAT)
    starts = g.constant("zeros2", np.zeros(2, np.int64))
    axes = g.constant("axes_hw", np.array([2, 3], np.int64))
    g.nodes.append(helper.make_node("Slice", [x, starts, height_width, axes], [OUTPUT], name="crop"))
    shape = [1 if live else "batch", 3, "height", "width"]
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, shape)]
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, shape)]
    if live:
        length = statistics_length(generator)
        if g.shared_offset != length:
            raise ValueError("cannot write the live graph: some InstanceNorm lies outside the generator's layers")
        inputs.append(helper.make_tensor_value_info(INPUT_SHARED, TensorProto.FLOAT, [length]))
        if own_statistics:
            g.nodes.append(helper.make_node("Concat", g.statistics, [OUTPUT_STATISTICS], name="statistics", axis=0))
            inputs.append(helper.make_tensor_value_info(INPUT_USE_SHARED, TensorProto.FLOAT, [1]))
            outputs.append(helper.make_tensor_value_info(OUTPUT_STATISTICS, TensorProto.FLOAT, [length]))
    graph = helper.make_graph(g.nodes, "cyclegan_generator_live" if live else "cyclegan_generator",
                              inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="cyclegan-studio")
    model.ir_version = 8  # what every current runtime reads (onnxruntime, OpenVINO, onnxruntime-web)
    return model


def _pad_to_multiple(g: GraphWriter, image: str) -> tuple[str, str]:
    """`images.pad_to_multiple` in the graph: returns (the input's [H, W], the padded image).

    Padding is a gather of rows, then of columns, by index: reflected indices where every side is
    thicker than its padding, else replicated edge indices (as `pad_to_multiple`). An index
    gather needs no conditional subgraph (an `If` node made OpenVINO 2026.4's first pass return zeros)."""
    shape = g.node("Shape", [image])
    height_width = g.node("Slice", [shape, g.constant("two", np.array([2], np.int64)),
                                    g.constant("four", np.array([4], np.int64))], "height_width")
    one, three, four, eight = (g.constant(f"c{v}", np.array(v, np.int64)) for v in (1, 3, 4, 8))
    sides = {}
    for axis in (2, 3):
        size = g.node("Gather", [shape, g.constant("axis", np.array(axis, np.int64))], "size")
        rounded = g.node("Mul", [g.node("Div", [g.node("Add", [size, three]), four]), four])
        target = g.node("Max", [rounded, eight])
        thick = g.node("Greater", [g.node("Sub", [size, g.node("Sub", [target, size])]),
                                   g.constant("zero", np.array(0, np.int64))])  # side > its padding
        sides[axis] = size, target, thick
    reflectable = g.node("And", [sides[2][2], sides[3][2]])
    x = image
    for axis, (size, target, _) in sides.items():
        index = g.node("Range", [g.constant("zero", np.array(0, np.int64)), target, one], "index")
        last = g.node("Sub", [size, one])
        mirrored = g.node("Sub", [g.node("Add", [last, last]), index])  # 2(n − 1) − i past the edge
        reflected = g.node("Where", [g.node("Less", [index, size]), index, mirrored])
        replicated = g.node("Min", [index, last])
        x = g.node("Gather", [x, g.node("Where", [reflectable, reflected, replicated])], "pad", axis=axis)
    return height_width, x


def _layers(g: GraphWriter, layers: list[nn.Module], x: str) -> str:
    for layer in layers:
        x = _layer(g, layer, x)
    return x


def _layer(g: GraphWriter, layer: nn.Module, x: str) -> str:
    if isinstance(getattr(layer, "conv_block", None), nn.Sequential):  # R256: x + F(x)
        return g.node("Add", [x, _layers(g, list(layer.conv_block), x)], "residual")
    if isinstance(layer, nn.Sequential):
        return _layers(g, list(layer), x)
    if isinstance(layer, nn.ReflectionPad2d):
        left, right, top, bottom = layer.padding
        pads = g.constant("pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))
        return g.node("Pad", [x, pads], "reflection_pad", mode="reflect")
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        if layer.groups != 1 or layer.dilation != (1, 1) or layer.padding_mode != "zeros":
            raise ValueError(f"cannot write {layer} as ONNX: only plain convolutions appear in the generator")
        inputs = [x, g.weight("weight", layer.weight)]
        if layer.bias is not None:
            inputs.append(g.weight("bias", layer.bias))
        attributes = {"kernel_shape": list(layer.kernel_size), "strides": list(layer.stride),
                      "pads": [*layer.padding, *layer.padding]}
        if isinstance(layer, nn.ConvTranspose2d):
            return g.node("ConvTranspose", inputs, "conv_transpose", output_padding=list(layer.output_padding),
                          **attributes)
        return g.node("Conv", inputs, "conv", **attributes)
    if isinstance(layer, nn.InstanceNorm2d):
        if layer.track_running_stats:
            raise ValueError("cannot write an InstanceNorm with running statistics as ONNX")
        channels = layer.num_features
        scale = layer.weight.detach().float().numpy() if layer.affine else np.ones(channels, np.float32)
        shift = layer.bias.detach().float().numpy() if layer.affine else np.zeros(channels, np.float32)
        if g.live:
            return _live_norm(g, x, channels, scale, shift, float(layer.eps))
        if g.dtype == np.float16:  # statistics in float32 (see the module docstring)
            from onnx import TensorProto
            wide = g.node("Cast", [x], to=TensorProto.FLOAT)
            normed = g.node("InstanceNormalization", [wide, g.constant("scale", scale), g.constant("shift", shift)],
                            "instance_norm", epsilon=float(layer.eps))
            return g.node("Cast", [normed], to=TensorProto.FLOAT16)
        return g.node("InstanceNormalization", [x, g.constant("scale", scale), g.constant("shift", shift)],
                      "instance_norm", epsilon=float(layer.eps))
    if isinstance(layer, nn.ReLU):
        return g.node("Relu", [x])
    if isinstance(layer, nn.Tanh):
        return g.node("Tanh", [x])
    if isinstance(layer, nn.Dropout):
        return x  # inference: dropout is the identity
    raise ValueError(f"cannot write {type(layer).__name__} as ONNX: it is not a layer of the CycleGAN generator")


def _live_norm(g: GraphWriter, x: str, channels: int, scale: np.ndarray, shift: np.ndarray, eps: float) -> str:
    """One InstanceNorm of the live graph: the image's own mean and population variance per channel
    (recorded for `statistics`), moved by w = `use_shared` to the `shared` ones, then
    y = (x − m) / sqrt(v + eps) · scale + shift. (Opset 17: ReduceMean's axes are an attribute.)
    Without own statistics: m and v are the shared ones, as y = x·gain + bias."""
    if not g.own_statistics:
        return _shared_norm(g, x, channels, scale, shift, eps)
    own_mean = g.node("ReduceMean", [x], "own_mean", axes=[2, 3], keepdims=1)
    centred = g.node("Sub", [x, own_mean])
    own_var = g.node("ReduceMean", [g.node("Mul", [centred, centred])], "own_var", axes=[2, 3], keepdims=1)
    per_channel = g.constant("shape_c", np.array([channels], np.int64))
    as_channels = g.constant("shape_1c11", np.array([1, channels, 1, 1], np.int64))
    mixed = []
    for own in (own_mean, own_var):
        g.statistics.append(g.node("Reshape", [own, per_channel], "own_statistics"))
        start = g.constant("start", np.array([g.shared_offset], np.int64))
        end = g.constant("end", np.array([g.shared_offset + channels], np.int64))
        g.shared_offset += channels
        shared = g.node("Reshape", [g.node("Slice", [INPUT_SHARED, start, end]), as_channels], "shared_statistics")
        moved = g.node("Mul", [INPUT_USE_SHARED, g.node("Sub", [shared, own])])
        mixed.append(g.node("Add", [own, moved]))
    mean, var = mixed
    gain = g.node("Div", [g.constant("scale", scale.reshape(1, channels, 1, 1)),
                          g.node("Sqrt", [g.node("Add", [var, g.constant("eps", np.array(eps, np.float32))])])])
    normed = g.node("Mul", [g.node("Sub", [x, mean]), gain])
    return g.node("Add", [normed, g.constant("shift", shift.reshape(1, channels, 1, 1))], "instance_norm")


def _shared_statistics(g: GraphWriter, channels: int) -> str:
    """The next `channels` values of `shared`, as 1×C×1×1."""
    start = g.constant("start", np.array([g.shared_offset], np.int64))
    end = g.constant("end", np.array([g.shared_offset + channels], np.int64))
    g.shared_offset += channels
    as_channels = g.constant("shape_1c11", np.array([1, channels, 1, 1], np.int64))
    return g.node("Reshape", [g.node("Slice", [INPUT_SHARED, start, end]), as_channels], "shared_statistics")


def _shared_norm(g: GraphWriter, x: str, channels: int, scale: np.ndarray, shift: np.ndarray, eps: float) -> str:
    """One InstanceNorm normalising by `shared` only: gain = scale / sqrt(v + eps), bias = shift − m·gain
    (per channel), y = x·gain + bias."""
    mean, var = _shared_statistics(g, channels), _shared_statistics(g, channels)
    gain = g.node("Div", [g.constant("scale", scale.reshape(1, channels, 1, 1)),
                          g.node("Sqrt", [g.node("Add", [var, g.constant("eps", np.array(eps, np.float32))])])])
    bias = g.node("Sub", [g.constant("shift", shift.reshape(1, channels, 1, 1)), g.node("Mul", [mean, gain])])
    return g.node("Add", [g.node("Mul", [x, gain]), bias], "instance_norm")
