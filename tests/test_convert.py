import pickle
import subprocess

import numpy as np
import pytest
import torch

from cyclegan_core import ModelFormatError, convert_official, load_model
from cyclegan_core.engine.images import image_to_tensor
from conftest import run_cli
from reference import official_state_dict, reference_forward


@pytest.fixture
def official_pair(tmp_path):
    """horse2zebra.pth / zebra2horse.pth lookalikes: legacy running-stat keys, one with `module.`."""
    a2b, b2a = tmp_path / "horse2zebra.pth", tmp_path / "zebra2horse.pth"
    torch.save(official_state_dict(seed=1), a2b)
    torch.save(official_state_dict(seed=2, module_prefix=True), b2a)
    return a2b, b2a


def test_converted_model_reproduces_the_source_weights(official_pair, tmp_path, photo):
    out = tmp_path / "converted"
    convert_official(*official_pair, out, domains=("horse", "zebra"))
    model = load_model(out)
    assert (model.config.ngf, model.config.n_blocks, model.config.norm) == (8, 2, "instance")
    assert (model.config.domain_a, model.config.domain_b) == ("horse", "zebra")
    assert "horse2zebra.pth" in model.config.provenance
    x = image_to_tensor(photo.crop((0, 0, 300, 156)))
    for direction, path in zip(("AtoB", "BtoA"), official_pair):
        source = torch.load(path, weights_only=True)
        expected = reference_forward(source, x)
        got = model.translate_tensor(x, direction, precision="fp32")
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # The two directions really are different generators.
    assert not torch.allclose(model.translate_tensor(x, "AtoB", "fp32"), model.translate_tensor(x, "BtoA", "fp32"))


def test_wrong_tensor_shape_is_refused_and_named(tmp_path):
    state = official_state_dict()
    state["model.4.weight"] = torch.zeros(16, 8, 5, 5)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    torch.save(official_state_dict(), tmp_path / "good.pth")
    with pytest.raises(ModelFormatError, match=r"bad\.pth does not match.*model\.4\.weight \(16, 8, 5, 5\) "
                                               r"\(expected \(16, 8, 3, 3\)\)"):
        convert_official(bad, tmp_path / "good.pth", tmp_path / "out")
    assert not (tmp_path / "out").exists()


class _RunsCode:
    def __reduce__(self):
        return (subprocess.call, (["touch", "PWNED"],))


def test_pickle_that_holds_code_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pth"
    torch.save({"model.1.weight": torch.zeros(1), "payload": _RunsCode()}, evil)
    torch.save(official_state_dict(), tmp_path / "good.pth")
    with pytest.raises(ModelFormatError, match=r"evil\.pth: refused: .*references Python code \([\w.]*call\)"):
        convert_official(evil, tmp_path / "good.pth", tmp_path / "out")
    assert not (tmp_path / "PWNED").exists()


def test_plain_pickle_is_refused(tmp_path):
    path = tmp_path / "old.pth"
    path.write_bytes(pickle.dumps(_RunsCode()))
    with pytest.raises(ModelFormatError, match="old.pth"):
        convert_official(path, path, tmp_path / "out")


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(ModelFormatError, match="not a readable PyTorch checkpoint"):
        convert_official(path, path, tmp_path / "out")


def test_a_discriminator_is_not_a_generator(tmp_path):
    from cyclegan_core.nn.networks import NLayerDiscriminator
    path = tmp_path / "D.pth"
    torch.save(NLayerDiscriminator(ndf=8).state_dict(), path)
    with pytest.raises(ModelFormatError, match="not a CycleGAN ResNet generator"):
        convert_official(path, path, tmp_path / "out")


def test_generators_of_different_sizes_are_not_one_model(tmp_path):
    torch.save(official_state_dict(n_blocks=2), tmp_path / "a.pth")
    torch.save(official_state_dict(n_blocks=3), tmp_path / "b.pth")
    with pytest.raises(ModelFormatError, match="different architectures"):
        convert_official(tmp_path / "a.pth", tmp_path / "b.pth", tmp_path / "out")


def test_third_party_affine_variant_with_block_names(tmp_path):
    """Some CycleGANs (e.g. vintagify) use affine InstanceNorm and call the residual branch `block`."""
    from cyclegan_core.nn.networks import ResnetGenerator, init_weights
    torch.manual_seed(3)
    state = init_weights(ResnetGenerator(ngf=8, n_blocks=2, norm="instance_affine")).state_dict()
    state = {k: v + torch.randn_like(v) * 0.1 if k.endswith(("2.weight", "2.bias")) else v for k, v in state.items()}
    torch.save({k.replace(".conv_block.", ".block."): v for k, v in state.items()}, tmp_path / "g.pth")
    model = convert_official(tmp_path / "g.pth", None, tmp_path / "out")
    assert model.config.norm == "instance_affine"
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    torch.testing.assert_close(load_model(tmp_path / "out").translate_tensor(x, "AtoB", "fp32"),
                               reference_forward(state, x), atol=1e-5, rtol=0)


def test_cli_convert(official_pair, tmp_path):
    result = run_cli("convert", *official_pair, "--out", tmp_path / "m", "--domains", "horse", "zebra")
    assert result.returncode == 0, result.stderr
    assert "horse ↔ zebra" in result.stdout
    assert load_model(tmp_path / "m").config.domain_b == "zebra"


def test_cli_convert_bad_file_gives_one_clear_line(tmp_path, official_pair):
    (tmp_path / "x.pth").write_bytes(b"garbage")
    result = run_cli("convert", tmp_path / "x.pth", official_pair[1], "--out", tmp_path / "m")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "x.pth: not a readable PyTorch checkpoint" in result.stderr


def test_legacy_keys_are_really_dropped_not_loaded(official_pair, tmp_path):
    model = convert_official(*official_pair, tmp_path / "m")
    assert not any("running" in k for k in model.state_dict())
    assert np.isclose(model.G_AB.model[1].weight.std().item(), 0.02, atol=0.005)


def test_the_same_generator_for_both_directions_is_refused(tmp_path):
    """Copying G into F would show a cycle as if a reverse generator existed."""
    torch.save(official_state_dict(seed=1), tmp_path / "style_monet.pth")
    torch.save(official_state_dict(seed=1), tmp_path / "copy.pth")
    for b_to_a in (tmp_path / "style_monet.pth", tmp_path / "copy.pth"):
        with pytest.raises(ModelFormatError, match="hold the same generator.*one-way"):
            convert_official(tmp_path / "style_monet.pth", b_to_a, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    model = convert_official(tmp_path / "style_monet.pth", None, tmp_path / "out", domains=("photo", "Monet"))
    assert model.config.one_way and model.G_BA is None and "one-way" in model.config.provenance
    assert load_model(tmp_path / "out").config.directions == ("AtoB",)
