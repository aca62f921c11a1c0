"""The Gradio app through gradio_client, as a program would use it (launched on 127.0.0.1)."""

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import cyclegan_core
from cyclegan_core import save_model


@pytest.fixture
def client(app_url):
    return Client(app_url, analytics_enabled=False, verbose=False)


def test_translate_endpoint_matches_the_core_at_full_resolution(client, photo, tmp_path, zoo_upstream):
    path = tmp_path / "photo.png"
    photo.save(path)
    result = client.predict(handle_file(str(path)), "horse → zebra", api_name="/translate")
    out = Image.open(result)
    assert out.format == "PNG" and out.size == photo.size == (301, 157)
    expected = cyclegan_core.load("horse2zebra").translate(photo, "AtoB")
    assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(expected))
    assert "/horse2zebra.pth" in zoo_upstream.gets()

    back = Image.open(client.predict(handle_file(str(path)), "zebra → horse", api_name="/translate"))
    assert np.array_equal(np.asarray(back.convert("RGB")),
                          np.asarray(cyclegan_core.load("horse2zebra").translate(photo, "BtoA")))


def test_all_zoo_directions_are_offered(client):
    api = client.view_api(return_format="dict", print_info=False)
    task_type = str(api["named_endpoints"]["/translate"]["parameters"][1])
    for label in ("summer → winter", "winter → summer", "horse → zebra", "zebra → horse"):
        assert label in task_type


def test_explicit_source_form_and_local_models(client, photo, tmp_path, tiny_model, offline_sandbox):
    folder = save_model(tiny_model, offline_sandbox / "weights" / "fruit")
    path = tmp_path / "p.jpg"
    photo.save(path, quality=95)
    result = Image.open(client.predict(handle_file(str(path)), f"{folder}:BtoA", api_name="/translate"))
    assert np.array_equal(np.asarray(result.convert("RGB")), np.asarray(tiny_model.translate(path, "BtoA")))


def test_errors_are_clear_and_the_app_keeps_serving(client, photo, tmp_path, monkeypatch):
    from servers import FakeHub
    empty_hub = FakeHub({})
    with empty_hub:
        monkeypatch.setenv("HF_ENDPOINT", empty_hub.url)
        check_errors_then_success(client, photo, tmp_path)


def check_errors_then_success(client, photo, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_text("not an image at all")
    with pytest.raises(Exception, match="not an image file"):
        client.predict(handle_file(str(bad)), "horse → zebra", api_name="/translate")

    cut = tmp_path / "cut.jpg"
    photo.save(cut, quality=90)
    cut.write_bytes(cut.read_bytes()[:2000])
    with pytest.raises(Exception, match="truncated or corrupt"):
        client.predict(handle_file(str(cut)), "horse → zebra", api_name="/translate")

    good = tmp_path / "good.png"
    photo.save(good)
    with pytest.raises(Exception, match="Hub repo nobody/nothing was not found"):
        client.predict(handle_file(str(good)), "nobody/nothing:AtoB", api_name="/translate")
    with pytest.raises(Exception, match="Hub repo nobody/nothing was not found"):
        client.predict("nobody/nothing", api_name="/load_model")
    with pytest.raises(Exception, match="unknown task"):
        client.predict(handle_file(str(good)), "cat → dog", api_name="/translate")

    assert Image.open(client.predict(handle_file(str(good)), "summer → winter", api_name="/translate")).size == (301, 157)


def test_offline_zoo_explains_what_to_do(client, photo, tmp_path, monkeypatch):
    from conftest import closed_port_url
    monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", closed_port_url())
    good = tmp_path / "good.png"
    photo.save(good)
    with pytest.raises(Exception, match=r"(?s)zoo model 'summer2winter' is not available.*cyclegan_core convert"):
        client.predict(handle_file(str(good)), "winter → summer", api_name="/translate")


def test_load_model_from_the_hub_adds_its_tasks(client, tiny_model, tiny_model_dir, photo, tmp_path, monkeypatch):
    from servers import FakeHub
    files = {name: (tiny_model_dir / name).read_bytes() for name in ("config.json", "model.safetensors")}
    with FakeHub({"someone/fruit": files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        update = client.predict("someone/fruit", api_name="/load_model")
        assert update["value"] == "someone/fruit: apple → orange"
        assert ["someone/fruit: orange → apple"] * 2 in update["choices"]
        path = tmp_path / "p.png"
        photo.save(path)
        out = Image.open(client.predict(handle_file(str(path)), "someone/fruit:AtoB", api_name="/translate"))
        assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(tiny_model.translate(photo, "AtoB")))


def test_large_images_are_downscaled_not_refused(client, tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_APP_MAX_PIXELS", str(200 * 100))
    path = tmp_path / "big.png"
    Image.new("RGB", (400, 200), "green").save(path)
    out = Image.open(client.predict(handle_file(str(path)), "horse → zebra", api_name="/translate"))
    assert out.size == (200, 100)
