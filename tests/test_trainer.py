"""trainer.py: one iteration is the paper's objective, G and D updated in turn, nothing else touched."""

import inspect

import pytest
import torch
import torch.nn.functional as F

from cyclegan_core import CycleGAN, CycleGANError, CycleGANTrainer, ModelConfig, TrainConfig, load_model, save_model
from cyclegan_core.nn.losses import LOSS_NAMES, REFERENCE_LOSS_NAMES

from conftest import TINY


@pytest.fixture
def trainer():
    torch.manual_seed(0)
    return CycleGANTrainer.create(TrainConfig(**TINY))


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 32, 32, generator=g) * 2 - 1, torch.rand(1, 3, 32, 32, generator=g) * 2 - 1


def snapshot(*nets):
    return [p.detach().clone() for net in nets for p in net.parameters()]


def changed(before, *nets):
    return [not torch.equal(a, b) for a, b in zip(before, (p for net in nets for p in net.parameters()))]


def test_generator_losses_are_the_papers_equations(trainer):
    a, b = batch(1)
    t, c = trainer, trainer.config
    with torch.no_grad():
        fake_b, fake_a = t.G_AB(a), t.G_BA(b)
        expected = {
            "G_AB": F.mse_loss(t.D_B(fake_b), torch.ones_like(t.D_B(fake_b))),  # LSGAN, Eq. 1
            "G_BA": F.mse_loss(t.D_A(fake_a), torch.ones_like(t.D_A(fake_a))),
            "cycle_A": c.lambda_A * (t.G_BA(fake_b) - a).abs().mean(),  # Eq. 2
            "cycle_B": c.lambda_B * (t.G_AB(fake_a) - b).abs().mean(),
            "idt_A": c.lambda_identity * c.lambda_A * (t.G_BA(a) - a).abs().mean(),  # Sec. 5.2
            "idt_B": c.lambda_identity * c.lambda_B * (t.G_AB(b) - b).abs().mean(),
        }
    d_before, g_before = snapshot(t.D_A, t.D_B), snapshot(t.G_AB, t.G_BA)
    losses, out_fake_a, out_fake_b = t.generator_step(a, b)
    assert list(losses) == list(expected)
    for name, value in expected.items():
        assert float(losses[name]) == pytest.approx(float(value), rel=1e-5), name
    torch.testing.assert_close(out_fake_a, fake_a)
    torch.testing.assert_close(out_fake_b, fake_b)
    assert not any(changed(d_before, t.D_A, t.D_B)), "the generator step must not move the discriminators"
    assert all(changed(g_before, t.G_AB, t.G_BA)), "every generator parameter gets a gradient"
    assert all(p.requires_grad for p in t.D_A.parameters())  # restored for the D step


def test_discriminator_step_uses_the_pools_and_moves_only_d(trainer):
    a, b = batch(2)
    t = trainer
    fake_a, fake_b = t.G_BA(b).detach(), t.G_AB(a).detach()
    with torch.no_grad():
        d_a = 0.5 * (F.mse_loss(t.D_A(a), torch.ones_like(t.D_A(a)))
                     + F.mse_loss(t.D_A(fake_a), torch.zeros_like(t.D_A(fake_a))))
    g_before, d_before = snapshot(t.G_AB, t.G_BA), snapshot(t.D_A, t.D_B)
    losses = t.discriminator_step(a, b, fake_a, fake_b)
    assert set(losses) == {"D_A", "D_B"}
    assert float(losses["D_A"]) == pytest.approx(float(d_a), rel=1e-5)  # the pool returns new images while filling
    assert len(t.pool_A.images) == len(t.pool_B.images) == 1
    assert not any(changed(g_before, t.G_AB, t.G_BA))
    assert all(changed(d_before, t.D_A, t.D_B))


def test_step_sets_the_learning_rate_counts_and_reports_every_term(trainer):
    losses = trainer.step(*batch(3), lr=1e-3)
    assert tuple(losses) == LOSS_NAMES and all(isinstance(v, float) for v in losses.values())
    assert trainer.steps_done == 1
    assert {g["lr"] for opt in (trainer.opt_G, trainer.opt_D) for g in opt.param_groups} == {1e-3}
    no_identity = CycleGANTrainer.create(TrainConfig(**TINY, lambda_identity=0))
    assert "idt_A" not in no_identity.step(*batch(3), lr=1e-3)


