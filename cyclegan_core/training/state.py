"""A trainer's full state in one safetensors file: what `--resume` needs to continue exactly.

Tensors: all four networks (`G_AB.`, `G_BA.`, `D_A.`, `D_B.`), both Adam states
(`opt_G.state.<param>.<field>`, `opt_D.…`), torch's RNG state (`rng.torch`) and both history pools
(`pool_A`, `pool_B`). Metadata: `format_version`, `step`, the TrainConfig and both optimisers'
param groups (JSON). Nothing is pickled; the write is atomic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from cyclegan_core.atomic import atomic_path
from cyclegan_core.errors import RunError

if TYPE_CHECKING:
    from cyclegan_core.training.trainer import CycleGANTrainer

FORMAT_VERSION = "1"


def _networks(trainer: "CycleGANTrainer"):
    return (("G_AB", trainer.G_AB), ("G_BA", trainer.G_BA), ("D_A", trainer.D_A), ("D_B", trainer.D_B))


def _optimisers(trainer: "CycleGANTrainer"):
    return (("opt_G", trainer.opt_G), ("opt_D", trainer.opt_D))


def save_training_state(trainer: "CycleGANTrainer", path: Path) -> None:
    """Write everything `load_training_state` needs into `path` (atomically)."""
    tensors = {f"{name}.{k}": v.detach().cpu().contiguous()
               for name, net in _networks(trainer) for k, v in net.state_dict().items()}
    meta = {"format_version": FORMAT_VERSION, "step": str(trainer.steps_done),
            "config": json.dumps(trainer.config.to_dict())}
    for name, opt in _optimisers(trainer):
        state = opt.state_dict()
        meta[f"{name}.param_groups"] = json.dumps(state["param_groups"])
        for index, values in state["state"].items():
            for key, value in values.items():
                tensors[f"{name}.state.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["pool_A"], tensors["pool_B"] = trainer.pool_A.state().cpu(), trainer.pool_B.state().cpu()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_metadata(path: Path) -> dict[str, str]:
    """The state's metadata (format_version, step, …) without reading its tensors."""
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise RunError(f"{path} is not a readable training state ({e})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise RunError(f"{path}: unknown training-state format {meta.get('format_version')!r}")
    return meta


def load_training_state(trainer: "CycleGANTrainer", path: Path) -> None:
    """Restore networks, optimisers, pools, RNG and `steps_done` from `path` into `trainer`."""
    meta = read_metadata(path)
    try:
        tensors = load_file(str(path))
        for name, net in _networks(trainer):
            prefix = f"{name}."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        for name, opt in _optimisers(trainer):
            state: dict[int, dict] = {}
            prefix = f"{name}.state."
            for key, value in tensors.items():
                if key.startswith(prefix):
                    index, field = key[len(prefix):].split(".", 1)
                    state.setdefault(int(index), {})[field] = value
            opt.load_state_dict({"state": state, "param_groups": json.loads(meta[f"{name}.param_groups"])})
        trainer.pool_A.load_state(tensors["pool_A"])
        trainer.pool_B.load_state(tensors["pool_B"])
        torch.set_rng_state(tensors["rng.torch"])
        trainer.steps_done = int(meta["step"])
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as e:
        raise RunError(f"{path} does not match this run's networks or is damaged ({type(e).__name__}: {e})") from None
