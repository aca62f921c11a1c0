"""A tiny CycleGAN trained live on a synthetic task, one generator and one discriminator update
at a time, so a class can watch what each update does.

    run = LiveRun("red_blue", lambda_cycle=10.0, lambda_identity=0.5)
    report = run.one_step()          # losses, the batch's cycles, the image pools, D's scores
    for event in run.run(seconds=60):  # LiveStep after every step, LivePreview every few
        ...

One step is `CycleGANTrainer`'s own: `generator_step` (Eq. 3 plus the identity term of Sec. 5.2:
G = `G_AB` and F = `G_BA` updated against fixed discriminators), then `discriminator_step` (D_X =
`D_A` and D_Y = `D_B` on real images vs fakes from the history pools of Sec. 4). The networks are
the paper's, only narrower and shallower (`LiveSettings`), at 32² so that a useful run takes
under a minute on a 2-core CPU. Training data is drawn fresh every step from `synthetic.py`, or,
with `data_size`, from a fixed handful of images (the small-data lesson).

A run is seeded: the weights, the batches and the pools' random draws come from its own random
state, never the process's, so the same seed gives the same run on the same machine. A lock
makes it safe to keep one run in a UI session and call it from several events.

Speed: networks this small gain little from a second CPU thread, and when the machine is busy
two threads can stall each other for seconds per step, far slower than one thread
(benchmarks/README.md); `torch.set_num_threads(1)` is the steady choice there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Union

import torch
from PIL import Image

from cyclegan_core.engine.images import tensor_to_image
from cyclegan_core.engine.runtime import autocast
from cyclegan_core.nn.image_pool import ImagePool
from cyclegan_core.nn.losses import LOSS_NAMES, PREVIEW_NAMES
from cyclegan_core.nn.losses import discriminator_loss
from cyclegan_core.teaching.synthetic import Pairs, SyntheticTask, check_size, get_task, to_images
from cyclegan_core.training.config import TrainConfig
from cyclegan_core.training.trainer import CycleGANTrainer

HELD_OUT_SEED = 2017  # the held-out inputs are the same for every run of a task, whatever its seed
RNG_LOCK = threading.Lock()  # runs take turns with the process's random state while they use it


@dataclass(frozen=True)
class LiveSettings:
    """The tiny networks and their optimiser. On two CPU cores, one thread, a one-minute run on
    red ↔ blue makes hundreds of steps, turns the objects visibly blue in its first few seconds and
    brings the cycle error far down (benchmarks/README.md; tests/test_live.py checks a 20 s run)."""

    ngf: int = 16
    n_blocks: int = 2
    ndf: int = 16
    n_layers_D: int = 2
    batch_size: int = 4
    lr: float = 1e-3  # 5× the paper's 2e-4: what makes a one-minute run useful at this size
    pool_size: int = 50  # the paper's
    precision: str = "fp32"  # bf16 is no faster for networks this small
    previews: int = 4  # held-out inputs shown in previews
    held_out: int = 32  # held-out inputs that `cycle_error` (and the lessons' measurements) average over


@dataclass(frozen=True)
class PoolView:
    """One history pool in a discriminator step (Sec. 4). `drawn`: the fakes the discriminator
    was shown; `from_history[i]`: whether drawn[i] was an older fake swapped out of the pool
    (else it is the fake just made); `contents`: the pool afterwards, up to `capacity` images."""

    drawn: tuple[Image.Image, ...]
    from_history: tuple[bool, ...]
    contents: tuple[Image.Image, ...]
    capacity: int

    @property
    def size(self) -> int:
        return len(self.contents)


@dataclass(frozen=True)
class StepReport:
    """One training step seen whole. `losses`: every term of `losses.LOSS_NAMES` (the identity
    terms are 0 when λ_identity is 0). `images`: the batch through both cycles as the generator
    step saw it (PREVIEW_NAMES → one image per batch element). `pool_A` holds fakes F(b) for D_A
    (D_X), `pool_B` fakes G(a) for D_B (D_Y). `scores`: each discriminator's mean score after its
    update on the real batch and on the fakes it drew ({"D_A": {"real": …, "fake": …}, …}; LSGAN
    targets: 1 real, 0 fake)."""

    step: int
    losses: dict[str, float]
    images: dict[str, tuple[Image.Image, ...]]
    pool_A: PoolView
    pool_B: PoolView
    scores: dict[str, dict[str, float]]
    seconds: float


@dataclass(frozen=True)
class LiveStep:
    """`run` made step `step`; `seconds` since the run started."""

    step: int
    losses: dict[str, float]
    seconds: float


@dataclass(frozen=True)
class LivePreview:
    """The held-out preview inputs through both cycles at `step`: PREVIEW_NAMES → one image per
    input (real_A → fake_B = G(a) → rec_A = F(G(a)); real_B → fake_A = F(b) → rec_B = G(F(b))).
    `cycle_error` is `LiveRun.cycle_error()` at that step."""

    step: int
    images: dict[str, tuple[Image.Image, ...]] = field(repr=False)
    cycle_error: float

    def grid(self, scale: int = 4, gap: int = 2) -> Image.Image:
        """One picture: a row per input, columns real_A, G(a), F(G(a)), real_B, F(b), G(F(b)),
        each image enlarged `scale` times."""
        return image_grid([[self.images[name][i] for name in PREVIEW_NAMES]
                           for i in range(len(self.images["real_A"]))], scale, gap)


@dataclass(frozen=True)
class LiveFinished:
    """`run` stopped at `step` after `steps` steps in `seconds`: because the step count or the
    time was reached."""

    step: int
    steps: int
    seconds: float
    reason: str  # "steps" or "seconds"


LiveEvent = Union[LiveStep, LivePreview, LiveFinished]


class RecordingPool(ImagePool):
    """The paper's image pool, remembering what its last query handed the discriminator."""

    def __init__(self, size: int):
        super().__init__(size)
        self.last_query = torch.zeros(0)
        self.last_drawn = torch.zeros(0)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        drawn = super().query(images)
        self.last_query, self.last_drawn = images.detach(), drawn
        return drawn


