"""`cyclegan_core.load(source)`: one entry point for every place a model can come from."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .checkpoint import load_model
from .errors import ModelNotFoundError
from .hub import download_model_folder, parse_hub_source
from .model import CycleGAN
from .zoo import ZOO, load_zoo


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load(source: str | os.PathLike, device: str | None = None) -> CycleGAN:
    """Load a model from a local model folder, a zoo name (`horse2zebra`, `summer2winter`) or a
    Hub repo id (`owner/name[/subfolder][@revision]`), in that order of precedence."""
    device = device or default_device()
    text = str(source)
    if isinstance(source, os.PathLike) or Path(text).exists() or text.startswith((".", "/", "~")):
        return load_model(Path(text).expanduser(), device)
    if text in ZOO:
        return load_zoo(text, device)
    hub = parse_hub_source(text)
    if hub is not None:
        return load_model(download_model_folder(hub), device)
    raise ModelNotFoundError(f"{text!r} is not a local model folder, a zoo name ({', '.join(ZOO)}) "
                             f"or a Hub repo id (owner/name[/subfolder][@revision])")
