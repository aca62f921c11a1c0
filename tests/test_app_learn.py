"""The Learn tab through gradio_client: each view answers as a program would call it."""

import pytest
from gradio_client import Client, handle_file
from PIL import Image


@pytest.fixture
def pictures(photo, tmp_path):
    x, y = tmp_path / "x.png", tmp_path / "y.jpg"
    photo.save(x)
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(y, quality=90)
    return handle_file(str(x)), handle_file(str(y))


def test_the_cycle_view(client, pictures):
    forward, forward_text, backward, backward_text, identity, identity_y, identity_text = client.predict(
        *pictures, "horse → zebra", api_name="/learn_cycle")
    assert [item["caption"] for item in forward][:3] == ["x: the input", "G(x): as zebra", "F(G(x)): as horse"]
    assert Image.open(forward[3]["image"]).size == (256, 132)  # the 301×157 photo, fitted for teaching
    assert "Cycle error of this picture" in forward_text and "Eq. 2" in forward_text
    assert len(backward) == 4 and len(identity) == 3 and len(identity_y) == 3 and "Sec. 5.2" in identity_text


def test_the_hidden_information_view(client, pictures):
    hidden, perturbed, plot, text = client.predict(pictures[0], "horse → zebra", "jpeg", 30, api_name="/learn_hidden")
    assert len(hidden) == 4 and perturbed[1]["caption"] == "G(x), JPEG q 30"
    assert "steganography" in text
    rows = plot["value"]["data"] if isinstance(plot, dict) and "value" in plot else plot["data"]
    assert len(rows) == 14  # 7 qualities × (G(x) moved, F(G(x)) moved)


def test_the_discriminator_view_trains_a_discriminator_for_a_zoo_model(client, pictures, monkeypatch, offline_sandbox):
    monkeypatch.setenv("CYCLEGAN_LEARN_D_SECONDS", "3")
    maps, text = client.predict(*pictures, "horse → zebra", api_name="/learn_discriminator")  # buttons: UI only
    assert "has no discriminators" in text and maps == []
    maps, text = client.predict(*pictures, "horse → zebra", api_name="/learn_train_discriminator")
    assert "against its frozen generators" in text and len(maps) == 3
    assert "G(x) by D_B" in maps[1]["caption"] and Image.open(maps[1]["image"]).size == (256, 132)
    # Kept in this visitor's own space (the API session got a visitor token), never in the zoo's folder.
    assert list((offline_sandbox / "weights" / ".visitors").glob("*/discriminators/zoo-horse2zebra-*/"
                                                                 "discriminators.safetensors"))
    assert not (offline_sandbox / "weights" / "horse2zebra" / "discriminators.safetensors").exists()
    maps, text = client.predict(*pictures, "zebra → horse", api_name="/learn_discriminator")
    assert "trained for this model" in text and "G(x) by D_A" in maps[1]["caption"]
    stranger = Client(client.src, analytics_enabled=False, verbose=False)  # another visitor: not theirs
    assert "has no discriminators" in stranger.predict(*pictures, "zebra → horse", api_name="/learn_discriminator")[1]


def test_a_shipped_lesson_plays_from_its_recording(client):
    slider, about, picture, metric, losses, text = client.predict("cycle", 3, "cycle_A", api_name="/learn_lesson")
    assert Image.open(picture).size[1] == 2 * (96 + 28)  # one captioned row per variant
    assert "Outcome of the recording" in text and "Step" in text


@pytest.mark.slow
def test_live_steps_keep_their_run_between_calls(client):
    first = client.predict("red_blue", 10, 0.5, api_name="/learn_live_step")
    second = client.predict("red_blue", 10, 0.5, api_name="/learn_live_step")
    assert "step 1 " in first[0] and "step 2 " in second[0]  # the session's run goes on
    status, preview, plot, batch, pool, losses, doctor = second  # the state stays on the server
    assert "cycle_A" in losses["value"] and any(p["caption"] == "fresh G(a)" for p in pool["value"])
    final = client.predict("red_blue", 10, 0.5, 5, api_name="/learn_live_train")
    assert "steps in" in final[0]
