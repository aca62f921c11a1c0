"""train_config.py: TrainConfig's derived values, schedule and validation."""

import pytest

from cyclegan_core import CycleGANError, TrainConfig
from cyclegan_core.training.config import PRESETS, load_size_for


def test_load_size_follows_the_crop_unless_given():
    assert TrainConfig().load_size == 143 == load_size_for(128)  # the reference's 286 → 256, scaled
    assert TrainConfig(crop_size=256).load_size == 286
    assert TrainConfig(crop_size=32, load_size=36).load_size == 36
    assert TrainConfig(crop_size=64).replace(crop_size=96).load_size == load_size_for(96)
    assert TrainConfig(crop_size=32, load_size=40).replace(steps=5).load_size == 40


def test_defaults_are_the_papers_at_cpu_size():
    c = TrainConfig()
    assert (c.lr, c.beta1, c.beta2, c.lambda_A, c.lambda_B, c.lambda_identity, c.pool_size, c.gan_mode) == \
        (2e-4, 0.5, 0.999, 10.0, 10.0, 0.5, 50, "lsgan")
    assert (c.ngf, c.n_blocks) == (PRESETS["small"]["ngf"], PRESETS["small"]["n_blocks"])


def test_learning_rate_is_constant_then_decays_linearly():
    c = TrainConfig(lr=1.0)
    assert [round(c.learning_rate(s, 10), 3) for s in range(10)] == [1, 1, 1, 1, 1, 1.0, 0.833, 0.667, 0.5, 0.333]
    assert c.learning_rate(0, 1) == 1.0
    assert TrainConfig(lr=2.0, decay_start=1.0).learning_rate(9, 10) == 2.0


def test_total_steps_from_steps_or_epochs():
    assert TrainConfig(steps=7).total_steps(100) == 7
    assert TrainConfig(epochs=2, batch_size=2).total_steps(3) == 4


def test_dict_round_trip_and_unknown_keys():
    config = TrainConfig(steps=5, init="horse2zebra", domain_a="cat")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(CycleGANError, match=r"unknown training settings \['colour'\]"):
        TrainConfig.from_dict({**config.to_dict(), "colour": "blue"})


@pytest.mark.parametrize("changes, message", [
    ({"crop_size": 64, "load_size": 36}, "crop_size 64 is larger than load_size 36"),
    ({"crop_size": 4}, "crop_size must be at least 8"),
    ({"steps": 0}, "steps must be at least 1"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"gan_mode": "wgan"}, "gan_mode"),
    ({"precision": "int8"}, "precision must be one of"),
    ({"decay_start": 1.5}, "decay_start"),
    ({"lr": 0}, "lr must be positive"),
    ({"lambda_identity": -1}, "must not be negative"),
])
def test_bad_configs_are_refused(changes, message):
    with pytest.raises(CycleGANError, match=message):
        TrainConfig(**changes)
