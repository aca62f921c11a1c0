"""`CycleGANTrainer`: the four networks, their optimisers and image pools, and one training
iteration in the paper's terms (Zhu et al. 2017, Sec. 3–4).

Names follow the paper: `G_AB` is G: A → B, `G_BA` is F: B → A, `D_A` is D_X (real A vs F(b)) and
`D_B` is D_Y (real B vs G(a)). One iteration is the reference implementation's: both generators
(Eq. 3 plus the identity term), then both discriminators on fakes from the history pools.

Its loss terms are named in `nn/losses.py` (`LOSS_NAMES`, with the reference implementation's names).
"""

from __future__ import annotations

import itertools

import torch

from cyclegan_core.engine.runtime import autocast, gpu_math, resolve_precision
from cyclegan_core.errors import CycleGANError, DeviceMemoryError
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.model.cyclegan import CycleGAN
from cyclegan_core.nn.image_pool import ImagePool
from cyclegan_core.nn.losses import PREVIEW_NAMES, cycle_loss, discriminator_loss, gan_loss, identity_loss
from cyclegan_core.nn.networks import NLayerDiscriminator, init_weights
from cyclegan_core.training.config import TrainConfig



class CycleGANTrainer:
    """Trains `model`'s generators against two fresh 70×70 PatchGANs. `steps_done` counts iterations."""

    def __init__(self, model: CycleGAN, config: TrainConfig, device: str | torch.device = "cpu",
                 channels_last: bool | None = None):
        self.config, self.device = config, torch.device(device)
        # channels_last (NHWC) suits GPU convolutions (tensor cores); on a CPU it is no faster here.
        self.memory_format = (torch.channels_last if (self.device.type == "cuda" if channels_last is None
                                                      else channels_last) else torch.contiguous_format)
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.G_AB, self.G_BA = model.G_AB, model.G_BA
        self.D_A = init_weights(NLayerDiscriminator(config.ndf, config.n_layers_D)).to(
            self.device, memory_format=self.memory_format)
        self.D_B = init_weights(NLayerDiscriminator(config.ndf, config.n_layers_D)).to(
            self.device, memory_format=self.memory_format)
        betas = (config.beta1, config.beta2)
        self.opt_G = torch.optim.Adam(itertools.chain(self.G_AB.parameters(), self.G_BA.parameters()),
                                      lr=config.lr, betas=betas)
        self.opt_D = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()),
                                      lr=config.lr, betas=betas)
        self.pool_A, self.pool_B = ImagePool(config.pool_size), ImagePool(config.pool_size)
        self.precision = resolve_precision(config.precision, self.device)
        # fp16 (a GPU without bf16) needs its losses scaled so small gradients survive; bf16 and fp32 do not.
        self.scaler_G = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.scaler_D = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.steps_done = 0
        # The networks the training passes run through: these four, or their DistributedDataParallel
        # wrappers (`distribute`). Saving, previews and the Learn tab always use the plain ones.
        self.train_G_AB, self.train_G_BA, self.train_D_A, self.train_D_B = self.G_AB, self.G_BA, self.D_A, self.D_B
        self.model.train()
        if config.freeze in ("encoder", "early"):
            self.freeze_early_layers(blocks=config.freeze == "early")

    def freeze_early_layers(self, blocks: bool) -> None:
        """Keep both generators' encoders (c7s1-64, d128, d256) as they are, and with `blocks` the first
        half of their residual blocks too: the later layers learn. Gradients still flow through frozen
        layers where a generator's input is itself generated (F(G(a)) in the cycle), but their weight
        gradients are never computed, and on a real input nothing before the first trainable layer is
        differentiated at all: of a step's 18 generator-pass equivalents (6 forward, 12 backward),
        freezing half the blocks saves about 5."""
        for generator in (self.G_AB, self.G_BA):
            for conv, norm in (generator.stem, *generator.downsampling):
                conv.requires_grad_(False)
                norm.requires_grad_(False)
            if blocks:
                for block in generator.blocks[:len(generator.blocks) // 2]:
                    block.requires_grad_(False)

    @classmethod
    def create(cls, config: TrainConfig, device: str | torch.device = "cpu", init: CycleGAN | None = None,
               init_name: str | None = None) -> "CycleGANTrainer":
        """A fresh trainer: from scratch (`config.ngf`, `config.n_blocks`), or both generators of the
        model `init` (its architecture too), which the caller loaded from `config.init` (the training
        loop does: `cyclegan_core.load`); the discriminators always start fresh. A one-way init (G
        only) gives G; F then starts fresh, and the result is a two-way model. `config.freeze` "auto" is
        decided here (the trainer's `config` holds the decision, for the run's record). `init_name`:
        how the provenance names the init (default: `config.init`; the loop gives a folder's name,
        never its path on this machine: `runs.source_name`)."""
        if config.init and init is None:
            raise CycleGANError(f"this run starts from {config.init!r}: load that model first "
                                f"(cyclegan_core.load) and pass it as init")
        two_way_init = init is not None and not init.one_way
        if config.freeze in ("encoder", "early") and not two_way_init:
            raise CycleGANError(f"freeze={config.freeze!r} keeps pretrained layers fixed: it needs a two-way model "
                                f"to fine-tune (from scratch, or F of a one-way model, every layer must learn)")
        config = config.replace(freeze="early" if config.freeze == "auto" and two_way_init
                                else "none" if config.freeze == "auto" else config.freeze)
        base = init.config if init is not None else ModelConfig(ngf=config.ngf, n_blocks=config.n_blocks)
        named = init_name or config.init or "a given model"
        origin = f"fine-tuned from {named}" if init is not None else "trained from scratch"
        if init is not None and init.one_way:
            origin += " (its G only: it has no F, so F was trained from scratch)"
        model = CycleGAN(base.replace(
            domain_a=config.domain_a or (base.domain_a if init is not None else "A"),
            domain_b=config.domain_b or (base.domain_b if init is not None else "B"),
            image_size=config.crop_size, provenance=f"{origin} with CycleGAN Studio",
            license=base.license if init is not None else "", one_way=False))
        trainer = cls(model, config, device)
        if init is not None:
            trainer.G_AB.load_state_dict(init.G_AB.state_dict())
            if not init.one_way:
                trainer.G_BA.load_state_dict(init.G_BA.state_dict())
        return trainer

    def state_dict(self) -> dict:
        """Everything an exact resume needs, as plain dicts of tensors and numbers: the four networks,
        both Adam states, both loss scalers (fp16), both history pools, torch's RNG and the step.
        `training.state` writes it into one safetensors file."""
        return {
            "step": self.steps_done,
            "networks": {name: net.state_dict() for name, net in self.networks().items()},
            "optimizers": {"opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict()},
            "scalers": {"scaler_G": self.scaler_G.state_dict(), "scaler_D": self.scaler_D.state_dict()},
            "pools": {"pool_A": self.pool_A.state(), "pool_B": self.pool_B.state()},
            "rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()`'s output. The pools' images go to this trainer's device; a
        state without scalers (an fp32 or bf16 run's, or an older file) leaves them as they are."""
        for name, net in self.networks().items():
            net.load_state_dict(state["networks"][name])
        self.opt_G.load_state_dict(state["optimizers"]["opt_G"])
        self.opt_D.load_state_dict(state["optimizers"]["opt_D"])
        for name, scaler in (("scaler_G", self.scaler_G), ("scaler_D", self.scaler_D)):
            saved = state.get("scalers", {}).get(name)
            if saved and scaler.is_enabled():
                scaler.load_state_dict(saved)
        self.pool_A.load_state(state["pools"]["pool_A"].to(self.device))
        self.pool_B.load_state(state["pools"]["pool_B"].to(self.device))
        torch.set_rng_state(state["rng"])
        self.steps_done = int(state["step"])

    def distribute(self, wrap) -> None:
        """Train through `wrap(network)` (DistributedDataParallel: `distributed.Distributed.wrap`), which
        averages each step's gradients over the ranks. The generator step reads the D's unwrapped: they
        are held fixed there, so there is nothing of theirs to average."""
        self.train_G_AB, self.train_G_BA = wrap(self.G_AB), wrap(self.G_BA)
        self.train_D_A, self.train_D_B = wrap(self.D_A), wrap(self.D_B)

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"G_AB": self.G_AB, "G_BA": self.G_BA, "D_A": self.D_A, "D_B": self.D_B}

    def step(self, real_A: torch.Tensor, real_B: torch.Tensor, lr: float) -> dict[str, float]:
        """One iteration at learning rate `lr`: the generators, then the discriminators. On a GPU:
        fp32 without TF32, cuDNN's fastest algorithms for the fixed crop size (`runtime.gpu_math`),
        the losses read back in one transfer; out of memory is a `DeviceMemoryError`."""
        real_A, real_B = self.to_device(real_A), self.to_device(real_B)
        for group in (*self.opt_G.param_groups, *self.opt_D.param_groups):
            group["lr"] = lr
        try:
            with gpu_math(self.precision, self.device, fixed_shapes=True):
                losses, fake_A, fake_B = self.generator_step(real_A, real_B)
                losses.update(self.discriminator_step(real_A, real_B, fake_A, fake_B))
        except torch.OutOfMemoryError:
            losses = None  # raised below, once this frame's tensors are no longer held by the exception
        if losses is None:
            raise self.out_of_memory()
        self.steps_done += 1
        values = torch.stack([value.float() for value in losses.values()]).tolist()  # one wait, not eight
        return dict(zip(losses, values))

    def to_device(self, batch: torch.Tensor) -> torch.Tensor:
        """A batch on this trainer's device in its memory format. To a GPU it is copied from pinned
        host memory without waiting (`non_blocking`): the copy queues behind the work before it."""
        if self.device.type == "cuda" and batch.device.type == "cpu":
            return batch.pin_memory().to(self.device, memory_format=self.memory_format, non_blocking=True)
        return batch.to(self.device, memory_format=self.memory_format)

    def out_of_memory(self) -> DeviceMemoryError:
        """The error for a step that ran out of device memory (its cached blocks handed back first)."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        c, where = self.config, "the GPU" if self.device.type == "cuda" else "this machine"
        return DeviceMemoryError(
            f"{where} ran out of memory at step {self.steps_done + 1} (batch size {c.batch_size}, {c.crop_size}² "
            f"crops, {self.precision}, {self.device}); a smaller --batch-size or --crop-size needs less, or free "
            f"the device of other work",
            public="The server ran out of memory for this training run: try a smaller crop size or batch size.")

    def generator_losses(self, real_A: torch.Tensor, real_B: torch.Tensor):
        """Eq. 3 plus identity, term by term, with the current weights: (losses, F(b), G(a)). Updates
        nothing (`generator_step` trains on these; the Learn tab shows them)."""
        c = self.config
        G, F = self.train_G_AB, self.train_G_BA
        fake_B, fake_A = G(real_A), F(real_B)  # G(a), F(b)
        loss = {
            "G_AB": gan_loss(self.D_B(fake_B), True, c.gan_mode),  # Eq. 1: D_Y should call G(a) real
            "G_BA": gan_loss(self.D_A(fake_A), True, c.gan_mode),  # Eq. 1: D_X should call F(b) real
            "cycle_A": cycle_loss(F(fake_B), real_A, c.lambda_A),  # Eq. 2: F(G(a)) ≈ a
            "cycle_B": cycle_loss(G(fake_A), real_B, c.lambda_B),  # Eq. 2: G(F(b)) ≈ b
        }
        if c.lambda_identity > 0:  # Sec. 5.2: F(a) ≈ a and G(b) ≈ b
            loss["idt_A"] = identity_loss(F(real_A), real_A, c.lambda_identity * c.lambda_A)
            loss["idt_B"] = identity_loss(G(real_B), real_B, c.lambda_identity * c.lambda_B)
        return loss, fake_A, fake_B

    def generator_step(self, real_A: torch.Tensor, real_B: torch.Tensor):
        """Update G and F on Eq. 3 plus identity: returns (losses, F(b), G(a)); D's are held fixed."""
        _requires_grad((self.D_A, self.D_B), False)
        self.opt_G.zero_grad(set_to_none=True)
        with autocast(self.precision, self.device):
            loss, fake_A, fake_B = self.generator_losses(real_A, real_B)
        self.scaler_G.scale(sum(loss.values())).backward()
        self.scaler_G.step(self.opt_G)
        self.scaler_G.update()
        _requires_grad((self.D_A, self.D_B), True)
        return {k: v.detach() for k, v in loss.items()}, fake_A.detach(), fake_B.detach()

    def discriminator_step(self, real_A: torch.Tensor, real_B: torch.Tensor, fake_A: torch.Tensor,
                           fake_B: torch.Tensor) -> dict[str, torch.Tensor]:
        """Update D_X and D_Y on real images vs fakes drawn from the history pools (Sec. 4)."""
        c = self.config
        self.opt_D.zero_grad(set_to_none=True)
        with autocast(self.precision, self.device):
            loss = {
                "D_A": discriminator_loss(self.train_D_A(real_A), self.train_D_A(self.pool_A.query(fake_A)),
                                          c.gan_mode),
                "D_B": discriminator_loss(self.train_D_B(real_B), self.train_D_B(self.pool_B.query(fake_B)),
                                          c.gan_mode),
            }
        self.scaler_D.scale(loss["D_A"] + loss["D_B"]).backward()
        self.scaler_D.step(self.opt_D)
        self.scaler_D.update()
        return {k: v.detach() for k, v in loss.items()}

    @torch.no_grad()
    def cycles(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both cycles of fixed inputs, for previews: real_A → fake_B → rec_A, real_B → fake_A → rec_B."""
        real_A, real_B = real_A.to(self.device), real_B.to(self.device)
        with autocast(self.precision, self.device):
            fake_B, fake_A = self.G_AB(real_A), self.G_BA(real_B)
            rec_A, rec_B = self.G_BA(fake_B), self.G_AB(fake_A)
        images = (real_A, fake_B, rec_A, real_B, fake_A, rec_B)
        return {name: t.float().cpu() for name, t in zip(PREVIEW_NAMES, images)}


def _requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)
