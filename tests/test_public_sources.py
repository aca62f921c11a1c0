"""public_sources.py: a visitor names zoo models, stored models and Hub repos, never server paths."""

import pytest

from cyclegan_core import ModelStore, SourceRefused, save_model
from cyclegan_core.public_sources import hub_allowed_owners, hub_max_bytes, load_public, resolve
from servers import FakeHub


@pytest.fixture
def store(tiny_model, offline_sandbox):
    store = ModelStore()
    save_model(tiny_model, store.root / "fruit")
    return store


def test_the_three_kinds(store):
    assert resolve("horse2zebra", store).kind == "zoo"
    fruit = resolve(" fruit ", store)
    assert fruit.kind == "store" and fruit.stored.path == store.root / "fruit"
    assert fruit.init_source() == str(store.root / "fruit")  # what TrainConfig.init takes
    assert load_public("fruit", store).config.domain_a == "apple"
    hub = resolve("owner/repo/sub@v1", store)
    assert hub.kind == "hub" and hub.hub.subfolder == "sub" and hub.hub.revision == "v1"


@pytest.mark.parametrize("text", ["/etc", "../../x", "~/weights", ".", "", "a:b", "x" * 10_000, "file:///etc/passwd",
                                  "http://example.com/model", "owner/../x"])
def test_everything_else_is_refused_with_one_public_message(store, text):
    with pytest.raises(SourceRefused) as error:
        resolve(text, store)
    assert error.value.public.startswith("That is not a model this app offers")
    assert len(str(error.value)) < 400  # a 10 kB text is not echoed back whole


def test_existing_folders_read_like_missing_ones(store, tmp_path):
    (tmp_path / "plain").mkdir()
    publics = set()
    for text in (str(store.root / "fruit"), str(tmp_path / "plain"), str(tmp_path / "missing"), "weights/fruit"):
        with pytest.raises(SourceRefused) as error:
            resolve(text, store) if not text.startswith("weights") else resolve("fruit/", store)
        publics.add(error.value.public)
    assert len(publics) == 1


def test_visibility_limits_the_store(store):
    with pytest.raises(SourceRefused):
        resolve("fruit", store, visible=lambda model: False)
    assert resolve("fruit", store, visible=lambda model: model.name == "fruit").kind == "store"


def test_hub_settings(monkeypatch):
    monkeypatch.delenv("CYCLEGAN_HUB_MAX_BYTES", raising=False)
    monkeypatch.delenv("CYCLEGAN_HUB_ALLOW", raising=False)
    assert hub_max_bytes() == 500 * 2**20 and hub_allowed_owners() is None
    monkeypatch.setenv("CYCLEGAN_HUB_MAX_BYTES", "1000")
    monkeypatch.setenv("CYCLEGAN_HUB_ALLOW", " studio,friends ,")
    assert hub_max_bytes() == 1000 and hub_allowed_owners() == {"studio", "friends"}
    with pytest.raises(SourceRefused, match="'stranger' is not in CYCLEGAN_HUB_ALLOW") as error:
        resolve("stranger/model")
    assert error.value.public == "this app loads Hub models only from friends, studio"
    assert resolve("friends/model").kind == "hub"


def test_hub_init_is_size_checked_before_it_is_downloaded(tiny_model_dir, monkeypatch, offline_sandbox):
    files = {name: (tiny_model_dir / name).read_bytes() for name in ("config.json", "model.safetensors")}
    with FakeHub({"someone/fruit": files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("CYCLEGAN_HUB_MAX_BYTES", "100")
        with pytest.raises(SourceRefused, match="up to 0 MB"):
            resolve("someone/fruit").init_source()
        assert hub.gets() == []  # only HEAD requests so far
        monkeypatch.delenv("CYCLEGAN_HUB_MAX_BYTES")
        assert resolve("someone/fruit").init_source() == "someone/fruit"
        assert any(p.endswith("model.safetensors") for p in hub.gets())


def test_home_is_a_folder_in_the_store_for_every_kind(tmp_path, tiny_model):
    from cyclegan_core import ModelStore, save_model
    from cyclegan_core.public_sources import resolve

    store = ModelStore(tmp_path / "w")
    save_model(tiny_model, store.root / "mine")
    assert resolve("mine", store).home(store) == store.root / "mine"
    assert resolve("horse2zebra", store).home(store) == store.root / "horse2zebra"
    hub = resolve("someone/cats@v1", store).home(store)
    assert hub.parent == store.root / ".hub" and ".." not in hub.name and "/" not in hub.name
    assert [m.name for m in store.models()] == ["mine"]
