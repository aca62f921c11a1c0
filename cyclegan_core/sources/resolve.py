"""`cyclegan_core.load(source)`: one entry point for every place a model can come from.

A source is a local model folder, a zoo name, a built-in packaged model (`vintage`), the name of a
model in the store or a Hub repo id. A zoo name such as `horse2zebra` is looked up in this order:
  1. `weights/horse2zebra/` (a model folder in the local store; `CYCLEGAN_WEIGHTS_DIR` moves it);
  2. the Hub repo named by `CYCLEGAN_HUB_REPO` (`owner/name[@revision]`), subfolder `horse2zebra/`;
  3. the reference implementation's released `.pth` files, downloaded from `CYCLEGAN_UPSTREAM_URL`
     (default: the reference project's pretrained-models server), converted once and cached
     into `weights/horse2zebra/`.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import torch

from cyclegan_core.errors import CycleGANError, ModelNotFoundError
from cyclegan_core.model.convert import convert_official
from cyclegan_core.model.cyclegan import CycleGAN
from cyclegan_core.model.folder import CONFIG_NAME, WEIGHTS_NAME, is_model_folder, load_model
from cyclegan_core.paths import weights_dir
from cyclegan_core.sources.download import download, probe
from cyclegan_core.sources.hub import download_model_folder, parse_hub_source
from cyclegan_core.sources.packaged import PACKAGED, packaged_folder
from cyclegan_core.sources.zoo import OFFICIAL_LICENSE, ZOO, ZooEntry

DEFAULT_UPSTREAM_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models"


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load(source: str | os.PathLike, device: str | None = None) -> CycleGAN:
    """Load a model from a local model folder, a zoo name (`horse2zebra`, `style_monet`, …), a built-in
    packaged model (`vintage`), the name of a model in the local store (`weights/<name>`, as the app
    lists it) or a Hub repo id (`owner/name[/subfolder][@revision]`), in that order of precedence."""
    device = device or default_device()
    text = str(source)
    if isinstance(source, os.PathLike) or Path(text).exists() or text.startswith((".", "/", "~")):
        return load_model(Path(text).expanduser(), device)
    if text in ZOO:
        return load_zoo(text, device)
    if text in PACKAGED:
        return load_model(packaged_folder(text), device)
    if text and text == Path(text).name and not text.startswith(".") and is_model_folder(weights_dir() / text):
        return load_model(weights_dir() / text, device)
    hub = parse_hub_source(text)
    if hub is not None:
        return load_model(download_model_folder(hub), device)
    raise ModelNotFoundError(f"{text!r} is not a local model folder, a zoo name ({', '.join(ZOO)}), a built-in "
                             f"model ({', '.join(PACKAGED)}), a model in "
                             f"{weights_dir()} or a Hub repo id (owner/name[/subfolder][@revision])")


def upstream_url() -> str:
    return os.environ.get("CYCLEGAN_UPSTREAM_URL", DEFAULT_UPSTREAM_URL).rstrip("/")


def load_zoo(name: str, device: str = "cpu") -> CycleGAN:
    """Load a zoo model from the first source that has it; say what was tried if none does."""
    entry = ZOO[name]
    local = weights_dir() / name
    if is_model_folder(local):
        return load_model(local, device)
    tried = [f"local folder {local}: not there"]
    hub_repo = os.environ.get("CYCLEGAN_HUB_REPO")
    if hub_repo:
        repo = parse_hub_source(hub_repo)
        if repo is None:
            tried.append(f"CYCLEGAN_HUB_REPO={hub_repo!r}: not a Hub repo id (owner/name[@revision])")
        else:
            try:
                return load_model(download_model_folder(repo._replace(subfolder=name)), device)
            except CycleGANError as e:
                tried.append(f"Hub: {e}")
    else:
        tried.append("Hub: CYCLEGAN_HUB_REPO is not set")
    try:
        fetch_upstream(entry, local)
        return load_model(local, device)
    except (CycleGANError, OSError) as e:
        tried.append(f"upstream: {e}")
    files = " ".join(f"{f}.pth" for f in entry.files)
    raise ModelNotFoundError(
        public=f"zoo model {name!r} is not available on this server right now: its weights (≈{entry.download_mb} MB) "
               f"are not here and could not be downloaded (no network?).\nChoose a task marked ready, such as "
               f"the built-in modern photo → vintage photo.",
        message=f"zoo model {name!r} is not available. Tried:\n  - " + "\n  - ".join(tried) +
        f"\nTo use it offline, put a model folder ({CONFIG_NAME} + {WEIGHTS_NAME}) at {local}, or download "
        f"{files} from the reference project and run:\n"
        f"  python -m cyclegan_core convert {files} --out {local} --domains {shlex.quote(entry.domain_a)} {shlex.quote(entry.domain_b)}")


def fetch_upstream(entry: ZooEntry, out: Path) -> None:
    """Download the official generator(s) (two, or one for a one-way model), verify them, convert into
    the model folder `out`."""
    base = upstream_url()
    reason = probe(f"{base}/{entry.a_to_b_file}.pth")
    if reason is not None:
        raise ModelNotFoundError(f"{base} cannot be reached ({reason})")
    downloads = out.parent / ".downloads"
    files, digests = [], []
    try:
        for stem in entry.files:
            files.append(downloads / f"{stem}.pth")
            digests.append(download(f"{base}/{stem}.pth", files[-1], desc=f"{stem}.pth"))
        roles = ("A→B", "B→A")
        provenance = ("Official CycleGAN generator" + ("s " if len(files) > 1 else " ") +
                      " and ".join(f"{stem}.pth ({role}, sha256 {digest})"
                                   for stem, role, digest in zip(entry.files, roles, digests)) +
                      f" from {base}" + (" (released alone: one-way)" if entry.one_way else "") +
                      ", converted by cyclegan_core")
        convert_official(files[0], files[1] if len(files) > 1 else None, out,
                         domains=(entry.domain_a, entry.domain_b), image_size=entry.image_size,
                         provenance=provenance, license=OFFICIAL_LICENSE)
    finally:
        for f in files:
            f.unlink(missing_ok=True)
        if downloads.is_dir() and not any(downloads.iterdir()):
            shutil.rmtree(downloads, ignore_errors=True)
