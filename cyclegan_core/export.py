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

`live=True` (fp32) writes the graph for a webcam with InstanceNorm statistics locked per shot
(`engine/onnx_graph.py`): batch 1, extra inputs `shared` (float32 [N]) and `use_shared` (float32
[1], 0 or 1) and an extra output `statistics` (float32 [N], this image's own; N in the metadata's
`statistics_length`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from cyclegan_core.atomic import atomic_path
from cyclegan_core.engine.onnx_graph import (INPUT, INPUT_SHARED, INPUT_USE_SHARED, OPSET, OUTPUT, OUTPUT_STATISTICS,
                                             PRECISIONS, generator_graph, statistics_length)
from cyclegan_core.model.cyclegan import CycleGAN

if TYPE_CHECKING:
    import onnx

FORMATS = ("onnx",)
FORMAT_NAME = "cyclegan-studio-generator"  # metadata `format`, with `format_version`
FORMAT_VERSION = "1"


def to_onnx(model: CycleGAN, direction: str = "AtoB", precision: str = "fp32",
            path: Path | str | None = None, live: bool = False) -> onnx.ModelProto:
    """The generator of `direction` (AtoB: the paper's G; BtoA: F) as a checked ONNX model, written
    to `path` (atomically) if given; `live`: the graph with shared InstanceNorm statistics (fp32).
    A one-way model has AtoB only (`OneWayModelError`)."""
    import onnx  # imported here: the CLI and the core work without it until something is exported
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} for ONNX; expected one of {', '.join(PRECISIONS)}")
    generator = model.generator(direction)  # validates the direction, refuses BtoA on a one-way model
    onnx_model = generator_graph(generator.eval(), precision, live)
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
    if live:
        length = statistics_length(generator)
        layout = "for each InstanceNorm in module order, its C means then its C (population) variances"
        metadata.update({
            "live": "true", "statistics_length": str(length),
            "input": f"{INPUT}: float32 1×3×H×W, RGB in [-1, 1] (pixel / 127.5 - 1), any H and W",
            "output": f"{OUTPUT}: float32 1×3×H×W, RGB in [-1, 1]; pixel = (value + 1) * 127.5",
            "inputs_live": (f"{INPUT_SHARED}: float32 [{length}], statistics to normalise with ({layout}); "
                            f"{INPUT_USE_SHARED}: float32 [1], 1 to use them, 0 for the image's own"),
            "outputs_live": f"{OUTPUT_STATISTICS}: float32 [{length}], the image's own statistics ({layout})",
        })
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


BROWSER_MIN_PSNR = 40.0  # fp16 is sent to browsers only where it keeps this much against our fp32
KEEP_EXPORTS = 8  # files kept in an export folder (the least recently used go first)
_EXPORTING = threading.Lock()  # one export at a time: two visitors asking for one file make it once


@dataclass(frozen=True)
class ExportedFile:
    """An ONNX file made once per set of weights (`exported`): its path, the SHA-256 of its bytes
    (a browser keeps it under this name), its precision and that precision's PSNR against our fp32
    on a probe picture; for the live graph, the length of its statistics."""

    path: Path
    sha256: str
    precision: str
    psnr: float
    bytes: int
    statistics_length: int = 0  # a live file's N (`shared`, `statistics`); 0 for the ordinary graph


def weights_fingerprint(model: CycleGAN, direction: str) -> str:
    """SHA-256 of one direction's generator: its config and every weight, bit for bit."""
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, OPSET, direction, model.config.to_json()]).encode())
    for name, tensor in model.generator(direction).state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()


def probe_psnr(model: CycleGAN, direction: str, path: Path, size: int = 256) -> float:
    """PSNR of the ONNX file at `path` run by onnxruntime against our fp32 translation, on a smooth
    synthetic picture with edges (the same for every model). A live file runs with its own
    statistics (`use_shared` 0)."""
    import onnxruntime
    from cyclegan_core.engine.translation import translate_whole
    ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    picture = np.stack([np.sin(3 * xs + ys), np.cos(4 * ys) * 0.8, np.sign(xs * ys) * 0.5 + 0.3 * xs])
    x = torch.from_numpy(picture[None].astype(np.float32)).clamp(-1, 1)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {INPUT: x.numpy()}
    if INPUT_SHARED in {i.name for i in session.get_inputs()}:
        feeds[INPUT_SHARED] = np.zeros(statistics_length(model.generator(direction)), np.float32)
        feeds[INPUT_USE_SHARED] = np.zeros(1, np.float32)
    theirs = session.run([OUTPUT], feeds)[0]
    generator = model.generator(direction).eval()
    with torch.inference_mode():
        ours = translate_whole(generator, x.to(next(generator.parameters()).device), "fp32").cpu().numpy()
    mse = float((((theirs.astype(np.float64) - ours) * 127.5) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(255 ** 2 / mse))


def exported(model: CycleGAN, direction: str, folder: Path | str, live: bool = False) -> ExportedFile:
    """The ONNX file of `direction` for a browser (onnxruntime-web): fp16 where it keeps ≥
    `BROWSER_MIN_PSNR` against our fp32 (measured once with onnxruntime), else fp32; `live`: the
    graph with shared statistics, fp32 only, named with `-live` (both variants of a set of weights
    can be kept). Made once per set of weights and kept in `folder` (named by `weights_fingerprint`;
    at most `KEEP_EXPORTS` files)."""
    folder = Path(folder)
    name = weights_fingerprint(model, direction)[:32] + ("-live" if live else "")
    length = statistics_length(model.generator(direction)) if live else 0
    record = folder / f"{name}.json"
    with _EXPORTING:
        if record.is_file():
            facts = json.loads(record.read_text())
            path = folder / facts["file"]
            if path.is_file():
                os.utime(record)  # recently used
                return ExportedFile(path, facts["sha256"], facts["precision"], facts["psnr"], path.stat().st_size,
                                    length)
        folder.mkdir(parents=True, exist_ok=True)
        for precision in ("fp32",) if live else ("fp16", "fp32"):
            path = folder / f"{name}-{precision}.onnx"
            to_onnx(model, direction, precision, path, live=live)
            quality = probe_psnr(model, direction, path)
            if quality >= BROWSER_MIN_PSNR or precision == "fp32":
                break
            path.unlink()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        facts = {"file": path.name, "sha256": digest, "precision": precision, "psnr": round(quality, 2)}
        with atomic_path(record) as tmp:
            tmp.write_text(json.dumps(facts))
        _forget_old(folder)
        return ExportedFile(path, digest, precision, facts["psnr"], path.stat().st_size, length)


def _forget_old(folder: Path) -> None:
    records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in records[KEEP_EXPORTS:]:
        for precision in PRECISIONS:  # exact names: NAME-*.onnx would also match NAME-live-fp32.onnx
            (folder / f"{old.stem}-{precision}.onnx").unlink(missing_ok=True)
        old.unlink(missing_ok=True)


__all__ = ["FORMATS", "OPSET", "ExportedFile", "exported", "read_metadata", "to_onnx", "weights_fingerprint"]
