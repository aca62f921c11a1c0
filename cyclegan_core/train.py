"""The CycleGAN training loop, as a generator of small events.

    for event in train(TrainConfig(steps=500, init="summer2winter"), "photos/a", "photos/b", "runs/x"):
        print(event)

The CLI prints the events, the UI draws them, tests consume a few. Closing the generator (or
setting `stop`) ends the run; the `finally:` saves a resumable checkpoint, so Stop loses nothing.

Naming follows the paper: G_AB is G: A→B, G_BA is F: B→A, D_A is D_X (real A vs F(b)), D_B is
D_Y (real B vs G(a)). (The reference code calls these D_B and D_A respectively.) Update order is
the reference's: both generators (Eq. 3 + identity), then both discriminators on pooled fakes.

A run folder is a model folder (`config.json` + `model.safetensors`, loadable at once) plus
`training_state.safetensors` (all four networks, both optimizers, RNG, image pools, step),
`train.json` (the TrainConfig and data sources), `log.json` (losses per step) and `previews/`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torchvision.utils import make_grid, save_image

from .checkpoint import is_model_folder, save_model
from .config import ModelConfig
from .data import DataError, Source, UnpairedData, load_domain
from .errors import CycleGANError
from .files import atomic_path, atomic_write_text
from .image_pool import ImagePool
from .inference import PRECISIONS, autocast, resolve_precision, tensor_to_image
from .losses import GAN_MODES, cycle_loss, discriminator_loss, gan_loss, identity_loss
from .model import CycleGAN
from .networks import NLayerDiscriminator, init_weights
from .sources import load

STATE_NAME = "training_state.safetensors"
RUN_NAME = "train.json"
LOG_NAME = "log.json"
LOSS_NAMES = ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")
# From-scratch architectures; a fine-tune always takes its init model's.
PRESETS = {"small": {"ngf": 32, "n_blocks": 6}, "full": {"ngf": 64, "n_blocks": 9}}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run. Defaults: the paper's (Adam 2e-4, β=(0.5, 0.999), λ=10,
    λ_idt=0.5, pool 50, LSGAN, linear decay over the second half) at CPU-sized 128² crops."""

    steps: int = 2000
    epochs: int | None = None  # if set: steps = epochs × ⌈larger domain / batch size⌉
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_start: float = 0.5  # fraction of the run after which the learning rate decays linearly to 0
    load_size: int = 143  # shorter side after resizing; the reference uses 286 for 256² crops
    crop_size: int = 128
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    gan_mode: str = "lsgan"
    pool_size: int = 50
    precision: str = "auto"  # bf16 autocast where the hardware has native bf16, else fp32
    seed: int = 0
    preview_every: int = 50
    checkpoint_every: int = 500
    init: str | None = None  # fine-tune from this model source (zoo name, folder, Hub id); None: scratch
    ngf: int = 32  # from-scratch architecture ("small" preset); a fine-tune takes the init model's
    n_blocks: int = 6
    ndf: int = 64
    n_layers_D: int = 3
    domain_a: str | None = None  # names for config.json; default: the init model's, else "A"/"B"
    domain_b: str | None = None
    min_images: int = 1
    max_images: int = 2000

    def __post_init__(self):
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
        if not 0.0 <= self.decay_start <= 1.0:
            problems.append("decay_start must be between 0 and 1")
        if self.lr <= 0 or min(self.lambda_A, self.lambda_B, self.lambda_identity, self.pool_size) < 0:
            problems.append("lr must be positive; λs and pool_size must not be negative")
        if problems:
            raise CycleGANError("invalid training configuration: " + "; ".join(problems))

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


# --- events ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Started:
    run_dir: Path
    step: int  # steps already done (non-zero when resuming)
    total_steps: int
    domain_a: str
    domain_b: str
    images_a: int
    images_b: int
    skipped_a: tuple[tuple[str, str], ...]
    skipped_b: tuple[tuple[str, str], ...]
    precision: str
    resumed: bool


@dataclass(frozen=True)
class StepDone:
    step: int
    total_steps: int
    losses: dict[str, float]
    lr: float
    seconds_per_step: float