class LiveRun:
    """A tiny CycleGAN on `task` (a name in `synthetic.SYNTHETIC_TASKS`), trained step by step.
    λ_cycle is the paper's λ for both cycles (λ_A = λ_B, Eq. 3); λ_identity is a fraction of it
    (Sec. 5.2). `data_size`: train on that many fixed images per domain (None: fresh every step)."""

    def __init__(self, task: str | SyntheticTask, lambda_cycle: float = 10.0, lambda_identity: float = 0.5,
                 seed: int = 0, size: int = 32, data_size: int | None = None,
                 settings: LiveSettings = LiveSettings()):
        check_size(size)
        if size % 4:
            raise ValueError(f"the generators need a size that is a multiple of 4, not {size}")
        if data_size is not None and data_size < 1:
            raise ValueError(f"data_size must be at least 1, got {data_size}")
        self.task = get_task(task) if isinstance(task, str) else task
        self.settings, self.size, self.seed, self.data_size = settings, size, seed, data_size
        s = settings
        config = TrainConfig(
            batch_size=s.batch_size, lr=s.lr, crop_size=size, load_size=size, lambda_A=lambda_cycle,
            lambda_B=lambda_cycle, lambda_identity=lambda_identity, pool_size=s.pool_size, precision=s.precision,
            seed=seed, ngf=s.ngf, n_blocks=s.n_blocks, ndf=s.ndf, n_layers_D=s.n_layers_D,
            domain_a=self.task.domain_a.name, domain_b=self.task.domain_b.name)
        self.lock = threading.Lock()
        with RNG_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.trainer = CycleGANTrainer.create(config)
            self.rng_state = torch.get_rng_state()
        self.trainer.pool_A, self.trainer.pool_B = RecordingPool(s.pool_size), RecordingPool(s.pool_size)
        self.data = torch.Generator().manual_seed(seed)
        self.training_set = None if data_size is None else (  # unpaired: A's and B's drawn independently
            self.task.sample("A", data_size, size, self.data), self.task.sample("B", data_size, size, self.data))
        self.held_out: Pairs = self.task.pairs(s.held_out, size, torch.Generator().manual_seed(HELD_OUT_SEED))

    @property
    def step(self) -> int:
        return self.trainer.steps_done

    @property
    def lambda_cycle(self) -> float:
        return self.trainer.config.lambda_A

    @property
    def lambda_identity(self) -> float:
        return self.trainer.config.lambda_identity

    def set_lambdas(self, lambda_cycle: float, lambda_identity: float) -> None:
        """Change λ_cycle (both cycles) and λ_identity from the next step on (the sliders)."""
        with self.lock:
            self.trainer.config = self.trainer.config.replace(
                lambda_A=float(lambda_cycle), lambda_B=float(lambda_cycle), lambda_identity=float(lambda_identity))

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next unpaired training batch (real_A, real_B): fresh images, or ones drawn (with
        replacement, independently for A and B) from the fixed training set."""
        n = self.settings.batch_size
        if self.training_set is None:
            return self.task.sample("A", n, self.size, self.data), self.task.sample("B", n, self.size, self.data)
        images_a, images_b = self.training_set
        pick_a = torch.randint(len(images_a), (n,), generator=self.data)
        pick_b = torch.randint(len(images_b), (n,), generator=self.data)
        return images_a[pick_a], images_b[pick_b]

    def one_step(self) -> StepReport:
        """One generator update and one discriminator update, reported whole (for the "one step" button)."""
        with self.lock:
            start = time.perf_counter()
            real_A, real_B = self.batch()
            cycles = self.trainer.cycles(real_A, real_B)  # what the generator step is about to see
            losses = self.train_on(real_A, real_B)
            t = self.trainer
            scores = {"D_A": mean_scores(t, t.D_A, real_A, t.pool_A.last_drawn),  # D_X: real a vs drawn F(b)
                      "D_B": mean_scores(t, t.D_B, real_B, t.pool_B.last_drawn)}  # D_Y: real b vs drawn G(a)
            return StepReport(
                step=t.steps_done, losses=losses,
                images={name: tuple(to_images(images)) for name, images in cycles.items()},
                pool_A=pool_view(t.pool_A), pool_B=pool_view(t.pool_B), scores=scores,
                seconds=time.perf_counter() - start)

    def run(self, steps: int | None = None, seconds: float | None = None,
            preview_every: int = 10) -> Iterator[LiveEvent]:
        """Train until `steps` more steps or `seconds` have passed (whichever comes first; neither:
        until the caller closes the generator), yielding LiveStep after every step, LivePreview
        at the start, every `preview_every` steps and at the end, then LiveFinished."""
        if preview_every < 1:
            raise ValueError("preview_every must be at least 1")
        start, done = time.perf_counter(), 0
        yield self.preview()
        while True:
            elapsed = time.perf_counter() - start
            if (steps is not None and done >= steps) or (seconds is not None and elapsed >= seconds):
                break
            losses = self.train_step()
            done += 1
            yield LiveStep(self.step, losses, time.perf_counter() - start)
            if done % preview_every == 0:
                yield self.preview()
        if done % preview_every:
            yield self.preview()
        reason = "steps" if steps is not None and done >= steps else "seconds"
        yield LiveFinished(self.step, done, time.perf_counter() - start, reason)

    def train_step(self) -> dict[str, float]:
        """One training iteration on the next batch; its losses (every LOSS_NAMES term)."""
        with self.lock:
            return self.train_on(*self.batch())

    def train_on(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, float]:
        """One training iteration on this batch, with the run's own random state: the trainer's
        generator step, then its discriminator step. Callers hold `self.lock`."""
        t = self.trainer
        with RNG_LOCK, torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.rng_state)
            losses, fake_A, fake_B = t.generator_step(real_A, real_B)
            losses.update(t.discriminator_step(real_A, real_B, fake_A, fake_B))
            self.rng_state = torch.get_rng_state()
        t.steps_done += 1
        return every_term(losses)

    def loss_terms(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, float]:
        """Every loss term on this batch with the current weights, updating nothing: the values
        `generator_step` would report (Eq. 1–3, Sec. 5.2), and the discriminators' halved Eq. 1 on
        the new fakes (what `discriminator_step` reports while its pool hands back new fakes)."""
        with self.lock:
            t, c = self.trainer, self.trainer.config
            with torch.no_grad(), autocast(t.precision, t.device):
                terms, fake_A, fake_B = t.generator_losses(real_A, real_B)  # Eq. 1–3, Sec. 5.2
                terms["D_A"] = discriminator_loss(t.D_A(real_A), t.D_A(fake_A), c.gan_mode)
                terms["D_B"] = discriminator_loss(t.D_B(real_B), t.D_B(fake_B), c.gan_mode)
            return every_term(terms)

    def cycles(self, real_A: torch.Tensor | None = None, real_B: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Both cycles (PREVIEW_NAMES → tensors) of these inputs, by default the held-out ones."""
        with self.lock:
            return self.trainer.cycles(self.held_out.a if real_A is None else real_A,
                                       self.held_out.b if real_B is None else real_B)

    def cycle_error(self) -> float:
        """Mean |F(G(a)) − a| over the held-out A inputs: Eq. 2's forward L1, without λ, on
        images in [-1, 1] (so 0 is perfect and 2 the largest possible)."""
        images = self.cycles()
        return float((images["rec_A"] - images["real_A"]).abs().mean())

    def preview(self) -> LivePreview:
        """The first `settings.previews` held-out inputs through both cycles, now."""
        n = self.settings.previews
        images = self.cycles(self.held_out.a[:n], self.held_out.b[:n])
        return LivePreview(self.step, {name: tuple(to_images(t)) for name, t in images.items()}, self.cycle_error())


