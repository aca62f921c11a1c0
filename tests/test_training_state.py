"""training_state.py: a trainer's whole state in one safetensors file, restored exactly."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from cyclegan_core import CycleGANTrainer, RunError, TrainConfig
from cyclegan_core.training.state import load_training_state, read_metadata, save_training_state

from conftest import TINY_POOL_2 as TINY


def trained(steps=3, seed=0, **changes):
    torch.manual_seed(seed)
    trainer = CycleGANTrainer.create(TrainConfig(**{**TINY, **changes}))
    for _ in range(steps):
        trainer.step(torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1, lr=1e-3)
    return trainer


def test_round_trip_restores_every_part(tmp_path):
    source = trained()
    path = tmp_path / "state.safetensors"
    save_training_state(source, path)
    meta = read_metadata(path)
    assert meta["step"] == "3" and json.loads(meta["config"]) == source.config.to_dict()
    rng_after_save = torch.get_rng_state()
    target = trained(steps=0, seed=9)
    load_training_state(target, path)
    assert target.steps_done == 3
    for a, b in zip(source.model.state_dict().values(), target.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip((*source.D_A.parameters(), *source.D_B.parameters()),
                    (*target.D_A.parameters(), *target.D_B.parameters())):
        assert torch.equal(a, b)
    assert torch.equal(source.pool_B.state(), target.pool_B.state()) and len(target.pool_A.images) == 2
    moments = source.opt_D.state_dict()["state"][0]["exp_avg"], target.opt_D.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(*moments)
    assert torch.equal(torch.get_rng_state(), rng_after_save)  # the saved RNG state is the one restored
    # The next step is the same on both.
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    torch.manual_seed(1)
    first = source.step(a, b, lr=1e-3)
    torch.manual_seed(1)
    assert target.step(a, b, lr=1e-3) == first


def test_foreign_or_damaged_states_are_refused(tmp_path):
    path = tmp_path / "state.safetensors"
    save_training_state(trained(steps=1), path)
    tensors = load_file(path)
    save_file(tensors, tmp_path / "v2.safetensors", metadata={"format_version": "2", "step": "1"})
    with pytest.raises(RunError, match="unknown training-state format '2'"):
        load_training_state(trained(steps=0), tmp_path / "v2.safetensors")
    bigger = trained(steps=0, ngf=16)
    with pytest.raises(RunError, match="does not match this run's networks"):
        load_training_state(bigger, path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(RunError, match="is not a readable training state"):
        load_training_state(bigger, tmp_path / "junk.safetensors")


def test_a_resumed_fp16_run_continues_its_loss_scalers_exactly(tmp_path):
    """fp16 scales its losses (GradScaler): the scale and its growth count are part of the state, so
    3 steps, save, restore into a fresh trainer, 3 more steps equals 6 steps in one go."""
    def batch(i):
        g = torch.Generator().manual_seed(i)
        return torch.rand(1, 3, 32, 32, generator=g) * 2 - 1, torch.rand(1, 3, 32, 32, generator=g) * 2 - 1

    def run(trainer, steps):
        for _ in range(steps):
            trainer.step(*batch(trainer.steps_done), lr=1e-3)
        return trainer

    straight = run(trained(steps=0, precision="fp16"), 6)
    assert straight.scaler_G.is_enabled() and straight.scaler_G.state_dict()["_growth_tracker"] > 0
    first = run(trained(steps=0, precision="fp16"), 3)
    first.scaler_G.update(new_scale=2.0 ** 10)  # a scale no fresh scaler starts from
    first.scaler_D.update(new_scale=2.0 ** 11)
    save_training_state(first, tmp_path / "state.safetensors")
    resumed = trained(steps=0, seed=9, precision="fp16")
    load_training_state(resumed, tmp_path / "state.safetensors")
    assert resumed.scaler_G.state_dict() == first.scaler_G.state_dict()
    assert resumed.scaler_D.state_dict() == first.scaler_D.state_dict()
    assert resumed.scaler_G.get_scale() == 2.0 ** 10 and resumed.scaler_D.get_scale() == 2.0 ** 11
    at_save = torch.get_rng_state()  # restored with the state; the first run continues from it too
    run(resumed, 3)
    torch.set_rng_state(at_save)
    run(first, 3)
    assert resumed.scaler_G.state_dict() == first.scaler_G.state_dict()
    for a, b in zip(first.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