@dataclass(frozen=True)
class Preview:
    """Fixed inputs through both cycles: real_A → fake_B → rec_A and real_B → fake_A → rec_B."""

    step: int
    images: dict[str, Image.Image]
    path: Path


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: Path


@dataclass(frozen=True)
class Finished:
    step: int
    total_steps: int
    path: Path
    stopped: bool


Event = Union[Started, StepDone, Preview, CheckpointSaved, Finished]


# --- the loop ----------------------------------------------------------------------------------

def lr_factor(step: int, total: int, decay_start: float) -> float:
    """Constant, then linear decay to (almost) 0 over the last part of the run (reference schedule)."""
    start = int(total * decay_start)
    return 1.0 - max(0, step - start) / float(total - start + 1)


def set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def train(config: TrainConfig, data_a: Source, data_b: Source, out: Path | str, *, resume: bool = False,
          stop: threading.Event | None = None, device: str = "cpu") -> Iterator[Event]:
    """Train (or, with `resume=True`, continue) a CycleGAN in the run folder `out`, yielding events."""
    out = Path(out)
    torch.manual_seed(config.seed)
    domain_a = load_domain(data_a, "A", config.load_size, config.min_images, config.max_images)
    domain_b = load_domain(data_b, "B", config.load_size, config.min_images, config.max_images)
    data = UnpairedData(domain_a, domain_b, config.crop_size)
    total = config.steps if config.epochs is None else config.epochs * math.ceil(len(data) / config.batch_size)

    if not resume and (out / STATE_NAME).exists() or not resume and is_model_folder(out):
        raise DataError(f"{out} already holds a model or a run; resume it, or train into a new folder")
    run = _Run(config, out, device, resume)
    precision = resolve_precision(config.precision, run.device)
    if not resume:
        atomic_write_text(out / RUN_NAME, json.dumps(
            {"config": dataclasses.asdict(config), "data_a": _describe_source(data_a),
             "data_b": _describe_source(data_b)}, indent=2) + "\n")
    yield Started(out, run.step, total, run.model.config.domain_a, run.model.config.domain_b,
                  len(domain_a.images), len(domain_b.images), tuple(domain_a.skipped), tuple(domain_b.skipped),
                  precision, resume)

    preview_a, preview_b = data.preview_pair(config.crop_size)
    first_step = run.step + 1  # previewed at once: what the (initial) model does, within seconds
    timer = time.perf_counter()
    seconds_per_step = 0.0
    stopped = False
    try:
        while run.step < total:
            if stop is not None and stop.is_set():
                stopped = True
                break
            lr = config.lr * lr_factor(run.step, total, config.decay_start)
            losses = run.optimise(*data.batch(config.batch_size), lr, precision)
            run.step += 1
            now = time.perf_counter()
            seconds_per_step = (now - timer) if run.step == 1 else 0.9 * seconds_per_step + 0.1 * (now - timer)
            timer = now
            run.log.append({"step": run.step, **losses, "lr": lr})
            yield StepDone(run.step, total, losses, lr, seconds_per_step)
            if run.step % config.preview_every == 0 or run.step == total or run.step == first_step:
                yield run.preview(preview_a, preview_b, precision)
            if run.step % config.checkpoint_every == 0 and run.step < total:
                yield CheckpointSaved(run.step, run.save())
        path = run.save()
        yield CheckpointSaved(run.step, path)
        yield Finished(run.step, total, path, stopped)
    finally:
        if run.saved_step != run.step:  # closed, interrupted or failed mid-run: keep what was learnt
            run.save()


