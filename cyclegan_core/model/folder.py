"""Model folders: `config.json` + `model.safetensors` (both generators, `G_AB.` / `G_BA.` prefixes).

The same layout is used locally (`weights/<name>/`, training runs) and in Hub repos. Loading is
strict and never unpickles anything: safetensors holds only tensors.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cyclegan_core.atomic import atomic_path, atomic_write_text
from cyclegan_core.errors import ModelFormatError, ModelNotFoundError
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.model.cyclegan import CycleGAN

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def save_model(model: CycleGAN, folder: Path | str) -> Path:
    """Write `model` as a model folder (atomically, file by file). Returns the folder."""
    folder = Path(folder)
    tensors = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    atomic_write_text(folder / CONFIG_NAME, model.config.to_json())
    return folder


def is_model_folder(path: Path | str) -> bool:
    path = Path(path)
    return (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file()


def read_config(folder: Path | str) -> ModelConfig:
    """The `config.json` of a model folder, validated."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise ModelFormatError(f"no {CONFIG_NAME} in model folder {folder} "
                               f"(a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
    return ModelConfig.from_json(path.read_text(encoding="utf-8"), where=str(path))


def load_model(folder: Path | str, device: str | torch.device = "cpu") -> CycleGAN:
    """Load a model folder strictly: every key present, none extra, every shape right."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelNotFoundError(f"model folder {folder} does not exist")
    config = read_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ModelFormatError(f"no {WEIGHTS_NAME} in model folder {folder}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFormatError(f"{weights} is not a readable safetensors file ({e})") from None
    model = CycleGAN(config, initialise=False)
    load_state_strict(model, tensors, where=str(weights), hint=_config_hint(config))
    return model.to(device)


def load_state_strict(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], where: str, hint: str = "") -> None:
    """`module.load_state_dict(strict=True)` with an error that names every problem."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    wrong_shape = [f"{k} {tuple(tensors[k].shape)} (expected {tuple(v.shape)})"
                   for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    not_float = [f"{k} ({tensors[k].dtype})" for k in expected if k in tensors and not tensors[k].is_floating_point()]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("wrong shapes", wrong_shape), ("non-float tensors", not_float)):
        if items:
            shown = ", ".join(items[:6]) + (f", … ({len(items)} in all)" if len(items) > 6 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise ModelFormatError(f"{where} does not match the expected architecture{hint}: " + "; ".join(problems))
    module.load_state_dict({k: tensors[k].to(torch.float32) for k in expected}, strict=True)


def _config_hint(config: ModelConfig) -> str:
    return f" (config: ngf={config.ngf}, n_blocks={config.n_blocks}, norm={config.norm})"


def zip_model_folder(folder: Path | str, archive: Path | str, name: str | None = None) -> Path:
    """The model folder's two files as a zip (`<name>/config.json`, `…/model.safetensors`; `name`
    defaults to the folder's), written atomically to `archive`: a model to download and share."""
    folder, archive = Path(folder), Path(archive)
    top = name or folder.name
    with atomic_path(archive) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
        for file in (CONFIG_NAME, WEIGHTS_NAME):
            z.write(folder / file, f"{top}/{file}")
    return archive
