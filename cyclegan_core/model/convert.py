"""Converting the reference implementation's pretrained generators into a model folder.

The official files (`horse2zebra.pth` = A→B, `zebra2horse.pth` = B→A, …) hold one generator's
state dict each. They are read with `weights_only=True` (no code is ever unpickled); legacy
InstanceNorm running-statistics keys from old PyTorch versions are dropped and a `module.`
(DataParallel) prefix is stripped before the strict load.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from cyclegan_core.errors import ModelFormatError
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.model.cyclegan import CycleGAN
from cyclegan_core.model.folder import load_state_strict, save_model

LEGACY_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")
# Some third-party CycleGANs name the residual branch `block` instead of the reference's `conv_block`.
_BLOCK_NAME = re.compile(r"^(model\.\d+)\.block\.")


def read_generator_pth(path: Path | str) -> dict[str, torch.Tensor]:
    """Read one generator's state dict from a `.pth` file and normalise its key names."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found:
            raise ModelFormatError(f"{path}: refused: besides tensors the file references Python code "
                                   f"({found.group(1)}), which is never run here") from None
        raise ModelFormatError(f"{path}: not a readable PyTorch checkpoint (not a tensors-only file torch.load "
                               f"can read with weights_only=True)") from None
    except Exception as e:  # arbitrary bytes fail inside the unpickler in arbitrary ways
        raise ModelFormatError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelFormatError(f"{path}: expected a generator state dict (names → tensors), got {type(obj).__name__}")
    state = {}
    for key, tensor in obj.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if key.endswith(LEGACY_SUFFIXES):
            continue
        state[_BLOCK_NAME.sub(r"\1.conv_block.", key)] = tensor
    return state


def infer_architecture(state: Mapping[str, torch.Tensor], where: str) -> tuple[int, int, str]:
    """(ngf, n_blocks, norm) of a generator state dict in the reference layout."""
    first = state.get("model.1.weight")
    if first is None or first.dim() != 4:
        raise ModelFormatError(f"{where}: not a CycleGAN ResNet generator (no 'model.1.weight' conv); "
                               f"first keys: {', '.join(list(state)[:5])}")
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"^model\.(\d+)\.conv_block\.", k))}
    norm = "instance_affine" if "model.2.weight" in state else "instance"
    return int(first.shape[0]), len(blocks), norm


def convert_official(a_to_b: Path | str, b_to_a: Path | str | None, out: Path | str,
                     domains: tuple[str, str] = ("A", "B"), image_size: int = 256,
                     provenance: str = "", license: str = "") -> CycleGAN:
    """Official generator files → one model folder at `out`. Returns the loaded model.

    `b_to_a` None makes a one-way model (G only; `config.one_way`): the official painting styles and
    other generators released without their reverse get no made-up F."""
    g_ab = read_generator_pth(a_to_b)
    arch = infer_architecture(g_ab, str(a_to_b))
    g_ba = None
    if b_to_a is not None:
        g_ba = read_generator_pth(b_to_a)
        if g_ab.keys() == g_ba.keys() and all(torch.equal(g_ab[k], g_ba[k]) for k in g_ab):
            raise ModelFormatError(f"{a_to_b} and {b_to_a} hold the same generator: a model needs two different "
                                   f"ones (G: A→B and F: B→A). For a generator released alone, convert it as a "
                                   f"one-way model (give only the A→B file), which offers no reverse direction "
                                   f"and no cycle")
        if infer_architecture(g_ba, str(b_to_a)) != arch:
            raise ModelFormatError(f"{a_to_b} and {b_to_a} have different architectures "
                                   f"({arch} vs {infer_architecture(g_ba, str(b_to_a))}); they must be the two "
                                   f"generators of one model")
    ngf, n_blocks, norm = arch
    if not provenance:
        provenance = (f"converted from {Path(a_to_b).name} (A→B, one-way)" if b_to_a is None else
                      f"converted from {Path(a_to_b).name} (A→B) and {Path(b_to_a).name} (B→A)")
    config = ModelConfig(ngf=ngf, n_blocks=n_blocks, norm=norm, domain_a=domains[0], domain_b=domains[1],
                         image_size=image_size, provenance=provenance, license=license, one_way=b_to_a is None)
    model = CycleGAN(config, initialise=False)
    load_state_strict(model.G_AB, g_ab, where=str(a_to_b))
    if g_ba is not None:
        load_state_strict(model.G_BA, g_ba, where=str(b_to_a))
    save_model(model, out)
    return model
