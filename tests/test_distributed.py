"""Training on two processes with torchrun (gloo on CPU, tiny networks): the ranks stay in step and
learn like one process of the same effective batch, rank 0 alone writes the run, runs resume with
another number of processes, a stop on one rank stops all with a checkpoint, and a killed rank ends
the run within a bounded time."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cyclegan_core import CycleGAN, ModelConfig, RunFolder, TrainConfig, load_model, save_model
from cyclegan_core.training.data import sharded_picks
from cyclegan_core.teaching.synthetic import examples
from cyclegan_core.training.loop import Finished, train
from conftest import ROOT, run_cli


@pytest.fixture
def setup(tmp_path):
    """Red ↔ blue pictures (6 per domain) and a tiny model to start from (ngf 8, one block)."""
    for folder, domain in (("a", "A"), ("b", "B")):
        (tmp_path / folder).mkdir()
        for i, picture in enumerate(examples("red_blue", domain, 6, 40, 0)):
            picture.save(tmp_path / folder / f"{i}.png")
    torch.manual_seed(0)
    save_model(CycleGAN(ModelConfig(ngf=8, n_blocks=1)), tmp_path / "tiny")
    return tmp_path


def command(nproc: int, *args) -> list[str]:
    """`torchrun --standalone --nproc_per_node=N -m cyclegan_core train …`."""
    train_cli = ["-m", "cyclegan_core", "train", *map(str, args)]
    torchrun = shutil.which("torchrun")
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    return [*launcher, "--standalone", f"--nproc_per_node={nproc}", *train_cli]


def fresh(setup, out, steps, *extra) -> list[str]:
    return ["--data-a", setup / "a", "--data-b", setup / "b", "--out", out, "--init", setup / "tiny",
            "--crop-size", 32, "--precision", "fp32", "--device", "cpu", "--steps", steps, *extra]


ENV = dict(os.environ, OMP_NUM_THREADS="1", CYCLEGAN_DIST_CHECK="1", CYCLEGAN_DIST_TIMEOUT="30")


def run(nproc, *args, timeout=240):
    """The CLI on `nproc` processes under torchrun; one process: in this process (`run_cli`)."""
    if nproc == 1:
        result = run_cli("train", *args)
    else:
        result = subprocess.run(command(nproc, *args), capture_output=True, text=True, cwd=ROOT, env=ENV,
                                timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def log_steps(run_dir: Path) -> list[int]:
    return [r["step"] for r in json.loads((run_dir / "log.json").read_text())["records"]]


def cycle_loss(out: Path) -> float:
    records = json.loads((out / "log.json").read_text())["records"][:40][-15:]
    return sum(r["cycle_A"] + r["cycle_B"] for r in records) / len(records)


@pytest.mark.slow
@pytest.mark.distributed
def test_two_ranks_stay_in_step_learn_like_one_process_and_resume_with_one_or_two(setup):
    out = setup / "run"
    first = run(2, *fresh(setup, out, 40, "--checkpoint-every", 20))  # CYCLEGAN_DIST_CHECK: weights compared every step
    assert first.stdout.count("training A ↔ B") == 1, first.stdout  # rank 0 alone speaks
    assert "on 2 ranks (effective batch 2)" in first.stdout and "finished at step 40 of 40" in first.stdout
    assert log_steps(out) == list(range(1, 41))
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "log.json", "model.safetensors", "previews",
                                                     "train.json", "training_state.safetensors"]

    # Same effective batch, same seed: one process of batch 2 reaches the same cycle loss (the numbers
    # differ only by which random images and crops each draws).
    run(1, *fresh(setup, setup / "one", 40, "--batch-size", 2, "--checkpoint-every", 1000))
    start = json.loads((setup / "one" / "log.json").read_text())["records"][0]
    one, two = cycle_loss(setup / "one"), cycle_loss(out)
    assert one < 0.8 * (start["cycle_A"] + start["cycle_B"])  # it learnt something
    assert abs(one - two) / one < 0.25, (one, two)
    print(f"mean cycle loss over the last 15 of 40 steps: one process (batch 2) {one:.3f}, two ranks "
          f"(batch 1) {two:.3f}")

    run(1, "--resume", out, "--steps", 44)  # one process continues the two's run
    assert log_steps(out) == list(range(1, 45))
    again = run(2, "--resume", out, "--steps", 48)  # and two continue that
    assert "resuming A ↔ B" in again.stdout and "step 44 of 48" in again.stdout
    assert log_steps(out) == list(range(1, 49))
    # An ordinary model folder: the CLI translates with it, the store (the app's list) offers it.
    from cyclegan_core import ModelStore
    examples("red_blue", "A", 1, 40, 5)[0].save(setup / "red.png")
    translated = run_cli("translate", "--model", out, "--direction", "AtoB", setup / "red.png", "--out",
                         setup / "blue.png")
    assert translated.returncode == 0 and (setup / "blue.png").is_file(), translated.stderr
    assert [(m.name, m.resumable) for m in ModelStore(setup).models() if m.name == "run"] == [("run", True)]


class RankOne:
    """A stand-in for rank 1 of 2 whose collectives do nothing: what does rank 1 write?"""

    rank, world_size, local_rank, backend, is_main = 1, 2, 0, "gloo", False

    def device(self, requested):
        return torch.device(requested)

    def wrap(self, module, device):
        return module

    def agree(self, ok):
        return ok

    def mean_and_stop(self, losses, stop):
        return losses, stop

    def barrier(self):
        pass


def test_only_rank_zero_writes_the_run_folder(setup):
    config = TrainConfig(steps=3, crop_size=32, precision="fp32", init=str(setup / "tiny"), preview_every=1,
                         checkpoint_every=1)
    events = list(train(config, setup / "a", setup / "b", setup / "never", dist=RankOne()))
    assert isinstance(events[-1], Finished) and events[-1].step == 3
    assert not (setup / "never").exists()


def test_each_rank_draws_its_own_part_of_every_epoch():
    n, world = 7, 2
    per_rank = 4  # ⌈7 / 2⌉
    epoch = [sharded_picks(n, 1, step, rank, world, seed=0) for rank in range(world) for step in range(per_rank)]
    seen = sorted(i for picks in epoch for i in picks)
    assert set(seen) == set(range(n)) and len(seen) == 8  # all 7, one repeated to pad (DistributedSampler's rule)
    ranks = [{i for s in range(per_rank) for i in sharded_picks(n, 1, s, r, world, 0)} for r in range(world)]
    assert len(ranks[0] & ranks[1]) <= 1
    assert sharded_picks(n, 2, 1, 0, world, 0) == sharded_picks(n, 1, 2, 0, world, 0) + sharded_picks(n, 1, 3, 0, world, 0)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def rank_pid(launcher: subprocess.Popen, rank: int) -> int:
    """The pid of the worker with RANK=`rank` (torchrun's agent may sit between us and the workers)."""
    queue = [launcher.pid]
    while queue:
        pid = queue.pop()
        try:
            environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
        except OSError:
            environ = []
        if f"RANK={rank}".encode() in environ and b"LOCAL_RANK=" + str(rank).encode() in environ:
            return pid
        queue += children(pid)
    raise AssertionError(f"no worker with RANK={rank}")


def start_long_run(setup, out):
    launcher = subprocess.Popen(command(2, *fresh(setup, out, 100000, "--checkpoint-every", 3)), cwd=ROOT,
                                env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "training_state.safetensors").is_file():
        assert launcher.poll() is None, launcher.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.2)
    return launcher


