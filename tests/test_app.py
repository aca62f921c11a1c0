"""The Gradio app through gradio_client, as a program would use it (launched on 127.0.0.1)."""

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

import cyclegan_core
from cyclegan_core import save_model


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
    result = Image.open(client.predict(handle_file(str(path)), "fruit:BtoA", api_name="/translate"))
    assert np.array_equal(np.asarray(result.convert("RGB")), np.asarray(tiny_model.translate(path, "BtoA")))
    assert folder.name == "fruit"  # models of the store are named, never addressed by server path


def test_server_paths_get_one_refusal_whether_or_not_they_exist(client, photo, tmp_path, tiny_model_dir):
    path = tmp_path / "p.png"
    photo.save(path)
    (tmp_path / "not-a-model").mkdir()
    texts = ["/etc", "../../x", str(tmp_path / "not-a-model"), str(tiny_model_dir), "/no/such/dir"]
    refusals = set()
    for text in texts:
        with pytest.raises(Exception) as translate_error:
            client.predict(handle_file(str(path)), f"{text}:AtoB", api_name="/translate")
        with pytest.raises(Exception) as load_error:
            client.predict(text, api_name="/load_model")
        for error in (translate_error, load_error):
            message = str(error.value)
            assert "That is not a model this app offers" in message and text not in message
            refusals.add(message)
    assert len(refusals) == 1, refusals  # a real model folder, a plain folder and nothing read the same
    # The app keeps serving.
    assert Image.open(client.predict(handle_file(str(path)), "horse → zebra", api_name="/translate")).size == (301, 157)


def test_a_hub_model_over_the_size_cap_is_refused_before_its_download(client, tiny_model_dir, monkeypatch):
    from servers import FakeHub
    files = {name: (tiny_model_dir / name).read_bytes() for name in ("config.json", "model.safetensors")}
    monkeypatch.setenv("CYCLEGAN_HUB_MAX_BYTES", str(len(files["model.safetensors"]) - 1))
    with FakeHub({"someone/big": files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(Exception, match=r"someone/big's model.safetensors is 0 MB; this app loads Hub models up "
                                            r"to 0 MB"):
            client.predict("someone/big", api_name="/load_model")
        assert not [p for p in hub.gets() if p.endswith("model.safetensors")], hub.requests
        monkeypatch.setenv("CYCLEGAN_HUB_MAX_BYTES", str(len(files["model.safetensors"])))
        assert client.predict("someone/big", api_name="/load_model")[0]["value"] == "someone/big: apple → orange"


def test_hub_owners_can_be_limited(client, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_HUB_ALLOW", "studio, friends")
    with pytest.raises(Exception, match="this app loads Hub models only from friends, studio"):
        client.predict("stranger/model", api_name="/load_model")


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


def test_offline_zoo_tells_the_visitor_and_logs_how_to_fix_it(client, photo, tmp_path, monkeypatch, caplog):
    from conftest import closed_port_url
    monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", closed_port_url())
    good = tmp_path / "good.png"
    photo.save(good)
    with pytest.raises(Exception) as error:
        client.predict(handle_file(str(good)), "winter → summer", api_name="/translate")
    shown = str(error.value)
    assert "zoo model 'summer2winter' is not available on this server right now" in shown
    assert "cyclegan_core convert" not in shown and "weights/" not in shown and "CYCLEGAN_" not in shown
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "cyclegan_studio")
    assert "cyclegan_core convert" in logged and "CYCLEGAN_HUB_REPO" in logged  # the owner's details


def test_load_model_from_the_hub_adds_its_tasks(client, tiny_model, tiny_model_dir, photo, tmp_path, monkeypatch):
    from servers import FakeHub
    files = {name: (tiny_model_dir / name).read_bytes() for name in ("config.json", "model.safetensors")}
    with FakeHub({"someone/fruit": files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        update = client.predict("someone/fruit", api_name="/load_model")[0]  # (task list, groups)
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
