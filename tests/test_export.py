"""ONNX export: the file onnxruntime runs gives our fp32 translation (≥ 45 dB in fp32, ≥ 40 dB in fp16)
at 256², 1024² and an odd size, for a two-way and a one-way model; metadata; the CLI."""

import hashlib
import os

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from conftest import run_cli
from cyclegan_core import CycleGAN, ModelConfig, OneWayModelError, save_model
from cyclegan_core.export import read_metadata, to_onnx

SIZES = [(256, 256), (1024, 1024), (451, 300), (3, 7)]  # (H, W); 3×7 is too thin to reflect: replicated


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float((((a - b) * 127.5) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def run_onnx(path, x: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x.numpy()})[0]


@pytest.fixture
def affine_model():
    """A two-way model with affine norms (as the vintage model) whose scales and shifts are not 1 and 0."""
    torch.manual_seed(1)
    model = CycleGAN(ModelConfig(ngf=8, n_blocks=2, norm="instance_affine", domain_a="day", domain_b="night",
                                 provenance="trained in a test", license="CC0-1.0"))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return model


@pytest.mark.parametrize("precision, bound", [("fp32", 45), ("fp16", 40)])
def test_onnxruntime_gives_our_fp32_translation_both_ways_at_every_size(affine_model, tmp_path, precision, bound):
    torch.manual_seed(2)
    for direction in ("AtoB", "BtoA"):
        path = tmp_path / f"{direction}.onnx"
        to_onnx(affine_model, direction, precision, path)
        onnx.checker.check_model(str(path), full_check=True)
        for height, width in SIZES:
            x = torch.rand(1, 3, height, width) * 2 - 1
            ours = affine_model.translate_tensor(x, direction, "fp32").numpy()
            theirs = run_onnx(path, x)
            assert theirs.shape == (1, 3, height, width) and theirs.dtype == np.float32
            assert psnr(theirs, ours) >= bound, (direction, height, width)


def test_fp16_halves_the_file_and_a_one_way_model_exports_its_only_direction(tiny_config, tmp_path):
    torch.manual_seed(0)
    model = CycleGAN(tiny_config.replace(one_way=True, n_blocks=4))
    full = to_onnx(model, "AtoB", "fp32", tmp_path / "g.onnx")
    half = to_onnx(model, "AtoB", "fp16", tmp_path / "h.onnx")
    assert 0.45 < (tmp_path / "h.onnx").stat().st_size / (tmp_path / "g.onnx").stat().st_size < 0.6
    assert full.opset_import[0].version >= 17 and half.opset_import[0].version >= 17
    for height, width in SIZES:
        x = torch.rand(1, 3, height, width) * 2 - 1
        ours = model.translate_tensor(x, "AtoB", "fp32").numpy()
        assert psnr(run_onnx(tmp_path / "g.onnx", x), ours) >= 45, (height, width)
        assert psnr(run_onnx(tmp_path / "h.onnx", x), ours) >= 40, (height, width)
    with pytest.raises(OneWayModelError, match="one-way"):
        to_onnx(model, "BtoA")
    assert not (tmp_path / "BtoA.onnx").exists()


def test_dynamic_height_and_width_and_a_batch(affine_model, tmp_path):
    to_onnx(affine_model, "AtoB", "fp32", tmp_path / "g.onnx")
    graph = onnx.load(str(tmp_path / "g.onnx")).graph
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert "InstanceNormalization" in {n.op_type for n in graph.node}  # the inference norm, not a decomposition
    x = torch.rand(2, 3, 64, 80) * 2 - 1
    out = run_onnx(tmp_path / "g.onnx", x)
    for i in range(2):
        assert psnr(out[i:i + 1], affine_model.translate_tensor(x[i:i + 1], "AtoB", "fp32").numpy()) >= 45


def test_the_metadata_names_the_domains_direction_provenance_and_licence(affine_model, tmp_path):
    to_onnx(affine_model, "BtoA", "fp16", tmp_path / "night2day.onnx")
    meta = read_metadata(tmp_path / "night2day.onnx")
    assert meta["direction"] == "BtoA"
    assert (meta["source_domain"], meta["target_domain"]) == ("night", "day")
    assert meta["license"] == "CC0-1.0" and meta["provenance"] == "trained in a test"
    assert meta["precision"] == "fp16" and "[-1, 1]" in meta["input"]
    session = onnxruntime.InferenceSession(str(tmp_path / "night2day.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["target_domain"] == "day"


def test_a_real_trained_generator_exports_at_full_size(trained_model, tmp_path, photo):
    """The paper's 9-block generator with trained weights (affine norms): the real thing, not only tiny ones."""
    x = torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None].float() / 127.5 - 1  # 301×157, odd
    ours = trained_model.translate_tensor(x, "AtoB", "fp32").numpy()
    for precision, bound in (("fp32", 45), ("fp16", 40)):
        to_onnx(trained_model, "AtoB", precision, tmp_path / f"{precision}.onnx")
        assert psnr(run_onnx(tmp_path / f"{precision}.onnx", x), ours) >= bound


def test_the_cli_exports_and_says_what_it_wrote(affine_model, tmp_path):
    folder = save_model(affine_model, tmp_path / "daynight")
    result = run_cli("export", folder, "--format", "onnx", "--out", tmp_path / "x.onnx")
    assert result.returncode == 2 and "--direction AtoB (day → night)" in result.stderr
    assert not (tmp_path / "x.onnx").exists()
    result = run_cli("export", folder, "--direction", "BtoA", "--precision", "fp16", "--out", tmp_path / "x.onnx")
    assert result.returncode == 0, result.stderr
    assert "night → day" in result.stdout and "fp16" in result.stdout
    assert read_metadata(tmp_path / "x.onnx")["direction"] == "BtoA"
    result = run_cli("export", tmp_path / "nowhere", "--direction", "AtoB", "--out", tmp_path / "y.onnx")
    assert result.returncode == 1 and "error:" in result.stderr and not (tmp_path / "y.onnx").exists()


def test_the_browser_file_is_made_once_per_set_of_weights_in_the_precision_that_keeps_40_db(tiny_model, tmp_path,
                                                                                           monkeypatch):
    from cyclegan_core import export
    made = []
    real = export.to_onnx
    monkeypatch.setattr(export, "to_onnx", lambda *args, **kwargs: made.append(args[2]) or real(*args, **kwargs))
    first = export.exported(tiny_model, "AtoB", tmp_path)
    assert first.precision == "fp16" and first.psnr >= 40 and made == ["fp16"]
    assert first.path.is_file() and first.bytes == first.path.stat().st_size
    assert first.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert export.exported(tiny_model, "AtoB", tmp_path) == first and made == ["fp16"]  # kept: not made again
    other = export.exported(tiny_model, "BtoA", tmp_path)
    assert other.path != first.path
    with torch.no_grad():
        tiny_model.G_AB.model[1].weight.mul_(1.5)  # new weights: a new file
    changed = export.exported(tiny_model, "AtoB", tmp_path)
    assert changed.sha256 != first.sha256 and len(made) == 3

    monkeypatch.setattr(export, "BROWSER_MIN_PSNR", 1000.0)  # fp16 never good enough: fp32 is sent
    with torch.no_grad():
        tiny_model.G_AB.model[1].weight.mul_(1.5)
    assert export.exported(tiny_model, "AtoB", tmp_path).precision == "fp32" and made[-2:] == ["fp16", "fp32"]
    monkeypatch.setattr(export, "KEEP_EXPORTS", 2)
    with torch.no_grad():
        tiny_model.G_AB.model[1].weight.mul_(1.5)
    export.exported(tiny_model, "AtoB", tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 2 and len(list(tmp_path.glob("*.onnx"))) == 2


def live_run(session, x: torch.Tensor, shared: np.ndarray, use_shared: float) -> tuple[np.ndarray, np.ndarray]:
    translated, statistics = session.run(["translated", "statistics"], {
        "image": x.numpy(), "shared": shared.astype(np.float32), "use_shared": np.array([use_shared], np.float32)})
    return translated, statistics


def flat_statistics(statistics) -> np.ndarray:
    """`shots` statistics in the live graph's layout: for each norm, its C means then its C variances."""
    return np.concatenate([t.flatten().numpy() for mean_var in statistics for t in mean_var])


def unflat_statistics(generator, flat: np.ndarray) -> list:
    from cyclegan_core.engine.shots import norms_of
    statistics, start = [], 0
    for norm in norms_of(generator):
        c = norm.num_features
        mean, var = (torch.from_numpy(flat[start + i * c:start + (i + 1) * c].copy()).view(1, c, 1, 1) for i in (0, 1))
        statistics.append((mean, var))
        start += 2 * c
    assert start == len(flat)
    return statistics


@pytest.mark.parametrize("affine", [False, True])
def test_the_live_graph_gives_its_own_statistics_and_normalises_with_shared_ones(tiny_model, affine_model, affine):
    """use_shared 0: the ordinary translation and the frame's statistics (`shots.frame_statistics`);
    use_shared 1 with another picture's statistics: `shots.translate_with_statistics`."""
    from cyclegan_core.engine import shots
    from cyclegan_core.engine.onnx_graph import generator_graph, statistics_length
    model = affine_model if affine else tiny_model
    generator = model.generator("AtoB").eval()
    n = statistics_length(generator)
    assert n == 2 * sum(m.num_features for m in shots.norms_of(generator)) == 2 * (8 + 16 + 32 + 32 * 4 + 16 + 8)
    graph = generator_graph(generator, "fp32", live=True)
    onnx.checker.check_model(graph, full_check=True)
    assert [i.name for i in graph.graph.input] == ["image", "shared", "use_shared"]
    assert [o.name for o in graph.graph.output] == ["translated", "statistics"]
    session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    torch.manual_seed(3)
    x = torch.rand(1, 3, 40, 56) * 2 - 1
    other = (torch.rand(1, 3, 40, 56) * 0.6 - 0.5).clamp(-1, 1)  # darker, flatter: other statistics

    own, statistics = live_run(session, x, np.full(n, 7.0), 0.0)  # `shared` ignored at w = 0
    assert statistics.shape == (n,) and statistics.dtype == np.float32
    ours = model.translate_tensor(x, "AtoB", "fp32").numpy()
    assert np.abs(own - ours).max() < 1e-4
    expected = flat_statistics(shots.frame_statistics(generator, x, "fp32"))
    np.testing.assert_allclose(statistics, expected, atol=1e-4)
    assert (statistics[:8] != 0).all() and (statistics[8:16] > 0).all()  # first norm: 8 means, 8 variances

    _, shared = live_run(session, other, np.zeros(n), 0.0)
    locked, locked_statistics = live_run(session, x, shared, 1.0)
    np.testing.assert_allclose(locked_statistics[:16], statistics[:16], atol=1e-6)  # its own: the first norm's …
    assert np.abs(locked_statistics[16:] - statistics[16:]).max() > 0.01  # … then of activations made with `shared`
    theirs = shots.translate_with_statistics(generator, x, unflat_statistics(generator, shared), "fp32").numpy()
    assert np.abs(locked - theirs).max() < 1e-3
    assert np.abs(locked - own).max() > 0.1 and psnr(locked, own) < 35

    given = generator_graph(generator, "fp32", live=True, own_statistics=False)  # what `backends.run_shared` runs
    onnx.checker.check_model(given, full_check=True)
    assert [i.name for i in given.graph.input] == ["image", "shared"]
    assert [o.name for o in given.graph.output] == ["translated"]
    fixed = onnxruntime.InferenceSession(given.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"image": x.numpy(), "shared": shared})[0]
    assert np.abs(fixed - locked).max() < 1e-4


def test_the_live_graph_is_fp32_only_and_exported_beside_the_ordinary_file(tiny_model, tmp_path):
    from cyclegan_core import export
    from cyclegan_core.engine.onnx_graph import statistics_length
    with pytest.raises(ValueError, match="fp32"):
        to_onnx(tiny_model, "AtoB", "fp16", live=True)
    ordinary = export.exported(tiny_model, "AtoB", tmp_path)
    live = export.exported(tiny_model, "AtoB", tmp_path, live=True)
    assert ordinary.statistics_length == 0 and live.statistics_length == statistics_length(tiny_model.G_AB) == 416
    assert live.path != ordinary.path and "-live" in live.path.name and live.sha256 != ordinary.sha256
    assert live.precision == "fp32" and live.psnr >= 45 and live.bytes == live.path.stat().st_size
    assert len(list(tmp_path.glob("*.json"))) == 2
    meta = read_metadata(live.path)
    assert meta["live"] == "true" and meta["statistics_length"] == "416" and "shared" in meta["inputs_live"]
    assert "live" not in read_metadata(ordinary.path)
    made = []
    real = export.to_onnx
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "to_onnx", lambda *args, **kwargs: made.append(args) or real(*args, **kwargs))
        assert export.exported(tiny_model, "AtoB", tmp_path, live=True) == live  # kept: not made again
        assert export.exported(tiny_model, "AtoB", tmp_path) == ordinary and made == []
        patch.setattr(export, "KEEP_EXPORTS", 2)
        os.utime(tmp_path / f"{ordinary.path.name.split('-')[0]}.json", (0, 0))  # the ordinary record: oldest
        with torch.no_grad():
            tiny_model.G_AB.model[1].weight.mul_(1.5)
        export.exported(tiny_model, "AtoB", tmp_path)  # a third file: the ordinary one goes, not the live one
    assert not ordinary.path.exists() and live.path.is_file() and len(list(tmp_path.glob("*.onnx"))) == 2
