"""`TrainConfig`: everything that defines a training run, a frozen dataclass (saved in the run's
record so `--resume` continues with the same settings)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from cyclegan_core.engine.runtime import PRECISIONS
from cyclegan_core.errors import CycleGANError
from cyclegan_core.nn.losses import GAN_MODES

FREEZE = ("auto", "none", "encoder", "early")

# From-scratch architectures; a fine-tune always takes its init model's.
PRESETS = {"small": {"ngf": 32, "n_blocks": 6}, "full": {"ngf": 64, "n_blocks": 9}}


def load_size_for(crop_size: int) -> int:
    """The reference's resize-then-crop ratio: 286 → 256 crops, so 143 → 128."""
    return round(crop_size * 286 / 256)


@dataclass(frozen=True)
class TrainConfig:
    """Defaults: the paper's (Adam 2e-4, β=(0.5, 0.999), λ=10, λ_idt=0.5, pool 50, LSGAN, linear
    decay over the second half) at CPU-sized 128² crops, from scratch with the small preset."""

    steps: int = 2000
    epochs: int | None = None  # if set: steps = epochs × ⌈larger domain / batch size⌉
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_start: float = 0.5  # fraction of the run after which the learning rate decays linearly to 0
    load_size: int | None = None  # shorter side after resizing; None: `load_size_for(crop_size)`
    crop_size: int = 128
    lambda_A: float = 10.0  # λ of the forward cycle a → G(a) → F(G(a)) (Eq. 2)
    lambda_B: float = 10.0  # λ of the backward cycle
    lambda_identity: float = 0.5  # identity weight as a fraction of λ (Sec. 5.2)
    gan_mode: str = "lsgan"
    pool_size: int = 50
    precision: str = "auto"  # bf16 autocast where the hardware has native bf16, else fp32
    seed: int = 0
    preview_every: int = 50
    checkpoint_every: int = 500
    init: str | None = None  # fine-tune from this model source (zoo name, folder, Hub id); None: scratch
    ngf: int = PRESETS["small"]["ngf"]  # from-scratch architecture; a fine-tune takes the init model's
    n_blocks: int = PRESETS["small"]["n_blocks"]
    ndf: int = 64
    n_layers_D: int = 3
    domain_a: str | None = None  # names for config.json; default: the init model's, else "A"/"B"
    domain_b: str | None = None
    min_images: int = 1
    max_images: int = 2000
    # Fine-tuning: which layers of the pretrained generators stay as they are. "encoder": c7s1-64, d128,
    # d256; "early": those and the first half of the residual blocks (a faster step:
    # benchmarks/README.md); "auto": "early" when fine-tuning a two-way model, else "none".
    # `CycleGANTrainer.create` records the choice it made.
    freeze: str = "auto"

    def __post_init__(self):
        if self.load_size is None:
            object.__setattr__(self, "load_size", load_size_for(self.crop_size))
        problems = []
        if self.crop_size > self.load_size:
            problems.append(f"crop_size {self.crop_size} is larger than load_size {self.load_size}")
        if self.crop_size < 8:
            problems.append("crop_size must be at least 8")
        for name in ("steps", "batch_size", "preview_every", "checkpoint_every", "min_images", "max_images"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.epochs is not None and self.epochs < 1:
            problems.append("epochs must be at least 1")
        if self.gan_mode not in GAN_MODES:
            problems.append(f"gan_mode must be one of {', '.join(GAN_MODES)}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.freeze not in FREEZE:
            problems.append(f"freeze must be one of {', '.join(FREEZE)}")
        if not 0.0 <= self.decay_start <= 1.0:
            problems.append("decay_start must be between 0 and 1")
        if self.lr <= 0 or min(self.lambda_A, self.lambda_B, self.lambda_identity, self.pool_size) < 0:
            problems.append("lr must be positive; λs and pool_size must not be negative")
        if problems:
            raise CycleGANError("invalid training configuration: " + "; ".join(problems))

    def total_steps(self, steps_per_epoch: int) -> int:
        """`steps`, or `epochs` × ⌈steps_per_epoch / batch_size⌉ when epochs are given."""
        return self.steps if self.epochs is None else self.epochs * math.ceil(steps_per_epoch / self.batch_size)

    def learning_rate(self, step: int, total: int) -> float:
        """The reference schedule: constant, then linear decay to (almost) 0 after `decay_start`."""
        start = int(total * self.decay_start)
        return self.lr * (1.0 - max(0, step - start) / float(total - start + 1))

    def replace(self, **changes) -> "TrainConfig":
        """A changed copy; a changed crop size re-derives load_size unless that is given too."""
        if "crop_size" in changes and "load_size" not in changes:
            changes["load_size"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """The inverse of `to_dict`; unknown keys are an error that names them. A record from before
        `freeze` existed trained everything, and resumes so."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CycleGANError(f"unknown training settings {unknown}")
        return cls(**{"freeze": "none", **data})