def test_create_from_scratch_or_from_an_init_model(tmp_path):
    scratch = CycleGANTrainer.create(TrainConfig(**TINY, domain_a="cat"))
    c = scratch.model.config
    assert (c.ngf, c.n_blocks, c.domain_a, c.domain_b, c.image_size) == (8, 1, "cat", "B", 32)
    assert "from scratch" in c.provenance
    torch.manual_seed(5)
    init = CycleGAN(ModelConfig(ngf=8, n_blocks=2, domain_a="horse", domain_b="zebra", license="BSD"))
    save_model(init, tmp_path / "init")
    tuned = CycleGANTrainer.create(TrainConfig(**TINY, init=str(tmp_path / "init")), init=load_model(tmp_path / "init"))
    c = tuned.model.config
    assert (c.ngf, c.n_blocks, c.domain_a, c.domain_b, c.license) == (8, 2, "horse", "zebra", "BSD")
    for (name, x), y in zip(init.state_dict().items(), tuned.model.state_dict().values()):
        assert torch.equal(x, y), name
    with pytest.raises(CycleGANError, match="load that model first"):  # the trainer never loads: the loop does
        CycleGANTrainer.create(TrainConfig(**TINY, init=str(tmp_path / "init")))


def encoder_parameters(generator):
    return [p for conv, _ in (generator.stem, *generator.downsampling) for p in conv.parameters()]


def test_a_fine_tune_keeps_the_early_layers_fixed_and_trains_the_rest(tmp_path):
    """freeze="auto": a two-way fine-tune keeps c7s1-64, d128, d256 and the first half of the residual
    blocks of both generators as loaded (the trainer's config records "early"); later blocks, decoder
    and D's learn. "encoder" keeps only the encoder. From scratch: nothing frozen."""
    torch.manual_seed(5)
    save_model(CycleGAN(ModelConfig(ngf=8, n_blocks=2)), tmp_path / "init")
    tuned = CycleGANTrainer.create(TrainConfig(**TINY, init=str(tmp_path / "init")), init=load_model(tmp_path / "init"))
    assert tuned.config.freeze == "early"
    fixed = [p for g in (tuned.G_AB, tuned.G_BA) for p in [*encoder_parameters(g), *g.blocks[0].parameters()]]
    frozen = [p.detach().clone() for p in fixed]
    learning = [p.detach().clone() for g in (tuned.G_AB, tuned.G_BA) for p in g.blocks[1].parameters()]
    tuned.step(*batch(1), 2e-4)
    tuned.step(*batch(2), 2e-4)
    assert all(torch.equal(a, b) for a, b in zip(frozen, fixed)) and len(fixed) == 20
    assert all(p.grad is None for p in fixed)  # never differentiated
    blocks = [p for g in (tuned.G_AB, tuned.G_BA) for p in g.blocks[1].parameters()]
    assert not any(torch.equal(a, b) for a, b in zip(learning, blocks))
    encoder_only = CycleGANTrainer.create(TrainConfig(**TINY, init=str(tmp_path / "init"), freeze="encoder"), init=load_model(tmp_path / "init"))
    assert [p.requires_grad for p in encoder_only.G_AB.blocks[0].parameters()] == [True] * 4
    assert not any(p.requires_grad for p in encoder_parameters(encoder_only.G_BA))
    scratch = CycleGANTrainer.create(TrainConfig(**TINY))
    assert scratch.config.freeze == "none"
    before = [p.detach().clone() for p in encoder_parameters(scratch.G_AB)]
    scratch.step(*batch(1), 2e-4)
    assert not any(torch.equal(a, b) for a, b in zip(before, encoder_parameters(scratch.G_AB)))
    everything = CycleGANTrainer.create(TrainConfig(**TINY, init=str(tmp_path / "init"), freeze="none"), init=load_model(tmp_path / "init"))
    assert all(p.requires_grad for p in everything.G_AB.parameters())


def test_freeze_settings_are_checked():
    from cyclegan_core import CycleGANError
    with pytest.raises(CycleGANError, match="freeze must be one of auto, none, encoder, early"):
        TrainConfig(**TINY, freeze="blocks")
    with pytest.raises(CycleGANError, match="needs a two-way model to fine-tune"):
        CycleGANTrainer.create(TrainConfig(**TINY, freeze="encoder"))
    old_record = {k: v for k, v in TrainConfig(**TINY).to_dict().items() if k != "freeze"}
    assert TrainConfig.from_dict(old_record).freeze == "none"  # a run from before resumes as it was trained


