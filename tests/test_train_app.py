"""The Train tab through gradio_client: upload, stream a run, stop, resume, use the result."""

import time
import zipfile

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

import cyclegan_core

from conftest import BLUE, RED, noise_pictures


@pytest.fixture
def uploads(tmp_path):
    """Two tiny unpaired domains written by the test: reddish and bluish noise photos (in place of
    conftest.py's untinted `uploads`)."""
    return noise_pictures(tmp_path, {"a": 3, "b": 2}, tints={"a": RED, "b": BLUE})


def submit_train(client, files_a, files_b, steps, name, init="horse2zebra"):
    """Start /train: fine-tune the zoo's horse2zebra (tiny weights from the loopback upstream)."""
    return client.submit([handle_file(str(p)) for p in files_a], [handle_file(str(p)) for p in files_b], "red",
                         "blue", init, steps, 64, "fp32", 10, 0.5, name, api_name="/train")


def statuses(outputs):
    return [o[0] for o in outputs if isinstance(o, (list, tuple)) and isinstance(o[0], str)]


@pytest.mark.slow
def test_train_streams_progress_plot_previews_and_gives_a_usable_model(client, uploads, offline_sandbox, photo,
                                                                      tmp_path):
    job = submit_train(client, uploads["a"], uploads["b"], 20, "fruity")
    outputs = job.outputs() if job.result() is not None else []
    texts = statuses(outputs)
    assert any(t.startswith("Training **red ↔ blue**") and "3 + 2 images" in t for t in texts)
    assert any(t.startswith("Step **") for t in texts), texts
    assert texts[-1].startswith("Finished at step **20 / 20**")
    final = outputs[-1]
    plot = final[1]
    assert plot is not None and "loss" in str(plot)
    galleries = [o[2] for o in outputs if isinstance(o[2], list) and o[2]]
    assert galleries and len(galleries[-1]) == 6  # real → fake → back, both directions
    assert "→ blue (G)" in str(galleries[-1])
    download = final[3]
    with zipfile.ZipFile(download) as z:
        assert sorted(z.namelist()) == ["fruity/config.json", "fruity/model.safetensors"]

    run = offline_sandbox / "weights" / "fruity"
    model = cyclegan_core.load(run)
    assert (model.config.domain_a, model.config.domain_b, model.config.ngf) == ("red", "blue", 8)  # init's arch
    path = tmp_path / "p.png"
    photo.save(path)
    out = Image.open(client.predict(handle_file(str(path)), "fruity: red → blue", api_name="/translate"))
    assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(model.translate(photo, "AtoB")))

    # The same session (one visitor) downloads and deletes its run through the API.
    with zipfile.ZipFile(client.predict("fruity", api_name="/download_run")) as z:
        assert sorted(z.namelist()) == ["fruity/config.json", "fruity/model.safetensors"]
    assert client.predict("fruity", api_name="/delete_run")[0].startswith("Deleted `fruity`")
    assert not run.exists()


def test_stop_then_resume_loses_no_steps(client, uploads, offline_sandbox, photo, tmp_path):
    job = submit_train(client, uploads["a"], uploads["b"], 2000, "long")
    deadline = time.monotonic() + 120
    while not any(t.startswith("Step **") for t in statuses(job.outputs())):
        assert time.monotonic() < deadline and not job.done()
        time.sleep(0.3)
    # Translation keeps working while the run trains (slower: they share the CPU).
    path = tmp_path / "p.png"
    photo.save(path)
    out = Image.open(client.predict(handle_file(str(path)), "summer → winter", api_name="/translate"))
    assert out.size == photo.size and not job.done()
    assert client.predict(api_name="/stop").startswith("Stopping long")
    job.result()
    stopped = statuses(job.outputs())[-1]
    assert stopped.startswith("Stopped at step **")
    done = int(stopped.split("**")[1].split(" / ")[0])
    assert 0 < done < 2000

    resumed = client.submit("long", 2000, api_name="/resume")
    deadline = time.monotonic() + 120
    while not any(t.startswith("Step **") for t in statuses(resumed.outputs())):
        assert time.monotonic() < deadline and not resumed.done()
        time.sleep(0.3)
    client.predict(api_name="/stop")
    resumed.result()
    texts = statuses(resumed.outputs())
    assert texts[0].startswith("Resuming **red ↔ blue** in `long`") and f"step {done} of 2000" in texts[0]
    log = __import__("json").loads((offline_sandbox / "weights" / "long" / "log.json").read_text())["records"]
    assert [r["step"] for r in log] == list(range(1, len(log) + 1)) and len(log) > done


