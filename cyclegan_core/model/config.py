"""A model's `config.json`: a frozen dataclass whose fields are the JSON keys.

Example::

    {"format_version": 1, "ngf": 64, "n_blocks": 9, "norm": "instance",
     "domains": {"A": "horse", "B": "zebra"}, "image_size": 256,
     "provenance": "…", "license": "…"}

The two domain names are stored together as `domains` (A and B); every other field is stored
under its own name. A one-way model (released with G only, no F) adds `"one_way": true`; a two-way
model's config leaves the key out, so its file reads as it always did.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from cyclegan_core.errors import ModelFormatError
from cyclegan_core.nn.networks import NORMS

FORMAT_VERSION = 1
LIMITS = {"ngf": 512, "n_blocks": 64, "image_size": 16384}  # far above any CycleGAN; refuses absurd configs
DOMAIN_FIELDS = {"domain_a": "A", "domain_b": "B"}  # fields stored together as {"domains": {"A": …, "B": …}}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of both generators (G_AB = the paper's G, G_BA = F) plus what a user needs to know."""

    format_version: int = FORMAT_VERSION
    ngf: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    domain_a: str = "A"
    domain_b: str = "B"
    image_size: int = 256  # the crop size it was trained at; translation itself runs at any size
    provenance: str = ""
    license: str = ""
    one_way: bool = False  # only G_AB (A → B) exists: no reverse direction, no cycle

    @property
    def directions(self) -> tuple[str, ...]:
        return ("AtoB",) if self.one_way else ("AtoB", "BtoA")

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ModelFormatError(f"config: unknown norm {self.norm!r} (expected one of {', '.join(NORMS)})")
        if self.ngf < 1 or self.n_blocks < 0 or self.image_size < 1:
            raise ModelFormatError(f"config: ngf, n_blocks and image_size must be positive, got "
                                   f"ngf={self.ngf}, n_blocks={self.n_blocks}, image_size={self.image_size}")
        for name, limit in LIMITS.items():
            if getattr(self, name) > limit:
                raise ModelFormatError(f"config: {name}={getattr(self, name)} is beyond any CycleGAN (at most {limit})")

    def to_json(self) -> str:
        data: dict = {}
        for f in dataclasses.fields(self):
            if f.name in DOMAIN_FIELDS:
                data.setdefault("domains", {})[DOMAIN_FIELDS[f.name]] = getattr(self, f.name)
            elif f.name == "one_way" and not self.one_way:
                continue
            else:
                data[f.name] = getattr(self, f.name)
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "config.json") -> "ModelConfig":
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
        domains = data.pop("domains", {"A": "A", "B": "B"})
        if not (isinstance(domains, dict) and set(domains) == {"A", "B"}):
            raise ModelFormatError(f"{where}: 'domains' must be an object with keys 'A' and 'B'")
        types = {f.name: f.type for f in dataclasses.fields(cls) if f.name not in DOMAIN_FIELDS}
        unknown = sorted(set(data) - set(types))
        if unknown:
            raise ModelFormatError(f"{where}: unknown keys {unknown}")
        for key, value in data.items():
            expected = {"int": int, "str": str, "bool": bool}[types[key]]
            if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
                raise ModelFormatError(f"{where}: {key!r} must be {expected.__name__}, got {value!r}")
        return cls(**data, **{name: str(domains[key]) for name, key in DOMAIN_FIELDS.items()})

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)