def test_cycles_for_previews(trainer):
    images = trainer.cycles(*batch(4))
    assert list(images) == ["real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"]
    assert all(v.shape == (1, 3, 32, 32) and v.dtype == torch.float32 for v in images.values())
    torch.testing.assert_close(images["fake_B"], trainer.G_AB(batch(4)[0]).detach())


def test_reference_loss_names_are_a_complete_renaming():
    assert tuple(REFERENCE_LOSS_NAMES) == LOSS_NAMES
    assert len(set(REFERENCE_LOSS_NAMES.values())) == len(LOSS_NAMES)  # one-to-one
    assert REFERENCE_LOSS_NAMES["D_A"] == "D_B" and REFERENCE_LOSS_NAMES["idt_A"] == "idt_B"
    assert REFERENCE_LOSS_NAMES["cycle_A"] == "cycle_A"


@pytest.mark.parametrize("method", ["step", "generator_step", "discriminator_step"])
def test_each_step_reads_on_one_screen(method):
    assert len(inspect.getsource(getattr(CycleGANTrainer, method)).splitlines()) <= 40


def test_the_gpu_paths_run_on_a_cpu_too_channels_last_and_amp():
    """channels_last gives the same step as the default layout; bf16 and fp16 autocast train with
    finite losses, and fp16 scales its losses (the GradScaler a GPU without bf16 needs)."""
    config = TrainConfig(ngf=8, n_blocks=1, ndf=8, n_layers_D=2, crop_size=32, precision="fp32", pool_size=0)
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        t = CycleGANTrainer(CycleGAN(ModelConfig(ngf=8, n_blocks=1)), config, channels_last=channels_last)
        assert (t.memory_format == torch.channels_last) == channels_last
        results.append(t.step(*batch(1), lr=2e-4))
    assert results[0] == pytest.approx(results[1], rel=1e-4)
    for precision in ("bf16", "fp16"):
        torch.manual_seed(0)
        t = CycleGANTrainer(CycleGAN(ModelConfig(ngf=8, n_blocks=1)), config.replace(precision=precision))
        losses = [t.step(*batch(seed), lr=2e-4) for seed in (1, 2)]
        assert all(torch.isfinite(torch.tensor(list(step.values()))).all() for step in losses)
        assert t.scaler_G.is_enabled() == (precision == "fp16") and t.scaler_D.is_enabled() == (precision == "fp16")
        if precision == "fp16":
            assert t.scaler_G.get_scale() > 1  # losses were scaled up before their backward


def test_a_step_reads_its_losses_back_in_one_transfer(monkeypatch):
    """Each `float(loss)` waits for the GPU: a step gathers its eight losses into one tensor and
    reads them with one `.tolist()` (the same values: they are the float32 losses either way)."""
    torch.manual_seed(0)
    trainer = CycleGANTrainer.create(TrainConfig(**{**TINY, "pool_size": 0}))
    reads = []
    real_float, real_tolist = torch.Tensor.__float__, torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "__float__", lambda self: reads.append("float") or real_float(self))
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: reads.append(f"tolist{tuple(self.shape)}")
                        or real_tolist(self))
    losses = trainer.step(*batch(3), lr=1e-3)
    assert reads == [f"tolist({len(LOSS_NAMES)},)"] and tuple(losses) == LOSS_NAMES


def test_out_of_memory_in_a_step_is_a_clear_error(trainer, monkeypatch):
    """Not "Something went wrong (OutOfMemoryError…)": a CycleGANError naming the step and what to try."""
    from cyclegan_core.errors import DeviceMemoryError

    def out_of_memory(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")

    monkeypatch.setattr(trainer, "generator_step", out_of_memory)
    with pytest.raises(DeviceMemoryError) as caught:
        trainer.step(*batch(1), lr=1e-3)
    assert isinstance(caught.value, CycleGANError) and "out of memory" in str(caught.value)
    assert "step 1" in str(caught.value) and "--batch-size" in str(caught.value) and caught.value.public
    assert trainer.steps_done == 0


def test_an_fp32_step_runs_without_tf32(monkeypatch):
    """`precision="fp32"` trains in fp32 on a GPU too: TF32 off during the step, restored after."""
    torch.manual_seed(0)
    trainer = CycleGANTrainer.create(TrainConfig(**TINY))
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    seen = []
    real = trainer.generator_step
    monkeypatch.setattr(trainer, "generator_step", lambda *a: seen.append(torch.backends.cudnn.allow_tf32) or real(*a))
    trainer.step(*batch(1), lr=1e-3)
    assert seen == [False] and torch.backends.cudnn.allow_tf32