def test_a_zip_with_junk_reports_what_was_skipped(client, uploads, tmp_path):
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in uploads["b"]:
            z.write(p, f"pics/{p.name}")
        z.writestr("pics/notes.txt", "hello")
        z.writestr("pics/broken.jpg", b"\xff\xd8\xff not really")
    report = client.predict([handle_file(str(archive))], "blue", api_name="/inspect_b")
    assert report.startswith("**blue**: 2 usable image(s), skipped 2")
    assert "notes.txt (not an image)" in report and "broken.jpg (unreadable" in report


def test_an_empty_domain_gives_a_clear_error(client, uploads, tmp_path, offline_sandbox):
    with pytest.raises(Exception, match="domain blue has no images yet"):
        client.predict([handle_file(str(p)) for p in uploads["a"]], [], "red", "blue", "", 10, 64, "fp32", 10, 0.5,
                       "x", api_name="/train")
    junk = tmp_path / "junk.txt"
    junk.write_text("not a picture")
    with pytest.raises(Exception, match="domain B: 0 usable image"):
        client.predict([handle_file(str(p)) for p in uploads["a"]], [handle_file(str(junk))], "red", "blue", "", 10,
                       64, "fp32", 10, 0.5, "y", api_name="/train")
    assert not (offline_sandbox / "weights" / "y").exists()  # no half-made run is left behind
    with pytest.raises(Exception, match="Learning rate .*choose a value from 0 to 0.01"):  # /train takes Adam's rate
        client.predict([handle_file(str(p)) for p in uploads["a"]], [handle_file(str(p)) for p in uploads["b"]], "red",
                       "blue", "", 10, 64, "fp32", 10, 0.5, "z", 0.5, api_name="/train")
    parameters = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/train"]["parameters"]
    assert parameters[-1]["parameter_name"] == "learning_rate" and parameters[-1]["parameter_default"] == 0.0002


def test_a_model_trained_in_the_app_is_published_and_loaded_back_by_its_repo_id(client, uploads, offline_sandbox,
                                                                                photo, tmp_path, monkeypatch):
    """Train → Publish (token used once) → the Translate tab loads it by repo id from the (fake) Hub."""
    from servers import FakeHub
    token = "hf_studio_test_token_123"
    job = submit_train(client, uploads["a"], uploads["b"], 10, "to-share")
    job.result()
    with FakeHub({}, required_token=token) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        text = client.predict("to-share", "someone/red2blue", token, False, api_name="/publish_run")
        assert "Published `to-share` to [someone/red2blue]" in text and token not in text
        assert 'cyclegan_core.load("someone/red2blue")' in text
        assert {"config.json", "model.safetensors", "README.md"} <= set(hub.repos["someone/red2blue"])
        assert f"Bearer {token}" in hub.authorizations

        update = client.predict("someone/red2blue", api_name="/load_model")[0]
        assert update["value"] == "someone/red2blue: red → blue"
        path = tmp_path / "p.png"
        photo.save(path)
        out = Image.open(client.predict(handle_file(str(path)), "someone/red2blue: red → blue", api_name="/translate"))
    local = cyclegan_core.load(offline_sandbox / "weights" / "to-share")
    assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(local.translate(photo, "AtoB")))
    assert cyclegan_core.load("someone/red2blue").config == local.config  # from the Hub cache now
