"""Taking a model elsewhere: one direction of a CycleGAN as an ONNX file.

    python -m cyclegan_core export MODEL --format onnx [--direction AtoB] [--precision fp32|fp16] --out FILE

or `to_onnx(model, direction, precision, path)`. The file runs in onnxruntime (desktop, server,
`onnxruntime-web` in a browser, mobile), OpenVINO, TensorRT and anything else that reads ONNX:

- input `image`: float32 N×3×H×W, RGB in [-1, 1] (pixel / 127.5 − 1), any height and width;
- output `translated`: the same shape, RGB in [-1, 1] ((y + 1) × 127.5 gives pixels).

Inside, the graph pads and crops the way our translation does (`engine/onnx_graph.py`), so an odd
size comes back at its own size with the same pixels as ours, and InstanceNorm uses the whole
image's statistics (the paper's inference). Opset 17. `fp16` halves the file (weights and
activations in float16, norm statistics in float32). The model's domains, the direction, its
provenance and licence go into the file's metadata (`metadata_props`), readable with
`onnx.load(path).metadata_props` or onnxruntime's `get_modelmeta().custom_metadata_map`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from cyclegan_core.atomic import atomic_path
from cyclegan_core.engine.onnx_graph import INPUT, OUTPUT, OPSET, PRECISIONS, generator_graph
from cyclegan_core.model.cyclegan import CycleGAN

if TYPE_CHECKING:
    import onnx

FORMATS = ("onnx",)
FORMAT_NAME = "cyclegan-studio-generator"  # metadata `format`, with `format_version`
FORMAT_VERSION = "1"


def to_onnx(model: CycleGAN, direction: str = "AtoB", precision: str = "fp32",
            path: Path | str | None = None) -> onnx.ModelProto:
    """The generator of `direction` (AtoB: the paper's G; BtoA: F) as a checked ONNX model, written
    to `path` (atomically) if given. A one-way model has AtoB only (`OneWayModelError`)."""
    import onnx  # imported here: the CLI and the core work without it until something is exported
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} for ONNX; expected one of {', '.join(PRECISIONS)}")
    generator = model.generator(direction)  # validates the direction, refuses BtoA on a one-way model
    onnx_model = generator_graph(generator.eval(), precision)
    config = model.config
    source, target = (config.domain_a, config.domain_b)[:: 1 if direction == "AtoB" else -1]
    metadata = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "direction": direction, "source_domain": source, "target_domain": target,
        "domains": json.dumps({"A": config.domain_a, "B": config.domain_b}),
        "precision": precision, "provenance": config.provenance, "license": config.license,
        "architecture": json.dumps({"ngf": config.ngf, "n_blocks": config.n_blocks, "norm": config.norm}),
        "input": f"{INPUT}: float32 N×3×H×W, RGB in [-1, 1] (pixel / 127.5 - 1), any H and W",
        "output": f"{OUTPUT}: float32 N×3×H×W, RGB in [-1, 1]; pixel = (value + 1) * 127.5",
    }
    onnx.helper.set_model_props(onnx_model, metadata)
    onnx_model.doc_string = (f"CycleGAN generator {source} → {target} ({direction}), written by CycleGAN Studio. "
                             f"Zhu et al., ICCV 2017. Licence: {config.license or 'not stated'}.")
    onnx_model.model_version = 1
    onnx.checker.check_model(onnx_model)
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            tmp.write_bytes(onnx_model.SerializeToString())
    return onnx_model


def read_metadata(path: Path | str) -> dict[str, str]:
    """The metadata of an ONNX file written by `to_onnx`."""
    import onnx
    return {prop.key: prop.value for prop in onnx.load(str(path), load_external_data=False).metadata_props}


__all__ = ["FORMATS", "OPSET", "read_metadata", "to_onnx"]