@pytest.mark.slow
@pytest.mark.distributed
def test_sigterm_on_one_rank_stops_both_with_a_checkpoint(setup):
    out = setup / "run"
    launcher = start_long_run(setup, out)
    os.kill(rank_pid(launcher, 1), signal.SIGTERM)  # as Slurm or a cluster would, to one rank
    stdout, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode == 0, stderr[-3000:]
    stopped = [line for line in stdout.splitlines() if line.startswith("stopped at step")]
    assert stopped, stdout
    step = int(stopped[0].split()[3])
    assert log_steps(out)[-1] == step and RunFolder(out).steps_done() == step  # both ranks stopped at one step


@pytest.mark.slow
@pytest.mark.distributed
def test_a_killed_rank_ends_the_run_in_bounded_time_and_the_checkpoint_is_intact(setup):
    out = setup / "run"
    launcher = start_long_run(setup, out)
    os.kill(rank_pid(launcher, 1), signal.SIGKILL)
    launcher.communicate(timeout=90)  # the bound: a run left hanging fails here (TimeoutExpired)
    assert launcher.returncode != 0
    done = RunFolder(out).steps_done()
    assert done >= 3 and load_model(out).config.ngf == 8
    run(1, "--resume", out, "--steps", done + 2)  # the state resumes
    assert log_steps(out)[-1] == done + 2


def test_the_mean_and_the_stop_flag_come_from_the_reduced_tensor_when_the_backend_copies(monkeypatch):
    """NCCL reduces a CUDA copy of the values: the result must be read from that copy, not from the
    CPU tensor it was made from (on gloo both are one tensor, so a run on CPUs cannot tell)."""
    from cyclegan_core.training.distributed import Distributed

    other_rank = torch.tensor([3.0, 5.0, 1.0], dtype=torch.float64)  # its losses, and it asks to stop
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self.clone())  # a copy, as a GPU's is
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda t, op=None: t.add_(other_rank))
    dist = Distributed(rank=0, world_size=2, local_rank=0, backend="nccl")
    means, stop = dist.mean_and_stop({"G_AB": 1.0, "cycle_A": 2.0}, stop=False)
    assert means == {"G_AB": 2.0, "cycle_A": 3.5} and stop is True


@pytest.mark.parametrize("requested, local_rank, expected", [
    ("cuda", 1, "cuda:1"), ("cuda:0", 1, "cuda:1"), ("cuda:0", 0, "cuda:0"), ("cuda:3", 2, "cuda:2"), ("cpu", 1, "cpu"),
])
def test_each_rank_takes_the_gpu_of_its_local_rank_whatever_index_was_asked(requested, local_rank, expected):
    """`--device cuda:0` under torchrun: one process per GPU, never every rank on GPU 0 (NCCL refuses
    two ranks on one device)."""
    from cyclegan_core.training.distributed import Distributed, rank_device

    assert rank_device(requested, local_rank) == torch.device(expected)
    assert Distributed(rank=local_rank, world_size=4, local_rank=local_rank, backend="gloo").device(requested) \
        == torch.device(expected)


def test_the_init_model_is_fetched_before_the_group_is_joined(monkeypatch, tmp_path):
    """Every rank downloading `--init` inside the group's setup would count against its timeout
    (120 s): the download comes first, outside it."""
    from cyclegan_core import cli

    order = []

    class Joined(Exception):
        pass

    def join(device):
        order.append("join")
        raise Joined

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(cli, "load", lambda source, device=None: order.append(f"load {source}"))
    monkeypatch.setattr(cli, "from_environment", join)
    with pytest.raises(Joined):
        cli.main(["train", "--data-a", str(tmp_path), "--data-b", str(tmp_path), "--out", str(tmp_path / "run"),
                  "--init", "summer2winter", "--device", "cpu"])
    assert order == ["load summer2winter", "join"]
