"""Publishing to the Hub (publish.py and the CLI's push / push-zoo), against a loopback fake Hub
that takes uploads the way huggingface_hub makes them and serves them back to `cyclegan_core.load`."""

import io
import shutil

import huggingface_hub.constants as hf
import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file

import cyclegan_core
from cyclegan_core import CycleGAN, CycleGANError, ModelConfig, ModelFormatError, ModelNotFoundError, RunFolder, \
    TrainConfig, is_model_folder, save_model
from cyclegan_core.cli import main
from cyclegan_core.publish import (LIBRARY_NAME, REFERENCE_LICENSE, model_card, prepare_upload, push_model, push_zoo,
                                   upload_files)
from cyclegan_core.sources.resolve import load_zoo
from cyclegan_core.training.loop import train
from cyclegan_core.sources.zoo import OFFICIAL_LICENSE, ZOO
from conftest import TINY, closed_port_url, official_pth_bytes
from servers import FakeHub, FakeUpstream

TOKEN = "hf_PublishTestToken0123456789"
MODEL_FILES = ("README.md", "config.json", "model.safetensors")


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(autouse=True)
def isolated_hub_login(tmp_path, monkeypatch):
    """No real login is read or written: HF_HOME and the token file live in tmp_path; HF_TOKEN is a
    test value."""
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(hf, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setattr(hf, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-home" / "stored_tokens"))
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)


@pytest.fixture
def hub(monkeypatch):
    with FakeHub({}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def api_calls(hub) -> list[tuple[str, str, str | None]]:
    return [(m, p, a) for (m, p), a in zip(hub.requests, hub.authorizations) if p.startswith("/api/")]


# --- what is prepared -------------------------------------------------------------------------------

def test_a_dry_run_prepares_exactly_the_model_folder_and_its_card(tiny_model_dir, hub):
    result = push_model(tiny_model_dir, "owner/name", dry_run=True)
    assert result.commit_url is None and result.files == MODEL_FILES
    assert upload_files(result.folder) == MODEL_FILES
    for name in ("config.json", "model.safetensors"):
        assert (result.folder / name).read_bytes() == (tiny_model_dir / name).read_bytes()
    assert ModelCard((result.folder / "README.md").read_text(encoding="utf-8")).data.library_name == LIBRARY_NAME
    assert hub.requests == []  # a dry run never talks to the Hub


@pytest.fixture
def run_folder(tmp_path, photo):
    """A tiny finished training run with a log, three previews, kept upload data and a stray file."""
    for domain in ("a", "b"):
        (tmp_path / "data" / domain).mkdir(parents=True)
        for i in range(2):
            photo.crop((i * 40, 0, i * 40 + 48, 48)).save(tmp_path / "data" / domain / f"{i}.png")
    config = TrainConfig(steps=3, preview_every=1, checkpoint_every=100, domain_a="cat", domain_b="dog", **TINY)
    out = tmp_path / "run"
    for _ in train(config, tmp_path / "data" / "a", tmp_path / "data" / "b", out):
        pass
    run = RunFolder(out)
    run.keep_data("A", [tmp_path / "data" / "a" / "0.png"])
    (out / "notes.txt").write_text(f"my token is {TOKEN}")
    return run


def test_a_training_run_publishes_its_card_and_images_and_nothing_else(run_folder, tmp_path):
    prepared = prepare_upload(run_folder.path, "owner/cats2dogs", tmp_path / "upload")
    assert upload_files(prepared) == ("README.md", "config.json", "images/loss.png", "images/previews.png",
                                      "model.safetensors")
    assert not any(TOKEN in p.read_bytes().decode("latin-1") for p in prepared.rglob("*") if p.is_file())
    loss = Image.open(prepared / "images" / "loss.png")
    assert loss.width > 300 and len(np.unique(np.asarray(loss.convert("L")))) > 10  # a drawn plot, not a blank
    previews = Image.open(prepared / "images" / "previews.png")
    cell = run_folder.read_previews()[0]["real_A"]
    assert cell.size == (32, 32)  # the crop size; enlarged 4× on the card
    assert previews.size == (3 * 128 + 2 * 4, 6 * 128 + 5 * 4)  # 3 previews × 2 rows, 3 columns
    assert previews.crop((0, 0, 128, 128)).resize((32, 32), Image.NEAREST).tobytes() == cell.tobytes()
    card = (prepared / "README.md").read_text(encoding="utf-8")
    assert "## Training" in card and "| steps done | 3 (planned: 3 steps) |" in card
    assert "crop size | 32 px" in card and "λ_A = 10, λ_B = 10" in card and "| learning rate | 0.0002" in card
    assert "![Training losses](images/loss.png)" in card and "![Previews](images/previews.png)" in card
    assert str(tmp_path) not in card  # no data paths


def test_a_plain_model_has_no_training_section(tiny_model_dir):
    card = model_card(tiny_model_dir, "owner/name")
    assert "## Training" not in card and "images/" not in card


@pytest.mark.parametrize("licence, expected", [
    ("MIT licence, (c) 2024 me", {"license": "mit"}),
    (OFFICIAL_LICENSE, REFERENCE_LICENSE),
    ("", {"license": "other"}),
    ("CC BY-NC 4.0", {"license": "other"}),
])
def test_the_card_metadata_parses_and_holds_library_tags_and_licence(tiny_model, tmp_path, licence, expected):
    model = CycleGAN(tiny_model.config.replace(domain_b="Cézanne painting", license=licence,
                                               provenance="trained on my photos"))
    model.load_state_dict(tiny_model.state_dict())
    folder = save_model(model, tmp_path / "m")
    card = ModelCard(model_card(folder, "owner/name"))
    data = card.data.to_dict()
    assert data["library_name"] == "cyclegan-studio" and data["pipeline_tag"] == "image-to-image"
    assert data["tags"] == ["cyclegan", "image-to-image", "unpaired-image-translation", "apple", "cezanne-painting"]
    assert {k: data.get(k) for k in ("license", "license_name", "license_link")} == \
        {"license_name": None, "license_link": None, **expected}
    assert "trained on my photos" in card.text and (licence or "Not stated in config.json") in card.text
    assert 'cyclegan_core.load("owner/name")' in card.text
    assert "python -m cyclegan_core translate --model owner/name --direction AtoB" in card.text
    assert "| residual blocks | 2 |" in card.text and "| ngf (base width) | 8 |" in card.text


def test_a_one_way_models_card_offers_a_to_b_only(tmp_path):
    config = ModelConfig(ngf=8, n_blocks=1, domain_a="photo", domain_b="Monet painting", one_way=True)
    folder = save_model(CycleGAN(config), tmp_path / "style")
    card = ModelCard(model_card(folder, "owner/zoo", subfolder="style_monet"))
    assert card.text.strip().startswith("# style_monet: photo → Monet painting (CycleGAN)")
    assert "**one-way**" in card.text and "no Monet painting → photo" in card.text
    assert "F: B → A" not in card.text and "two-way" not in card.text
    assert "monet-painting" in card.data.tags and 'cyclegan_core.load("owner/zoo/style_monet")' in card.text


# --- pushing ----------------------------------------------------------------------------------------

def test_a_pushed_model_loads_back_identical(tiny_model, tiny_model_dir, hub, tmp_path):
    result = push_model(tiny_model_dir, "owner/name")
    assert result.url == f"{hub.url}/owner/name" and result.commit_url.startswith(f"{hub.url}/owner/name/commit/")
    assert sorted(hub.repos["owner/name"]) == list(result.files) == list(MODEL_FILES)
    loaded = cyclegan_core.load("owner/name")
    assert same_weights(loaded, tiny_model) and loaded.config == tiny_model.config
    calls = api_calls(hub)
    assert [(m, p) for m, p, _ in calls] == [("POST", "/api/repos/create"), ("POST", "/api/validate-yaml"),
                                             ("POST", "/api/models/owner/name/preupload/main"),
                                             ("POST", "/api/models/owner/name/commit/main")]
    assert {a for _, _, a in calls} == {f"Bearer {TOKEN}"}  # the token went to the Hub's API …
    assert not any(TOKEN.encode() in body for body in hub.repos["owner/name"].values())  # … not into files
    home = tmp_path / "hf-home"  # nor into a login cache or a log (hf_xet may log there)
    assert not (home / "token").exists() and not (home / "stored_tokens").exists()
    assert not any(TOKEN.encode() in p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert hub.created["owner/name"]["visibility"] == "public" and hub.commits[0][1] == "main"


def test_private_revision_and_subfolder_reach_the_server(tiny_model, tiny_model_dir, hub):
    result = push_model(tiny_model_dir, "owner/name", private=True, revision="dev", path_in_repo="apples")
    assert hub.is_private("owner/name") and hub.created["owner/name"]["visibility"] == "private"
    assert "/api/models/owner/name/branch/dev" in hub.posts()
    assert hub.repos["owner/name"] == {}  # main untouched
    assert sorted(hub.branches["owner/name"]["dev"]) == ["apples/" + f for f in MODEL_FILES] == list(result.files)
    assert result.url == f"{hub.url}/owner/name/tree/dev/apples"
    assert same_weights(cyclegan_core.load("owner/name/apples@dev"), tiny_model)
    card = hub.branches["owner/name"]["dev"]["apples/README.md"].decode()
    assert 'cyclegan_core.load("owner/name/apples@dev")' in card
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        cyclegan_core.load("owner/name/apples")  # not on main


def test_a_wrong_token_is_refused_clearly_and_never_shown(tiny_model_dir, hub, monkeypatch, capsys):
    hub.required_token = "hf_TheRightOne0123456789"
    with pytest.raises(CycleGANError, match=r"refused the token \(401 Unauthorized\)") as info:
        push_model(tiny_model_dir, "owner/name")
    assert TOKEN not in str(info.value) and "owner/name" not in hub.repos and hub.commits == []
    explicit = "hf_ExplicitWrongToken98765"
    with pytest.raises(CycleGANError, match="refused the token") as info:
        push_model(tiny_model_dir, "owner/name", token=explicit)
    assert explicit not in str(info.value)
    assert f"Bearer {explicit}" in hub.authorizations  # the argument wins over HF_TOKEN

    assert main(["push", str(tiny_model_dir), "--repo", "owner/name"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: the Hub") and err.count("\n") == 1 and TOKEN not in out + err

    monkeypatch.setenv("HF_TOKEN", hub.required_token)
    assert push_model(tiny_model_dir, "owner/name").commit_url is not None


def test_a_server_error_is_reported_without_the_token_even_if_the_server_echoes_it(tiny_model_dir, hub):
    hub.commit_error = 422
    with pytest.raises(CycleGANError, match=r"publishing to owner/name failed: the Hub \(http://127\.0\.0\.1:\d+\) "
                                            r"answered 422 \(commit rejected \(request had Bearer \*\*\*\)\)") as info:
        push_model(tiny_model_dir, "owner/name")
    assert TOKEN not in str(info.value) and hub.repos["owner/name"] == {}


@pytest.mark.parametrize("damage", ["truncated weights", "no config", "no folder"])
def test_a_broken_model_is_refused_before_any_network_call(tiny_model_dir, hub, damage):
    if damage == "truncated weights":
        weights = tiny_model_dir / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "no config":
        (tiny_model_dir / "config.json").unlink()
    else:
        shutil.rmtree(tiny_model_dir)
    with pytest.raises(ModelFormatError if damage != "no folder" else ModelNotFoundError):
        push_model(tiny_model_dir, "owner/name")
    with pytest.raises(CycleGANError):
        push_model(tiny_model_dir, "owner/name", dry_run=True)
    assert hub.requests == []


def test_a_model_missing_a_generator_is_refused(tiny_model_dir, hub):
    from safetensors.torch import save_file
    weights = tiny_model_dir / "model.safetensors"
    save_file({k: v for k, v in load_file(weights).items() if k.startswith("G_AB.")}, str(weights))
    with pytest.raises(ModelFormatError, match="missing keys: G_BA"):
        push_model(tiny_model_dir, "owner/name")
    assert hub.requests == []


def test_an_unreachable_hub_fails_fast_and_says_so(tiny_model_dir, monkeypatch):
    """Refused by the short probe (its reason in the message), before the Hub client and its retries."""
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    with pytest.raises(CycleGANError, match=r"the Hub \(http://127\.0\.0\.1:\d+\) cannot be reached \(.*refused.*\); "
                                            r"nothing was uploaded"):
        push_model(tiny_model_dir, "owner/name")


@pytest.mark.parametrize("repo", ["just-a-name", "owner/name@main", "owner/name/sub", "../x"])
def test_the_repo_must_be_owner_slash_name(tiny_model_dir, repo):
    with pytest.raises(CycleGANError, match="is not a Hub repo id"):
        push_model(tiny_model_dir, repo, dry_run=True)


# --- the zoo ----------------------------------------------------------------------------------------

@pytest.fixture
def full_upstream(offline_sandbox, monkeypatch):
    """Tiny official-format generators (legacy InstanceNorm keys included) for every zoo file."""
    stems = sorted({stem for entry in ZOO.values() for stem in entry.files})
    files = {f"{stem}.pth": official_pth_bytes(seed, n_blocks=1) for seed, stem in enumerate(stems)}
    with FakeUpstream(files) as upstream:
        monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", upstream.url)
        yield upstream


@pytest.mark.slow
def test_push_zoo_publishes_every_model_and_the_zoo_then_loads_from_the_hub(full_upstream, hub, offline_sandbox,
                                                                            monkeypatch):
    lines = []
    results = push_zoo("studio/zoo", progress=lines.append)
    assert [r.files[0].split("/")[0] for r in results] == list(ZOO) and len(hub.commits) == 1  # one commit
    repo = hub.repos["studio/zoo"]
    assert sorted(repo) == sorted(["README.md"] + [f"{name}/{f}" for name in ZOO for f in MODEL_FILES])
    assert all(r.commit_url == results[0].commit_url is not None for r in results)
    index = ModelCard(repo["README.md"].decode())
    assert index.data.library_name == LIBRARY_NAME and index.data.license == "other"
    assert all(f"`studio/zoo/{name}`" in index.text for name in ZOO)
    for name, entry in ZOO.items():
        card = ModelCard(repo[f"{name}/README.md"].decode())
        assert entry.what in card.text and "sha256" in card.text  # the zoo card and the config's provenance
        assert card.data.license_name == REFERENCE_LICENSE["license_name"]
        assert ("**one-way**" in card.text) == entry.one_way
    assert f"uploading {len(ZOO)} model(s) to studio/zoo in one commit" in lines
    assert all(a is None for a in full_upstream.authorizations)  # the token went only to the Hub

    # Now serve the zoo from the Hub: nothing local, upstream gone.
    shutil.rmtree(offline_sandbox / "weights")
    monkeypatch.setenv("CYCLEGAN_HUB_REPO", "studio/zoo")
    monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", closed_port_url())
    for name, entry in ZOO.items():
        model = load_zoo(name)
        assert model.one_way == entry.one_way
        assert (model.config.domain_a, model.config.domain_b) == (entry.domain_a, entry.domain_b)
        for generator, stem in zip((model.G_AB, model.G_BA), entry.files):
            official = torch.load(io.BytesIO(full_upstream.files[f"{stem}.pth"]), weights_only=True)
            assert torch.equal(generator.state_dict()["model.1.weight"], official["model.1.weight"])
        assert not is_model_folder(offline_sandbox / "weights" / name)
    assert "/studio/zoo/resolve/main/horse2zebra/model.safetensors" in hub.gets()

    # A Space with CYCLEGAN_HUB_REPO=studio/zoo: every zoo task is ready and translates.
    from gradio_client import Client, handle_file
    from demo import build_demo, launch_options
    from demo.tasks import zoo_tasks
    from demo.translate_tab import TranslateHandlers
    from demo.model_cache import ModelCache
    shown = dict((value, text) for text, value in TranslateHandlers(ModelCache()).options([]))
    assert all(shown[t.label] == t.label for t in zoo_tasks()), "every zoo task is ready (in the Hub cache)"
    photo = offline_sandbox / "photo.png"
    Image.new("RGB", (40, 24), "olive").save(photo)
    demo = build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    try:
        client = Client(url, analytics_enabled=False, verbose=False)
        for task in zoo_tasks():
            out = Image.open(client.predict(handle_file(str(photo)), task.label, api_name="/translate"))
            assert out.size == (40, 24), task.label
    finally:
        demo.close()


def test_push_zoo_dry_run_of_some_models_uploads_nothing(zoo_upstream, hub):
    results = push_zoo("studio/zoo", names=["horse2zebra", "summer2winter"], dry_run=True)
    assert [r.files for r in results] == [tuple(f"{n}/{f}" for f in MODEL_FILES) for n in ("horse2zebra",
                                                                                          "summer2winter")]
    assert all(r.commit_url is None and upload_files(r.folder) == MODEL_FILES for r in results)
    index = (results[0].folder.parent / "README.md").read_text(encoding="utf-8")
    assert "studio/zoo/horse2zebra" in index and "style_monet" not in index
    assert hub.requests == []
    with pytest.raises(ModelNotFoundError, match="not zoo models: horse2donkey"):
        push_zoo("studio/zoo", names=["horse2donkey"], dry_run=True)


# --- the command line -------------------------------------------------------------------------------

def test_cli_push_a_model_of_the_store_by_its_name(tiny_model, offline_sandbox, hub, capsys):
    save_model(tiny_model, offline_sandbox / "weights" / "my-model")
    assert main(["push", "my-model", "--repo", "owner/mine"]) == 0
    out, err = capsys.readouterr()
    assert f"{hub.url}/owner/mine" in out and 'cyclegan_core.load("owner/mine")' in out
    assert "python -m cyclegan_core translate --model owner/mine --direction AtoB" in out
    assert TOKEN not in out + err
    assert same_weights(cyclegan_core.load("owner/mine"), tiny_model)


def test_cli_push_dry_run_lists_what_would_be_uploaded(tiny_model_dir, hub, capsys):
    assert main(["push", str(tiny_model_dir), "--repo", "owner/name", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: nothing was uploaded to owner/name")
    folder = __import__("pathlib").Path(out.splitlines()[1])
    assert upload_files(folder) == MODEL_FILES
    assert [line.strip() for line in out.splitlines()[2:]] == list(MODEL_FILES)
    assert hub.requests == []


def test_cli_push_zoo_to_a_private_branch(zoo_upstream, hub, capsys):
    args = ["push-zoo", "--repo", "studio/zoo", "--only", "horse2zebra", "summer2winter", "--private",
            "--revision", "v1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "published 2 zoo model(s) to studio/zoo in one commit" in out
    assert "CYCLEGAN_HUB_REPO=studio/zoo@v1" in out
    assert hub.is_private("studio/zoo") and hub.repos["studio/zoo"] == {}
    assert sorted(hub.branches["studio/zoo"]["v1"]) == sorted(
        ["README.md"] + [f"{n}/{f}" for n in ("horse2zebra", "summer2winter") for f in MODEL_FILES])


@pytest.mark.parametrize("args, message", [
    (["push", "nothing-here", "--repo", "owner/name"], "error: 'nothing-here' is not a model folder, a zoo name"),
    (["push", "{model}", "--repo", "no-owner"], "error: 'no-owner' is not a Hub repo id"),
])
def test_cli_push_errors_are_one_clear_line(tiny_model_dir, hub, capsys, monkeypatch, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    assert main([a.replace("{model}", str(tiny_model_dir)) for a in args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    assert hub.requests == []


def test_push_with_onnx_uploads_each_direction_that_runs_and_a_card_that_says_how(tiny_model, tiny_model_dir, hub,
                                                                                    capsys):
    import onnxruntime
    assert main(["push", str(tiny_model_dir), "--repo", "owner/onnx", "--onnx"]) == 0
    files = hub.repos["owner/onnx"]
    assert sorted(files) == sorted([*MODEL_FILES, "onnx/AtoB.onnx", "onnx/BtoA.onnx"])
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 45, 30)).astype(np.float32)
    for direction in ("AtoB", "BtoA"):
        session = onnxruntime.InferenceSession(files[f"onnx/{direction}.onnx"], providers=["CPUExecutionProvider"])
        ours = tiny_model.translate_tensor(torch.from_numpy(x), direction, "fp32").numpy()
        assert np.abs(session.run(None, {"image": x})[0] - ours).max() < 1e-4
    card = files["README.md"].decode()
    assert "## ONNX" in card and "`onnx/BtoA.onnx`: orange → apple" in card
    assert same_weights(cyclegan_core.load("owner/onnx"), tiny_model)  # loading still takes the model folder only
