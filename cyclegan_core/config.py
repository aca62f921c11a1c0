"""`config.json` of a model folder: a frozen dataclass, written beside `model.safetensors`.

Example::

    {"format_version": 1, "ngf": 64, "n_blocks": 9, "norm": "instance",
     "domains": {"A": "horse", "B": "zebra"}, "image_size": 256,
     "provenance": "…", "license": "…"}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelFormatError
from .networks import NORMS

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of both generators (G_AB = the paper's G, G_BA = F) plus what a user needs to know."""

    ngf: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    domain_a: str = "A"
    domain_b: str = "B"
    image_size: int = 256  # the crop size it was trained at; translation itself runs at any size
    provenance: str = ""
    license: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ModelFormatError(f"config: unknown norm {self.norm!r} (expected one of {', '.join(NORMS)})")
        if self.ngf < 1 or self.n_blocks < 0 or self.image_size < 1:
            raise ModelFormatError(f"config: ngf, n_blocks and image_size must be positive, got "
                                   f"ngf={self.ngf}, n_blocks={self.n_blocks}, image_size={self.image_size}")

    def to_json(self) -> str:
        data = {
            "format_version": self.format_version,
            "ngf": self.ngf,
            "n_blocks": self.n_blocks,
            "norm": self.norm,
            "domains": {"A": self.domain_a, "B": self.domain_b},
            "image_size": self.image_size,
            "provenance": self.provenance,
            "license": self.license,
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = CONFIG_NAME) -> "ModelConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelFormatError(f"{where} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ModelFormatError(f"{where} must hold a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelFormatError(f"{where}: unknown format_version {version!r}; this version of "
                                   f"cyclegan_core reads format_version {FORMAT_VERSION}")
        domains = data.get("domains", {"A": "A", "B": "B"})
        if not (isinstance(domains, dict) and set(domains) == {"A", "B"}):
            raise ModelFormatError(f"{where}: 'domains' must be an object with keys 'A' and 'B'")
        known = {"format_version", "ngf", "n_blocks", "norm", "domains", "image_size", "provenance", "license"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelFormatError(f"{where}: unknown keys {unknown}")
        fields = {k: data[k] for k in ("ngf", "n_blocks", "norm", "image_size", "provenance", "license") if k in data}
        types = {"ngf": int, "n_blocks": int, "image_size": int, "norm": str, "provenance": str, "license": str}
        for key, value in fields.items():
            if not isinstance(value, types[key]) or isinstance(value, bool):
                raise ModelFormatError(f"{where}: {key!r} must be {types[key].__name__}, got {value!r}")
        return cls(domain_a=str(domains["A"]), domain_b=str(domains["B"]), **fields)

    @classmethod
    def read(cls, folder: Path) -> "ModelConfig":
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise ModelFormatError(f"no {CONFIG_NAME} in model folder {folder} "
                                   f"(a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
        return cls.from_json(path.read_text(encoding="utf-8"), where=str(path))

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)