def every_term(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """All of LOSS_NAMES as floats; a term the step left out (identity at λ_identity = 0) is 0."""
    return {name: float(losses[name]) if name in losses else 0.0 for name in LOSS_NAMES}


@torch.no_grad()
def mean_scores(trainer: CycleGANTrainer, discriminator, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """A discriminator's mean patch score on real images and on fakes."""
    with autocast(trainer.precision, trainer.device):
        return {"real": float(discriminator(real).float().mean()), "fake": float(discriminator(fake).float().mean())}


def pool_view(pool: RecordingPool) -> PoolView:
    new, drawn = pool.last_query, pool.last_drawn
    return PoolView(drawn=tuple(to_images(drawn)),
                    from_history=tuple(not torch.equal(d, n) for d, n in zip(drawn, new)),
                    contents=tuple(tensor_to_image(image) for image in pool.images), capacity=pool.size)


def image_grid(rows: list[list[Image.Image]], scale: int = 4, gap: int = 2) -> Image.Image:
    """Equal-sized images in rows, enlarged `scale` times (nearest neighbour, so pixels stay
    sharp), `gap` px of grey between them (the synthetic images have white frames)."""
    width, height = rows[0][0].width * scale, rows[0][0].height * scale
    columns = max(len(row) for row in rows)
    canvas = Image.new("RGB", (columns * (width + gap) - gap, len(rows) * (height + gap) - gap), (128, 128, 128))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            tile = image if scale == 1 else image.resize((width, height), Image.Resampling.NEAREST)
            canvas.paste(tile, (c * (width + gap), r * (height + gap)))
    return canvas
