"""Models shipped inside installed Python packages: usable offline, with nothing downloaded at run time.

The MIT-licensed `vintagify` package (a normal dependency, `requirements.txt`) ships a trained CycleGAN
generator, modern photo → vintage photo: the reference's 9-block ResNet generator with affine
InstanceNorm and residual blocks named `block`. It was released alone, so it is a one-way model.

    folder = packaged_folder("vintage")    # converted once into weights/.builtin/vintage/

On first use the generator file is read from the installed package (`weights_only`, strict, as for
the official zoo), converted into an ordinary model folder and kept in the store's `.builtin/`; its
licence (the package's own LICENSE text) and provenance (package version, file SHA-256) are recorded
in its config.json.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from cyclegan_core.errors import ModelNotFoundError
from cyclegan_core.model.convert import convert_official
from cyclegan_core.model.folder import is_model_folder
from cyclegan_core.paths import weights_dir


@dataclass(frozen=True)
class PackagedModel:
    """A generator file inside an installed distribution, and its card."""

    name: str
    distribution: str
    version: str  # the version whose file was checked (requirements.txt pins it)
    resource: str  # path of the .pth inside the distribution
    domain_a: str
    domain_b: str
    image_size: int
    what: str
    data: str
    limits: str

    def card(self) -> str:
        return (f"**{self.name}** · {self.domain_a} → {self.domain_b} · one-way (released without a reverse "
                f"generator: no cycle) · built in, works offline\n\n{self.what}\n\n**Training data.** {self.data}"
                f"\n\n**Known limits.** {self.limits}\n\n**Licence.** MIT, from the `{self.distribution}` package "
                f"(its LICENSE is recorded with the model).\n\n**Files.** `{self.resource}` from the installed "
                f"`{self.distribution}` package, converted on first use.")


PACKAGED = {
    "vintage": PackagedModel(
        "vintage", "vintagify", "0.1.2", "vintagify/resources/G_A2B_epoch33.pth", "modern photo", "vintage photo",
        512, "Gives a modern colour photo the look of an old print: faded, warm, lower-contrast colours and a "
        "film-like tone. It runs offline: the weights come with an installed package.",
        "Modern and vintage photos collected by the vintagify authors (Yusong Zhao, Fangyi Wang), 512² inputs, "
        "generator from epoch 33.",
        "A small student project's model: the effect is a colour and tone change, not scratches or grain; strongly "
        "coloured or dark photos can come out muddy."),
}


def _distribution(entry: PackagedModel) -> metadata.Distribution:
    try:
        return metadata.distribution(entry.distribution)
    except metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"built-in model {entry.name!r} needs the {entry.distribution} package: "
            f"pip install {entry.distribution}=={entry.version}",
            public=f"built-in model {entry.name!r} is not installed on this server") from None


def package_file(entry: PackagedModel) -> Path:
    """The generator file inside the installed distribution (never imports the package)."""
    dist = _distribution(entry)
    for file in dist.files or ():
        if str(file) == entry.resource:
            path = Path(file.locate())
            if path.is_file():
                return path
    raise ModelNotFoundError(f"the installed {entry.distribution} {dist.version} has no {entry.resource}",
                             public=f"built-in model {entry.name!r} is not installed on this server")


def package_license(entry: PackagedModel) -> str:
    dist = _distribution(entry)
    for file in dist.files or ():
        if Path(str(file)).name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
            return " ".join(file.read_text(encoding="utf-8").split())
    return f"{dist.metadata.get('License') or 'unknown'} (from the {entry.distribution} package's metadata)"


def is_available(name: str) -> bool:
    """Whether `name` can be used now (already converted, or its package is installed)."""
    entry = PACKAGED[name]
    if is_model_folder(packaged_home(name)):
        return True
    try:
        package_file(entry)
    except ModelNotFoundError:
        return False
    return True


def packaged_home(name: str, root: Path | None = None) -> Path:
    return (root or weights_dir()) / ".builtin" / name


def packaged_folder(name: str, root: Path | None = None) -> Path:
    """The model folder of packaged model `name`, converted from its package on first use (the folder
    appears whole or not at all)."""
    entry = PACKAGED[name]
    folder = packaged_home(name, root)
    if is_model_folder(folder):
        return folder
    source = package_file(entry)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    version = _distribution(entry).version
    provenance = (f"{entry.resource} (A→B generator, sha256 {digest}) from the {entry.distribution} {version} "
                  f"package on PyPI, converted by cyclegan_core")
    building = folder.with_name(f".{folder.name}.{os.getpid()}.building")
    shutil.rmtree(building, ignore_errors=True)
    convert_official(source, None, building, domains=(entry.domain_a, entry.domain_b), image_size=entry.image_size,
                     provenance=provenance, license=f"MIT ({entry.distribution}): {package_license(entry)}")
    try:
        os.replace(building, folder)
    except OSError:  # another process converted it meanwhile: keep theirs
        shutil.rmtree(building, ignore_errors=True)
    return folder
