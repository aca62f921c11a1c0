"""Where models come from: the Hub (a loopback fake of it) and the upstream zoo server (ditto)."""

import hashlib
import io
import socket

import huggingface_hub.constants as hf
import pytest
import torch
from safetensors.torch import load_file

import cyclegan_core
from cyclegan_core import ModelNotFoundError, is_model_folder
from cyclegan_core.sources.hub import HubSource, parse_hub_source
from conftest import closed_port_url, official_pth_bytes
from servers import FakeHub, FakeUpstream


def folder_files(model_dir, prefix=""):
    return {f"{prefix}{name}": (model_dir / name).read_bytes() for name in ("config.json", "model.safetensors")}


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


class SilentServer:
    """Accepts TCP connections and never answers: a hung server or a black-holed network."""

    def __init__(self, listening: socket.socket):
        self.socket, self.url, self.accepted = listening, f"http://127.0.0.1:{listening.getsockname()[1]}", 0

    def connections(self) -> int:
        """How many connections were made to it so far."""
        self.socket.setblocking(False)
        while True:
            try:
                self.socket.accept()[0].close()
            except BlockingIOError:
                return self.accepted
            self.accepted += 1


@pytest.fixture
def silent_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield SilentServer(s)


@pytest.mark.parametrize("text, expected", [
    ("user/repo", HubSource("user/repo", None, None)),
    ("user/repo@v1.0", HubSource("user/repo", None, "v1.0")),
    ("user/repo/horse2zebra", HubSource("user/repo", "horse2zebra", None)),
    ("user/repo/a/b@refs/pr/1", HubSource("user/repo", "a/b", "refs/pr/1")),
    ("horse2zebra", None), ("user/../x", None), ("/abs/path", None), ("user repo/x", None),
])
def test_parse_hub_source(text, expected):
    assert parse_hub_source(text) == expected


