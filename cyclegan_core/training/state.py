"""A trainer's full state in one safetensors file: what `--resume` needs to continue exactly.

`CycleGANTrainer.state_dict()` gives plain dicts; this file flattens them. Tensors: all four networks
(`G_AB.`, `G_BA.`, `D_A.`, `D_B.`), both Adam states (`opt_G.state.<param>.<field>`, `opt_D.…`),
torch's RNG state (`rng.torch`) and both history pools (`pool_A`, `pool_B`). Metadata (JSON):
`format_version`, `step`, the TrainConfig, both optimisers' param groups and both loss scalers
(fp16 runs scale their losses; the scale and its growth count continue). Nothing is pickled; the
write is atomic.
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
NETWORKS = ("G_AB", "G_BA", "D_A", "D_B")
OPTIMIZERS = ("opt_G", "opt_D")


def save_training_state(trainer: "CycleGANTrainer", path: Path) -> None:
    """Write everything `load_training_state` needs into `path` (atomically)."""
    state = trainer.state_dict()
    tensors = {f"{name}.{k}": v.detach().cpu().contiguous()
               for name, weights in state["networks"].items() for k, v in weights.items()}
    meta = {"format_version": FORMAT_VERSION, "step": str(state["step"]),
            "config": json.dumps(trainer.config.to_dict()), "scalers": json.dumps(state["scalers"])}
    for name, opt in state["optimizers"].items():
        meta[f"{name}.param_groups"] = json.dumps(opt["param_groups"])
        for index, values in opt["state"].items():
            for key, value in values.items():
                tensors[f"{name}.state.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = state["rng"]
    for name, pool in state["pools"].items():
        tensors[name] = pool.detach().cpu().contiguous()
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


def read_training_state(path: Path) -> dict:
    """The file at `path` as `CycleGANTrainer.state_dict()` gave it (scalers absent in older files)."""
    meta = read_metadata(path)
    try:
        tensors = load_file(str(path))
        state = {"step": int(meta["step"]), "rng": tensors["rng.torch"],
                 "networks": {name: {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(f"{name}.")}
                              for name in NETWORKS},
                 "pools": {"pool_A": tensors["pool_A"], "pool_B": tensors["pool_B"]},
                 "scalers": json.loads(meta.get("scalers", "{}")), "optimizers": {}}
        for name in OPTIMIZERS:
            opt: dict[int, dict] = {}
            prefix = f"{name}.state."
            for key, value in tensors.items():
                if key.startswith(prefix):
                    index, field = key[len(prefix):].split(".", 1)
                    opt.setdefault(int(index), {})[field] = value
            state["optimizers"][name] = {"state": opt, "param_groups": json.loads(meta[f"{name}.param_groups"])}
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise RunError(f"{path} is damaged ({type(e).__name__}: {e})") from None
    return state


def load_training_state(trainer: "CycleGANTrainer", path: Path) -> None:
    """Restore networks, optimisers, loss scalers, pools, RNG and `steps_done` from `path` into `trainer`."""
    state = read_training_state(path)
    try:
        trainer.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError) as e:
        raise RunError(f"{path} does not match this run's networks or is damaged ({type(e).__name__}: {e})") from None
