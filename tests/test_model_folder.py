import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import cyclegan_core
from cyclegan_core import CycleGAN, ModelConfig, ModelFormatError, ModelNotFoundError, load_model, save_model


def test_round_trip_keeps_weights_config_and_prefixes(tiny_model, tiny_model_dir):
    assert sorted(p.name for p in tiny_model_dir.iterdir()) == ["config.json", "model.safetensors"]
    tensors = load_file(tiny_model_dir / "model.safetensors")
    assert {k.split(".")[0] for k in tensors} == {"G_AB", "G_BA"}
    assert len(tensors) == 2 * 20  # per generator: 3 down convs + 2 blocks × 2 convs + 3 up/out convs
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["format_version"] == 1
    assert config["domains"] == {"A": "apple", "B": "orange"}
    assert (config["ngf"], config["n_blocks"], config["norm"], config["image_size"]) == (8, 2, "instance", 32)

    loaded = load_model(tiny_model_dir)
    assert loaded.config == tiny_model.config
    for (name, a), (_, b) in zip(tiny_model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert not loaded.training


def test_save_leaves_no_temporary_files_and_overwrites(tiny_model, tiny_model_dir):
    save_model(tiny_model, tiny_model_dir)
    assert sorted(p.name for p in tiny_model_dir.iterdir()) == ["config.json", "model.safetensors"]


def _rewrite(folder, change):
    tensors = load_file(folder / "model.safetensors")
    change(tensors)
    save_file(tensors, folder / "model.safetensors")


def test_missing_key_is_named(tiny_model_dir):
    _rewrite(tiny_model_dir, lambda t: t.pop("G_BA.model.4.bias"))
    with pytest.raises(ModelFormatError, match=r"missing keys: G_BA\.model\.4\.bias"):
        load_model(tiny_model_dir)


def test_unexpected_key_is_named(tiny_model_dir):
    _rewrite(tiny_model_dir, lambda t: t.update({"D_A.model.0.weight": torch.zeros(1)}))
    with pytest.raises(ModelFormatError, match=r"unexpected keys: D_A\.model\.0\.weight"):
        load_model(tiny_model_dir)


def test_wrong_shape_is_named(tiny_model_dir):
    _rewrite(tiny_model_dir, lambda t: t.update({"G_AB.model.1.weight": torch.zeros(16, 3, 7, 7)}))
    with pytest.raises(ModelFormatError, match=r"wrong shapes: G_AB\.model\.1\.weight \(16, 3, 7, 7\) "
                                               r"\(expected \(8, 3, 7, 7\)\)"):
        load_model(tiny_model_dir)


def test_config_that_disagrees_with_weights(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["n_blocks"] = 3
    (tiny_model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match=r"n_blocks=3.*missing keys: G_AB\.model\.12\.conv_block"):
        load_model(tiny_model_dir)


def test_missing_config(tiny_model_dir):
    (tiny_model_dir / "config.json").unlink()
    with pytest.raises(ModelFormatError, match="no config.json in model folder"):
        load_model(tiny_model_dir)


def test_missing_weights(tiny_model_dir):
    (tiny_model_dir / "model.safetensors").unlink()
    with pytest.raises(ModelFormatError, match="no model.safetensors"):
        load_model(tiny_model_dir)


@pytest.mark.parametrize("change, message", [
    ({"format_version": 2}, "unknown format_version 2"),
    ({"format_version": None}, "unknown format_version None"),
    ({"norm": "batch"}, "unknown norm 'batch'"),
    ({"ngf": "8"}, "'ngf' must be int"),
    ({"domains": ["a", "b"]}, "'domains' must be an object"),
    ({"colour": "blue"}, r"unknown keys \['colour'\]"),
])
def test_bad_config_values(tiny_model_dir, change, message):
    config = json.loads((tiny_model_dir / "config.json").read_text()) | change
    (tiny_model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match=message):
        load_model(tiny_model_dir)


def test_config_not_json(tiny_model_dir):
    (tiny_model_dir / "config.json").write_text("{ not json")
    with pytest.raises(ModelFormatError, match="is not valid JSON"):
        load_model(tiny_model_dir)


def test_corrupt_safetensors(tiny_model_dir):
    (tiny_model_dir / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFormatError, match="not a readable safetensors file"):
        load_model(tiny_model_dir)


def test_pickle_in_place_of_safetensors_is_not_unpickled(tiny_model_dir, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle
    (tiny_model_dir / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFormatError):
        load_model(tiny_model_dir)
    assert not marker.exists()


def test_missing_folder():
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        cyclegan_core.load("./no/such/model")


def test_unknown_source_says_what_sources_exist():
    with pytest.raises(ModelNotFoundError, match=r"zoo name \(summer2winter, horse2zebra, apple2orange, .*style_monet.*\), a built-in model \(vintage\)"):
        cyclegan_core.load("not a model")


def test_fp16_weights_load_as_float32(tiny_model_dir):
    _rewrite(tiny_model_dir, lambda t: t.update({k: v.half() for k, v in t.items()}))
    model = load_model(tiny_model_dir)
    assert model.G_AB.model[1].weight.dtype == torch.float32


def test_non_float_weights_refused(tiny_model_dir):
    _rewrite(tiny_model_dir, lambda t: t.update({"G_AB.model.1.bias": torch.zeros(8, dtype=torch.int64)}))
    with pytest.raises(ModelFormatError, match="non-float tensors: G_AB.model.1.bias"):
        load_model(tiny_model_dir)


def test_nine_block_model_folder_round_trip(tmp_path):
    model = CycleGAN(ModelConfig())
    save_model(model, tmp_path / "m")
    assert len(load_file(tmp_path / "m" / "model.safetensors")) == 96
    assert load_model(tmp_path / "m").config.n_blocks == 9