def test_hub_load_downloads_then_uses_the_cache(tiny_model, tiny_model_dir, monkeypatch):
    with FakeHub({"user/repo": folder_files(tiny_model_dir)}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        model = cyclegan_core.load("user/repo")
        assert same_weights(model, tiny_model) and model.config == tiny_model.config
        assert sorted(hub.gets()) == ["/user/repo/resolve/main/config.json",
                                      "/user/repo/resolve/main/model.safetensors"]
        again = cyclegan_core.load("user/repo")
        assert len(hub.gets()) == 2, "the second load must come from the cache"
        assert same_weights(again, tiny_model)
    # Hub gone: the cached copy still loads.
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    assert same_weights(cyclegan_core.load("user/repo"), tiny_model)


def test_hub_subfolder_and_revision(tiny_model, tiny_model_dir, monkeypatch):
    with FakeHub({"org/zoo": folder_files(tiny_model_dir, "apples/")}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        model = cyclegan_core.load(f"org/zoo/apples@{FakeHub.COMMIT}")
        assert same_weights(model, tiny_model)
        assert f"/org/zoo/resolve/{FakeHub.COMMIT}/apples/model.safetensors" in hub.gets()
        with pytest.raises(ModelNotFoundError, match="has no revision 'v9'"):
            cyclegan_core.load("org/zoo/apples@v9")


def test_hub_errors_are_specific(tiny_model_dir, monkeypatch):
    files = folder_files(tiny_model_dir)
    del files["model.safetensors"]
    with FakeHub({"user/half": files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelNotFoundError, match="Hub repo nobody/nothing was not found"):
            cyclegan_core.load("nobody/nothing")
        with pytest.raises(ModelNotFoundError, match="Hub repo user/half has no model.safetensors"):
            cyclegan_core.load("user/half")


@pytest.mark.parametrize("kind, reason", [("refused", "refused"), ("silent", "no answer within 3 s|timed out")])
def test_unreachable_hub_fails_fast_and_says_so(kind, reason, silent_server, monkeypatch):
    """One short probe says why, and the cache is looked in without the Hub client's tries and retries."""
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url() if kind == "refused" else silent_server.url)
    with pytest.raises(ModelNotFoundError, match=rf"the Hub \(http://127\.0\.0\.1:\d+\) cannot be reached "
                                                 rf"\(.*({reason}).*\) and user/repo is not in the local Hub cache"):
        cyclegan_core.load("user/repo")
    if kind == "silent":
        assert silent_server.connections() == 1  # the probe's, and no other


def test_hf_hub_offline_uses_only_the_cache(monkeypatch):
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE is set"):
        cyclegan_core.load("user/repo")


# --- the zoo -------------------------------------------------------------------------------------

@pytest.fixture
def upstream_files():
    return {"horse2zebra.pth": official_pth_bytes(1), "zebra2horse.pth": official_pth_bytes(2)}


def test_zoo_downloads_converts_and_caches_from_upstream(upstream_files, offline_sandbox, monkeypatch):
    weights = offline_sandbox / "weights"
    with FakeUpstream(upstream_files) as upstream:
        monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", upstream.url)
        model = cyclegan_core.load("horse2zebra")
        assert sorted(upstream.gets()) == ["/horse2zebra.pth", "/zebra2horse.pth"]
        assert (model.config.domain_a, model.config.domain_b) == ("horse", "zebra")
        assert is_model_folder(weights / "horse2zebra")
        assert sorted(p.name for p in weights.iterdir()) == ["horse2zebra"]  # no leftovers
        sha = hashlib.sha256(upstream_files["horse2zebra.pth"]).hexdigest()
        assert sha in model.config.provenance and "BSD" in model.config.license
        # Converted weights are the upstream ones.
        source = torch.load(io.BytesIO(upstream_files["zebra2horse.pth"]), weights_only=True)
        assert torch.equal(model.G_BA.model[1].weight, source["model.1.weight"])

        count = len(upstream.requests)
        again = cyclegan_core.load("horse2zebra")
        assert len(upstream.requests) == count, "the second load must be local"
        assert same_weights(again, model)


def test_cut_off_download_leaves_nothing_behind(upstream_files, offline_sandbox, monkeypatch):
    with FakeUpstream(upstream_files, truncate=True) as upstream:
        monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", upstream.url)
        with pytest.raises(ModelNotFoundError, match="cut short"):
            cyclegan_core.load("horse2zebra")
    weights = offline_sandbox / "weights"
    assert not weights.exists() or list(weights.iterdir()) == []


def test_zoo_prefers_the_configured_hub_repo(tiny_model, tiny_model_dir, upstream_files, monkeypatch):
    with FakeHub({"studio/zoo": folder_files(tiny_model_dir, "summer2winter/")}) as hub, \
            FakeUpstream(upstream_files) as upstream:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("CYCLEGAN_HUB_REPO", "studio/zoo")
        monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", upstream.url)
        assert same_weights(cyclegan_core.load("summer2winter"), tiny_model)
        assert upstream.requests == []
        # The Hub repo lacks horse2zebra: fall through to upstream.
        assert cyclegan_core.load("horse2zebra").config.domain_b == "zebra"
        assert "/horse2zebra.pth" in upstream.gets()


def test_local_weights_folder_comes_first(tiny_model, offline_sandbox):
    cyclegan_core.save_model(tiny_model, offline_sandbox / "weights" / "summer2winter")
    assert same_weights(cyclegan_core.load("summer2winter"), tiny_model)


def test_offline_zoo_fails_fast_with_instructions(monkeypatch, silent_server):
    monkeypatch.setenv("CYCLEGAN_HUB_REPO", "studio/zoo")
    monkeypatch.setenv("HF_ENDPOINT", silent_server.url)
    with pytest.raises(ModelNotFoundError) as info:
        cyclegan_core.load("summer2winter")
    assert silent_server.connections() == 1  # one short probe of the Hub, no client tries (upstream: refused)
    message = str(info.value)
    assert "zoo model 'summer2winter' is not available" in message
    assert "local folder" in message and "Hub:" in message and "upstream:" in message
    assert "python -m cyclegan_core convert summer2winter_yosemite.pth winter2summer_yosemite.pth" in message
    assert "--domains summer winter" in message


def test_a_store_model_loads_by_the_name_the_app_lists(tiny_model, offline_sandbox, tmp_path, monkeypatch):
    from cyclegan_core import save_model
    save_model(tiny_model, offline_sandbox / "weights" / "my-model")
    loaded = cyclegan_core.load("my-model", device="cpu")
    assert torch.equal(loaded.G_AB.state_dict()["model.1.weight"], tiny_model.G_AB.state_dict()["model.1.weight"])
    monkeypatch.chdir(tmp_path)  # a folder of that name here would come first; none is
    with pytest.raises(ModelNotFoundError, match="a model in .*weights"):
        cyclegan_core.load("not-there", device="cpu")


def test_every_official_generator_resolves_through_the_upstream(offline_sandbox, monkeypatch):
    """All 18 released files: pairs become two-way models, files released alone one-way ones."""
    from cyclegan_core.sources.zoo import ZOO
    files = {f"{stem}.pth": official_pth_bytes(i) for i, stem in
             enumerate(stem for entry in ZOO.values() for stem in entry.files)}
    assert len(files) == 18
    with FakeUpstream(files) as upstream:
        monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", upstream.url)
        for name, entry in ZOO.items():
            model = cyclegan_core.load(name)
            assert (model.config.domain_a, model.config.domain_b) == (entry.domain_a, entry.domain_b)
            assert model.one_way == entry.one_way == (model.G_BA is None)
            assert model.config.image_size == entry.image_size
            source = torch.load(io.BytesIO(files[f"{entry.a_to_b_file}.pth"]), weights_only=True)
            assert torch.equal(model.G_AB.model[1].weight, source["model.1.weight"])
        assert sorted(path.lstrip("/") for path in upstream.gets()) == sorted(files)


def test_a_one_way_model_offers_no_reverse_and_no_cycle(offline_sandbox, monkeypatch, photo):
    from cyclegan_core import OneWayModelError
    with FakeUpstream({"style_monet.pth": official_pth_bytes(5)}) as upstream:
        monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", upstream.url)
        model = cyclegan_core.load("style_monet")
    assert model.config.one_way and model.config.directions == ("AtoB",)
    assert "released alone: one-way" in model.config.provenance
    assert model.translate(photo, "AtoB", precision="fp32").size == photo.size
    with pytest.raises(OneWayModelError, match="one-way: it translates photo → Monet painting only"):
        model.translate(photo, "BtoA")
    with pytest.raises(OneWayModelError):
        model.cycle(photo, "AtoB")
    keys = set(load_file(str(offline_sandbox / "weights" / "style_monet" / "model.safetensors")))
    assert keys and all(k.startswith("G_AB.") for k in keys)


def test_the_builtin_vintage_model_converts_from_the_installed_package(offline_sandbox, trained_generator_path):
    from cyclegan_core.sources.packaged import PACKAGED, packaged_folder
    model = cyclegan_core.load("vintage")
    folder = packaged_folder("vintage")
    assert folder == offline_sandbox / "weights" / ".builtin" / "vintage" and is_model_folder(folder)
    c = model.config
    assert (c.domain_a, c.domain_b, c.one_way, c.norm, c.n_blocks) == ("modern photo", "vintage photo", True,
                                                                        "instance_affine", 9)
    assert hashlib.sha256(trained_generator_path.read_bytes()).hexdigest() in c.provenance
    assert c.license.startswith("MIT") and "Permission is hereby granted" in c.license
    assert "vintagify" in PACKAGED["vintage"].card()
    assert cyclegan_core.load("vintage").config == c  # the second load is the converted folder
