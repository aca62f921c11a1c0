"""demo/progress.py: preview sizes, the speed record, the time left, the progress box and the worker."""

import threading
import time

import pytest

from demo.progress import (FIRST_PREVIEW_PIXELS, PREVIEW_MAX_PIXELS, Cancelled, SpeedRecord, Worker, message_html,
                           preview_size, progress_html, seconds_left, time_left_text)


def test_previews_are_sized_by_the_speed_measured_last_for_that_model_and_device():
    speeds = SpeedRecord()
    key = ("vintage", "cpu")
    assert speeds.speed(key) is None and speeds.preview_pixels(key) == FIRST_PREVIEW_PIXELS == 100_000
    assert speeds.expected_seconds(key, 1_000_000) is None
    speeds.record(key, 200_000, 1.0)  # 0.2 MP/s: 1.2 s of work is 240 000 pixels
    assert speeds.preview_pixels(key) == 240_000 and speeds.expected_seconds(key, 12_000_000) == 60
    speeds.record(key, 4_000_000, 1.0)  # a fast machine: capped at 0.5 MP
    assert speeds.preview_pixels(key) == PREVIEW_MAX_PIXELS == 500_000
    speeds.record(key, 1_000, 1.0)  # a crawl (another job on the CPU): never below 0.05 MP
    assert speeds.preview_pixels(key) == 50_000
    speeds.record(key, 0, 1.0)
    speeds.record(key, 10, 0.0)  # nothing measured: ignored
    assert speeds.speed(key) == 1_000
    assert speeds.speed(("vintage", "cuda:0")) is None and speeds.speed(("horse2zebra", "cpu")) is None


def test_a_preview_keeps_the_aspect_within_its_pixels_and_small_pictures_need_none():
    width, height = preview_size((4000, 3000), 100_000)
    assert width * height <= 100_000 and abs(width / height - 4 / 3) < 0.01 and width * height > 99_000
    width, height = preview_size((3000, 4000), 500_000)
    assert (width, height) == (612, 816)
    assert preview_size((400, 500), 100_000) is None  # twice the preview or less: translated at once
    assert preview_size((500, 401), 100_000) == (353, 283)
    assert preview_size((100_000, 3), 100) == (1825, 1)  # never 0 pixels on a side


def test_the_time_left_comes_from_the_elapsed_time_once_three_percent_is_done():
    assert seconds_left(0.5, 10.0) == 10.0
    assert seconds_left(0.03, 3.0) == pytest.approx(97.0)
    assert seconds_left(0.01, 2.0, expected=30.0) == 28.0  # before that: the expected time (the preview's speed)
    assert seconds_left(0.0, 2.0, expected=2.5) == 1.0
    assert seconds_left(0.01, 2.0) is None and seconds_left(0.0, 31.0, expected=30.0) is None
    assert [time_left_text(s) for s in (None, 0.4, 1.4, 42.4, 89.0, 95.0, 600.0)] == [
        "estimating the time left…", "almost done", "about 1 s left", "about 42 s left", "about 89 s left",
        "about 2 min left", "about 10 min left"]


def test_the_progress_box_has_a_bar_the_percentage_and_the_time_left():
    box = progress_html("Full resolution (4000×3000)", 0.374, "about 20 s left")
    assert "Full resolution (4000×3000): <strong>37 %</strong> · about 20 s left" in box
    assert '<progress max="100" value="37">' in box
    assert 'value="100"' in progress_html("x", 1.5, "") and 'value="0"' in progress_html("x", -1, "")
    assert message_html("<b>") == '<div class="translate-progress-text">&lt;b&gt;</div>'


def test_a_worker_reports_progress_and_hands_back_its_result_or_its_error():
    def work(progress):
        for fraction in (0.25, 0.1, 0.5, 2.0):  # never backwards, never past 1
            progress(fraction)
            seen.append(worker.fraction)
        return "done"

    seen = []
    worker = Worker(work)
    assert worker.fraction == 0.0 and not worker.wait(0.01)  # not started yet
    worker.start()
    assert worker.wait(5) and worker.result() == "done" and seen == [0.25, 0.25, 0.5, 1.0]
    assert worker.thread.name == Worker.THREAD_NAME and worker.thread.daemon

    def fails(progress):
        raise ValueError("broken")

    failed = Worker(fails).start()
    assert failed.wait(5)
    with pytest.raises(ValueError, match="broken"):
        failed.result()


def test_cancel_stops_the_work_at_its_next_progress_call():
    steps = []

    def work(progress):
        for step in range(1000):
            time.sleep(0.01)
            progress(step / 1000)
            steps.append(step)
        return "finished"

    clock = iter(range(100)).__next__
    worker = Worker(work, clock=lambda: float(clock())).start()
    while not steps:
        time.sleep(0.005)
    worker.cancel()
    assert worker.wait(1.0)
    worker.thread.join(1.0)
    assert not worker.thread.is_alive() and len(steps) < 1000
    with pytest.raises(Cancelled):
        worker.result()
    assert worker.elapsed() >= 1 and worker.thread not in threading.enumerate()
