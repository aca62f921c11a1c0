"""demo/video.py and demo/webcam.py: the Translate tab's video and live webcam handlers, called
directly (no server), on a tiny model and a generated clip (tests/videos.py)."""

import numpy as np
import pytest
from PIL import Image

from demo import video, webcam
from demo.model_cache import ModelCache
from demo.translate_tab import TranslateHandlers
from videos import frame_count, pan_clip

TASK = "someone/fruit:AtoB"


class FixedReach:
    def why_not(self):
        return None


@pytest.fixture
def handlers(tiny_model):
    return video.VideoHandlers(TranslateHandlers(ModelCache(loader=lambda source: tiny_model), reach=FixedReach()),
                               poll_seconds=0.01)


@pytest.fixture
def clip(tmp_path):
    return pan_clip(tmp_path / "pan.mp4")


def outputs(stream):
    return [dict(zip(video.VIDEO_OUTPUTS, o)) for o in stream]


def test_a_clip_comes_back_translated_with_its_frames_and_sound(handlers, clip):
    shown = outputs(handlers.translate_video({"video": {"path": str(clip)}}, TASK, [], None))
    assert "Starting" in str(shown[0]["progress"]) and shown[0]["cancel"]["visible"]
    assert any("Frame " in str(o["progress"]) for o in shown[1:-1]) or len(shown) == 2
    last = shown[-1]
    assert last["video"].endswith(".mp4") and frame_count(last["video"]) == frame_count(clip) == 24
    assert "24 frames of 96×64" in last["info"] and "sound copied" in last["info"] and "per shot" in last["info"]
    assert last["progress"]["visible"] is False and last["cancel"]["visible"] is False
    per_frame = outputs(handlers.translate_video({"video": {"path": str(clip)}}, TASK, [], None,
                                                 list(video.STATS)[1]))[-1]
    assert "per frame" in per_frame["info"] and per_frame["video"] != last["video"]


def test_bounds_and_bad_files_are_said_in_the_box_and_leave_nothing(handlers, clip, tmp_path, monkeypatch):
    before = set(video.VIDEOS.iterdir()) if video.VIDEOS.exists() else set()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    box = outputs(handlers.translate_video({"video": {"path": str(junk)}}, TASK, [], None))[-1]["error"]
    assert box["visible"] and "not a video that can be read" in box["value"] and "/" not in box["value"]
    monkeypatch.setenv("CYCLEGAN_APP_MAX_VIDEO_SECONDS", "1")
    box = outputs(handlers.translate_video({"video": {"path": str(clip)}}, TASK, [], None))[-1]["error"]
    assert box["visible"] and "at most 1 s here" in box["value"], box
    monkeypatch.setenv("CYCLEGAN_APP_MAX_VIDEO_SECONDS", "20")
    monkeypatch.setenv("CYCLEGAN_APP_MAX_VIDEO_INPUT_PIXELS", "4000")  # a "huge" frame: 96×64 > 4000
    box = outputs(handlers.translate_video({"video": {"path": str(clip)}}, TASK, [], None))[-1]["error"]
    assert box["visible"] and "96×64 per frame; at most 4,000 pixels per frame here" in box["value"], box
    monkeypatch.delenv("CYCLEGAN_APP_MAX_VIDEO_INPUT_PIXELS")
    monkeypatch.setenv("CYCLEGAN_APP_MAX_VIDEO_WORK", "10000")
    box = outputs(handlers.translate_video({"video": {"path": str(clip)}}, TASK, [], None))[-1]["error"]
    assert box["visible"] and "a shorter clip" in box["value"], box
    box = outputs(handlers.translate_video(None, TASK, [], None))[-1]["error"]
    assert "Add a video first" in box["value"]
    after = {p for p in video.VIDEOS.iterdir() if any(p.iterdir())} if video.VIDEOS.exists() else set()
    assert after <= before  # no translated clip was made


