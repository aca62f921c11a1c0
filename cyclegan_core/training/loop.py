"""The CycleGAN training loop, as a generator of small events.

    for event in train(TrainConfig(steps=500, init="summer2winter"), "photos/a", "photos/b", "runs/x"):
        print(event)

The CLI prints the events, the UI draws them, tests consume a few. Closing the generator (or
setting `stop`) ends the run; the `finally:` saves a resumable state, so Stop loses nothing. A
non-finite loss stops the run with a RunError and keeps the last saved state. One
iteration is `CycleGANTrainer.step` (`trainer.py`); the run folder's files are `runs.RunFolder`'s.
Under torchrun every rank runs this loop with `dist` (`distributed.py`): the same steps, its own
images, averaged gradients and losses; rank 0 alone writes the run folder.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

import torch
from PIL import Image

from cyclegan_core.atomic import atomic_path
from cyclegan_core.engine.images import tensor_to_image
from cyclegan_core.errors import CycleGANError, RunError
from cyclegan_core.model.cyclegan import CycleGAN
from cyclegan_core.model.folder import read_config
from cyclegan_core.sources.resolve import load
from cyclegan_core.training.batches import Batches
from cyclegan_core.training.config import TrainConfig
from cyclegan_core.training.data import Source, UnpairedData, load_domain
from cyclegan_core.training.distributed import Distributed, check_requested
from cyclegan_core.training.runs import RunFolder, source_name
from cyclegan_core.training.trainer import CycleGANTrainer


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
    losses: dict[str, float]  # `losses.LOSS_NAMES`, with the reference's names
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
    paused: bool = False  # `pause_after` steps done before the last: a resumable state to go on from


Event = Union[Started, StepDone, Preview, CheckpointSaved, Finished]


def train(config: TrainConfig, data_a: Source, data_b: Source, out: Path | str, *, resume: bool = False,
          stop: threading.Event | None = None, device: str = "cpu", owner: str | None = None,
          dist: Distributed | None = None, pause_after: int | None = None) -> Iterator[Event]:
    """Train (or, with `resume=True`, continue) a CycleGAN in the run folder `out`, yielding events.
    `owner` (a fresh run's) is recorded for apps that keep each visitor's runs apart. `dist`: this
    process's rank in a torch.distributed group (`distributed.from_environment()`), or None.
    `pause_after`: end after this many steps of this call, saved (`Finished.paused`), for a caller
    that trains in loans of a machine and resumes (a ZeroGPU Space); the run's schedule is unchanged."""
    run = RunFolder(out)
    main, rank, world = (True, 0, 1) if dist is None else (dist.is_main, dist.rank, dist.world_size)
    torch.manual_seed(config.seed + 1_000_003 * rank)
    domain_a = load_domain(data_a, "A", config.load_size, config.min_images, config.max_images)
    domain_b = load_domain(data_b, "B", config.load_size, config.min_images, config.max_images)
    data = UnpairedData(domain_a, domain_b, config.crop_size, seed=config.seed)
    if dist is not None:
        data.shard(rank, world, config.seed)
    total = config.total_steps(math.ceil(len(data) / world))  # an epoch covers the data once over all ranks
    trainer, problem = None, None
    try:
        if resume:
            run.require_resumable()
            trainer = CycleGANTrainer(CycleGAN(read_config(run.path)), config, device)
            log = run.restore(trainer)  # every rank reads the same state
            if rank:
                torch.manual_seed(config.seed + 1_000_003 * rank + trainer.steps_done)  # its own crops and pool
        else:
            if main:
                run.refuse_overwrite()
            init = load(config.init, device="cpu") if config.init else None
            trainer = CycleGANTrainer.create(config, device, init=init,
                                             init_name=source_name(config.init) if config.init else None)
            config = trainer.config  # with "auto" settings decided
            if main:
                run.write_record(config, data_a, data_b, owner)
            log = []
    except CycleGANError as e:
        problem = e
    if dist is not None and not dist.agree(problem is None):  # no rank trains alone
        raise problem or RunError(f"another rank could not set up the run in {run.path}; see its message")
    if problem is not None:
        raise problem
    if dist is not None:
        trainer.distribute(lambda network: dist.wrap(network, trainer.device))  # rank 0's weights for all
    check = dist is not None and check_requested()
    names = trainer.model.config
    yield Started(run.path, trainer.steps_done, total, names.domain_a, names.domain_b, len(domain_a.images),
                  len(domain_b.images), tuple(domain_a.skipped), tuple(domain_b.skipped), trainer.precision, resume)

    preview_a, preview_b = data.preview_pair(config.crop_size)
    first_step = trainer.steps_done + 1  # previewed at once: what the (initial) model does, within seconds
    saved_step = trainer.steps_done
    timer, seconds_per_step, stopped, diverged, stop_asked = time.perf_counter(), 0.0, False, False, False
    until = total if pause_after is None else min(total, trainer.steps_done + max(1, int(pause_after)))
    batches = Batches(data, config.batch_size, ahead=trainer.device.type == "cuda")  # drawn ahead on a GPU
    try:
        while trainer.steps_done < until:
            if stop_asked if dist is not None else (stop is not None and stop.is_set()):
                stopped = True
                break
            lr = config.learning_rate(trainer.steps_done, total)
            losses = trainer.step(*batches.get(trainer.steps_done), lr)
            if dist is not None:  # the mean over ranks, and whether any rank was asked to stop
                losses, stop_asked = dist.mean_and_stop(losses, stop is not None and stop.is_set())
                if check:
                    dist.check_in_sync(trainer.networks(), trainer.steps_done)
            step, now = trainer.steps_done, time.perf_counter()
            bad = {name: value for name, value in losses.items() if not math.isfinite(value)}
            if bad:  # the weights are no longer usable: keep the last saved state, not these
                diverged = True
                raise RunError(f"training diverged at step {step} ({', '.join(f'{k} = {v}' for k, v in bad.items())}"
                               f"); the last saved state (step {saved_step}) is kept. A lower learning rate or "
                               f"other data may help.")
            seconds_per_step = (now - timer) if step == 1 else 0.9 * seconds_per_step + 0.1 * (now - timer)
            timer = now
            log.append({"step": step, **losses, "lr": lr})
            yield StepDone(step, total, losses, lr, seconds_per_step)
            if main and (step % config.preview_every == 0 or step == total or step == first_step):
                yield preview(trainer, run, preview_a, preview_b)
            if step % config.checkpoint_every == 0 and step < until:
                saved_step = trainer.steps_done
                if main:
                    yield CheckpointSaved(step, run.save(trainer, log))
                if dist is not None:
                    dist.barrier()  # the others wait for rank 0's checkpoint
        saved_step = trainer.steps_done
        if main:
            yield CheckpointSaved(trainer.steps_done, run.save(trainer, log))
        if dist is not None:
            dist.barrier()
        yield Finished(trainer.steps_done, total, run.path, stopped, paused=not stopped and trainer.steps_done < total)
    finally:
        batches.close()
        if main and saved_step != trainer.steps_done and not diverged:  # closed, interrupted or failed: keep it
            run.save(trainer, log)


def preview(trainer: CycleGANTrainer, run: RunFolder, real_A: torch.Tensor, real_B: torch.Tensor) -> Preview:
    """Both cycles of the fixed preview inputs, as images and as a 3×2 grid PNG in the run folder."""
    from torchvision.utils import make_grid, save_image  # imported here: torchvision loads torch._dynamo (seconds)

    images = trainer.cycles(real_A, real_B)
    grid = make_grid(torch.cat(list(images.values())), nrow=3, padding=2, normalize=True, value_range=(-1, 1))
    path = run.preview_path(trainer.steps_done)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_image(grid, str(tmp), format="png")
    return Preview(trainer.steps_done, {k: tensor_to_image(v) for k, v in images.items()}, path)
