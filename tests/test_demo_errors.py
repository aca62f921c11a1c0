"""demo/errors.py: visitors read what went wrong, never where on the server; the app keeps serving."""

import logging

import gradio as gr
import pytest

from cyclegan_core import CycleGANError, ImageError
from demo.errors import for_visitors, user_errors


@pytest.mark.parametrize("message, shown", [
    ("/tmp/gradio/abc/photo.png: not an image file", "photo.png: not an image file"),
    ("local folder /srv/app/weights/x: not there", "local folder x: not there"),
    ("the Hub (http://10.0.0.5:8080) cannot be reached", "the Hub ((a server address)) cannot be reached"),
    ("raise the limit with CYCLEGAN_MAX_PIXELS", "raise the limit with a server setting"),
    ("~/models/x and ./runs/y", "x and y"),
    ("a Hub repo id (owner/name[/subfolder][@revision])", "a Hub repo id (owner/name[/subfolder][@revision])"),
    ("λ_cycle / λ at 1/4 resolution, A→B", "λ_cycle / λ at 1/4 resolution, A→B"),
])
def test_for_visitors(message, shown):
    assert for_visitors(message) == shown


def test_public_text_wins_and_details_go_to_the_log(caplog):
    @user_errors
    def handler():
        raise CycleGANError("tried /srv/weights/x; run python -m cyclegan_core convert …", public="not available")
    with caplog.at_level(logging.WARNING, logger="cyclegan_studio"), pytest.raises(gr.Error) as error:
        handler()
    assert error.value.message == "not available"
    assert "cyclegan_core convert" in caplog.text and "/srv/weights/x" in caplog.text


def test_streaming_handlers_and_unexpected_errors():
    @user_errors
    def stream():
        yield 1
        raise ImageError("/tmp/x/cut.jpg: the image data is truncated or corrupt")
    with pytest.raises(gr.Error) as error:
        list(stream())
    assert error.value.message == "cut.jpg: the image data is truncated or corrupt"

    @user_errors
    def broken():
        raise KeyError("/etc/secret")
    with pytest.raises(gr.Error) as error:
        broken()
    assert error.value.message == "Something went wrong on the server. The app is still running; try again."


def test_scrubbing_is_linear_and_echoes_little():
    """A 64 kB message (say, an echoed task string) is cut and scrubbed at once, not in quadratic time."""
    import time
    for text in ("/" * 65536, "a/" * 32768, "x" * 65536, "http://" * 9000, "~/" + "a/" * 30000):
        start = time.perf_counter()
        shown = for_visitors(text)
        assert time.perf_counter() - start < 0.05 and len(shown) <= 700, text[:10]