def test_large_frames_are_scaled_down_to_the_bound(handlers, clip, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_APP_MAX_VIDEO_FRAME_PIXELS", str(48 * 32))
    last = outputs(handlers.translate_video({"video": {"path": str(clip)}}, TASK, [], None))[-1]
    import av
    with av.open(last["video"]) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (48, 32)
    assert "scaled down from 96×64" in last["info"]


def test_cancel_stops_the_clip_and_keeps_nothing(handlers, tmp_path):
    import threading
    import time
    long_clip = pan_clip(tmp_path / "long.mp4", size=(160, 112), pan_frames=60, still_frames=60, fps=24)
    before = set(video.VIDEOS.iterdir()) if video.VIDEOS.exists() else set()
    stream = handlers.translate_video({"video": {"path": str(long_clip)}}, TASK, [], None)
    for output in stream:  # the shots first, then the frames
        if "Frame " in str(output[video.VIDEO_OUTPUTS.index("progress")]):
            break
    stream.close()  # Cancel
    deadline = time.monotonic() + 30
    while any(t.name == "cyclegan-translate" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "cyclegan-translate" for t in threading.enumerate())  # the work stopped
    made = set(video.VIDEOS.iterdir()) - before
    assert len(made) == 1 and not list(next(iter(made)).iterdir())  # nothing half-written


def test_a_visitors_run_is_theirs_alone(tiny_model, offline_sandbox, clip):
    from cyclegan_core import ModelStore, TrainConfig, save_model
    from demo.visitors import visitor_id
    store = ModelStore()
    run = store.new_run("alices")
    save_model(tiny_model, run.path)
    run.write_record(TrainConfig(), "a", "b", owner=visitor_id("alice"))
    handlers = video.VideoHandlers(TranslateHandlers(ModelCache(loader=lambda source: tiny_model), store,
                                                     reach=FixedReach()), poll_seconds=0.01)
    payload = {"video": {"path": str(clip)}}
    assert outputs(handlers.translate_video(payload, "alices:AtoB", [], "alice"))[-1]["video"].endswith(".mp4")
    refused = outputs(handlers.translate_video(payload, "alices:AtoB", [], "bob"))
    assert len(refused) == 1 and refused[0]["error"]["visible"]  # refused before anything starts
    assert "not a model this app offers" in refused[0]["error"]["value"]


def test_frame_sizes_and_the_side_that_keeps_up():
    assert webcam.frame_size(640, 480, 256) == (256, 192)
    assert webcam.frame_size(100, 60, 256) == (100, 60)
    assert webcam.next_side(256, webcam.FRAME_SECONDS) == 256
    assert webcam.next_side(256, 4 * webcam.FRAME_SECONDS) == 192  # at most 25 % smaller a frame
    assert webcam.next_side(256, webcam.FRAME_SECONDS / 4) == 320
    assert webcam.next_side(webcam.MIN_SIDE, 10.0) == webcam.MIN_SIDE
    assert webcam.next_side(webcam.MAX_SIDE, 0.001) == webcam.MAX_SIDE


def test_the_webcam_translates_each_frame_and_keeps_one_translator_per_page(tiny_model):
    handlers = webcam.WebcamHandlers(TranslateHandlers(ModelCache(loader=lambda source: tiny_model),
                                                       reach=FixedReach()))

    class Page:
        session_hash = "page-one"
    frame = np.asarray(Image.new("RGB", (640, 480), (200, 120, 40)))
    image, line = handlers.live(frame, TASK, [], None, Page())
    assert isinstance(image, Image.Image) and image.size == (256, 192), line
    stream = handlers.streams["page-one"]
    for _ in range(3):
        image, line = handlers.live(frame, TASK, [], None, Page())
    assert handlers.streams["page-one"] is stream and "frames/s" in line and "shot 1" in line
    other = type("Other", (), {"session_hash": "page-two"})()
    handlers.live(frame, "someone/fruit:BtoA", [], None, other)
    assert handlers.streams["page-two"] is not stream
    _, line = handlers.live(frame, "no such task", [], None, Page())
    assert line.startswith("**Could not translate the camera's frame:**")


def test_a_clip_asks_zerogpu_for_a_loan_from_its_frames(handlers, clip, tmp_path):
    from demo import zerogpu
    small = video.VideoHandlers.gpu_seconds({"video": {"path": str(clip)}}, TASK, [], None)
    unknown = video.VideoHandlers.gpu_seconds(None, TASK, [], None)
    assert 0 < small < unknown <= zerogpu.MAX_SECONDS


def test_the_webcams_device_model_is_the_live_graph_for_those_who_may_use_it(tiny_model, offline_sandbox):
    import pytest as _pytest

    from cyclegan_core import CycleGANError, ModelStore, TrainConfig, save_model
    from demo.device import DeviceModels
    from demo.visitors import visitor_id
    store = ModelStore()
    run = store.new_run("alices")
    save_model(tiny_model, run.path)
    run.write_record(TrainConfig(), "a", "b", owner=visitor_id("alice"))
    models = DeviceModels(TranslateHandlers(ModelCache(loader=lambda source: tiny_model), store, reach=FixedReach()))
    path, info = models.live_model_for("alices:AtoB", [], "alice")
    assert path.endswith("-live-fp32.onnx") and info["precision"] == "fp32"
    assert info["statistics_length"] == 2 * sum(info["norm_channels"]) > 0
    ordinary, _ = models.model_for("alices:AtoB", [], "alice")
    assert ordinary != path
    with _pytest.raises(CycleGANError, match="not a model this app offers"):
        models.live_model_for("alices:AtoB", [], "bob")
    said = list(models.live_model_on_page("alices:AtoB", [], "bob"))
    assert said[-1][0] is None and "Could not start the camera on this device" in said[-1][2]


@pytest.mark.parametrize("kind", ["truncated", "no frames", "audio only"])
def test_each_unusable_clip_is_said_in_plain_words_and_nothing_is_made(handlers, clip, tmp_path, kind):
    import av
    path = tmp_path / ("bad.mkv" if kind == "no frames" else "bad.mp4")
    if kind == "truncated":
        path.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    else:
        with av.open(str(path), "w") as out:
            if kind == "no frames":
                stream = out.add_stream("libx264", rate=12)
                stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
            sound = out.add_stream("aac", rate=22050)
            sound.layout = "mono"
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            frame.sample_rate, frame.pts = 22050, 0
            out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    before = set(video.VIDEOS.iterdir()) if video.VIDEOS.exists() else set()
    shown = outputs(handlers.translate_video({"video": {"path": str(path)}}, TASK, [], None))
    box = shown[-1]["error"]
    expected = {"truncated": "not a video that can be read", "no frames": "has no frames",
                "audio only": "audio only"}[kind]
    assert box["visible"] and expected in box["value"] and str(tmp_path) not in box["value"], box
    after = set(video.VIDEOS.iterdir()) if video.VIDEOS.exists() else set()
    assert not [p for p in after - before if any(p.iterdir())]  # no clip was made