class _Run:
    """The networks, optimisers and pools of one run, and how they are saved and restored."""

    def __init__(self, config: TrainConfig, out: Path, device: str, resume: bool):
        self.config, self.out, self.device = config, out, torch.device(device)
        self.step = 0
        self.log: list[dict] = []
        init = load(config.init, device="cpu") if config.init and not resume else None
        self.model = CycleGAN(self._model_config(resume, init)).to(self.device)
        self.D_A = init_weights(NLayerDiscriminator(config.ndf, config.n_layers_D)).to(self.device)
        self.D_B = init_weights(NLayerDiscriminator(config.ndf, config.n_layers_D)).to(self.device)
        betas = (config.beta1, config.beta2)
        self.opt_G = torch.optim.Adam(itertools.chain(self.model.G_AB.parameters(), self.model.G_BA.parameters()),
                                      lr=config.lr, betas=betas)
        self.opt_D = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()),
                                      lr=config.lr, betas=betas)
        self.pool_A, self.pool_B = ImagePool(config.pool_size), ImagePool(config.pool_size)
        if resume:
            self._restore()
        elif init is not None:  # warm-start both generators; the discriminators start fresh
            self.model.G_AB.load_state_dict(init.G_AB.state_dict())
            self.model.G_BA.load_state_dict(init.G_BA.state_dict())
        self.saved_step = self.step
        self.model.train()

    def _model_config(self, resume: bool, init: CycleGAN | None) -> ModelConfig:
        c = self.config
        if resume:
            if not (self.out / STATE_NAME).is_file() or not is_model_folder(self.out):
                raise DataError(f"{self.out} holds no resumable run ({STATE_NAME} and the model folder files "
                                f"are needed)")
            return ModelConfig.read(self.out)
        if init is not None:
            base = init.config
            origin = f"fine-tuned from {c.init}"
        else:
            base, origin = ModelConfig(ngf=c.ngf, n_blocks=c.n_blocks), "trained from scratch"
        return base.replace(domain_a=c.domain_a or (base.domain_a if c.init else "A"),
                            domain_b=c.domain_b or (base.domain_b if c.init else "B"),
                            image_size=c.crop_size, provenance=f"{origin} with CycleGAN Studio",
                            license=base.license if c.init else "")

    def optimise(self, real_A: torch.Tensor, real_B: torch.Tensor, lr: float, precision: str) -> dict[str, float]:
        c, G_AB, G_BA = self.config, self.model.G_AB, self.model.G_BA
        real_A, real_B = real_A.to(self.device), real_B.to(self.device)
        for group in (*self.opt_G.param_groups, *self.opt_D.param_groups):
            group["lr"] = lr
        # Generators: adversarial (Eq. 1, both directions) + cycle (Eq. 2) + identity (Sec. 5.2).
        set_requires_grad((self.D_A, self.D_B), False)
        self.opt_G.zero_grad(set_to_none=True)
        with autocast(precision, self.device):
            fake_B, fake_A = G_AB(real_A), G_BA(real_B)
            rec_A, rec_B = G_BA(fake_B), G_AB(fake_A)
            loss = {
                "G_AB": gan_loss(self.D_B(fake_B), True, c.gan_mode),
                "G_BA": gan_loss(self.D_A(fake_A), True, c.gan_mode),
                "cycle_A": cycle_loss(rec_A, real_A, c.lambda_A),
                "cycle_B": cycle_loss(rec_B, real_B, c.lambda_B),
            }
            if c.lambda_identity > 0:
                loss["idt_A"] = identity_loss(G_BA(real_A), real_A, c.lambda_identity * c.lambda_A)
                loss["idt_B"] = identity_loss(G_AB(real_B), real_B, c.lambda_identity * c.lambda_B)
        sum(loss.values()).backward()
        self.opt_G.step()
        # Discriminators on real images and on fakes from the history pools.
        set_requires_grad((self.D_A, self.D_B), True)
        self.opt_D.zero_grad(set_to_none=True)
        with autocast(precision, self.device):
            loss["D_A"] = discriminator_loss(self.D_A(real_A), self.D_A(self.pool_A.query(fake_A.detach())), c.gan_mode)
            loss["D_B"] = discriminator_loss(self.D_B(real_B), self.D_B(self.pool_B.query(fake_B.detach())), c.gan_mode)
        (loss["D_A"] + loss["D_B"]).backward()
        self.opt_D.step()
        return {name: float(value.detach()) for name, value in loss.items()}

    @torch.no_grad()
    def preview(self, real_A: torch.Tensor, real_B: torch.Tensor, precision: str) -> Preview:
        G_AB, G_BA = self.model.G_AB, self.model.G_BA
        real_A, real_B = real_A.to(self.device), real_B.to(self.device)
        with autocast(precision, self.device):
            fake_B, fake_A = G_AB(real_A), G_BA(real_B)
            rec_A, rec_B = G_BA(fake_B), G_AB(fake_A)
        rows = {"real_A": real_A, "fake_B": fake_B, "rec_A": rec_A, "real_B": real_B, "fake_A": fake_A, "rec_B": rec_B}
        rows = {k: v.float().cpu() for k, v in rows.items()}
        path = self.out / "previews" / f"step_{self.step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grid = make_grid(torch.cat(list(rows.values())), nrow=3, padding=2, normalize=True, value_range=(-1, 1))
        with atomic_path(path) as tmp:
            save_image(grid, str(tmp), format="png")
        return Preview(self.step, {k: tensor_to_image(v) for k, v in rows.items()}, path)

    # --- saving and restoring ---

    def save(self) -> Path:
        """Model folder first, then the full training state, then the log; each file atomically."""
        save_model(self.model, self.out)
        tensors = {f"{name}.{k}": v.detach().cpu().contiguous() for name, net in
                   (("G_AB", self.model.G_AB), ("G_BA", self.model.G_BA), ("D_A", self.D_A), ("D_B", self.D_B))
                   for k, v in net.state_dict().items()}
        meta = {"format_version": "1", "step": str(self.step), "config": json.dumps(dataclasses.asdict(self.config))}
        for name, opt in (("opt_G", self.opt_G), ("opt_D", self.opt_D)):
            state = opt.state_dict()
            meta[f"{name}.param_groups"] = json.dumps(state["param_groups"])
            for index, values in state["state"].items():
                for key, value in values.items():
                    tensors[f"{name}.state.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["pool_A"], tensors["pool_B"] = self.pool_A.state().cpu(), self.pool_B.state().cpu()
        with atomic_path(self.out / STATE_NAME) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        atomic_write_text(self.out / LOG_NAME, json.dumps({"records": self.log}) + "\n")
        self.saved_step = self.step
        return self.out

    def _restore(self) -> None:
        path = self.out / STATE_NAME
        try:
            tensors = load_file(str(path))
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
        except (SafetensorError, OSError, ValueError) as e:
            raise DataError(f"{path} is not a readable training state ({e})") from None
        if meta.get("format_version") != "1":
            raise DataError(f"{path}: unknown training-state format {meta.get('format_version')!r}")
        for name, net in (("G_AB", self.model.G_AB), ("G_BA", self.model.G_BA), ("D_A", self.D_A), ("D_B", self.D_B)):
            prefix = f"{name}."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        for name, opt in (("opt_G", self.opt_G), ("opt_D", self.opt_D)):
            state: dict[int, dict] = {}
            prefix = f"{name}.state."
            for key, value in tensors.items():
                if key.startswith(prefix):
                    index, field = key[len(prefix):].split(".", 1)
                    state.setdefault(int(index), {})[field] = value
            opt.load_state_dict({"state": state, "param_groups": json.loads(meta[f"{name}.param_groups"])})
        self.pool_A.load_state(tensors["pool_A"])
        self.pool_B.load_state(tensors["pool_B"])
        torch.set_rng_state(tensors["rng.torch"])
        self.step = int(meta["step"])
        log_path = self.out / LOG_NAME
        records = json.loads(log_path.read_text())["records"] if log_path.is_file() else []
        self.log = [r for r in records if r["step"] <= self.step]


def read_run(run_dir: Path | str) -> tuple[TrainConfig, Source, Source]:
    """The TrainConfig and data sources a run was started with (for `--resume`)."""
    path = Path(run_dir) / RUN_NAME
    if not path.is_file():
        raise DataError(f"{run_dir} is not a training run folder (no {RUN_NAME})")
    stored = json.loads(path.read_text())
    return TrainConfig(**stored["config"]), stored["data_a"], stored["data_b"]


def _describe_source(source: Source):
    if isinstance(source, (str, Path)):
        return str(Path(source).resolve())
    return [str(Path(p).resolve()) for p in source]
