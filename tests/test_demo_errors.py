"""demo/errors.py: visitors read what went wrong, never where on the server; the app keeps serving."""

import logging

import gradio as gr
import pytest

from cyclegan_core import CycleGANError, ImageError
from demo.errors import MAX_MESSAGE, for_visitors, user_errors


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


def test_scrubbing_cuts_first_and_echoes_little():
    """A 64 kB message (say, an echoed task string) is cut to MAX_MESSAGE characters before it is
    scrubbed, so scrubbing is linear work on a bounded text whatever the message's length: what lies
    past the cut changes nothing, and a path cut at the limit is scrubbed as what is left of it."""
    for text in ("/" * 65536, "a/" * 32768, "x" * 65536, "http://" * 9000, "~/" + "a/" * 30000):
        shown = for_visitors(text)
        assert len(shown) <= 700 and for_visitors(text + " /srv/never/read") == shown, text[:10]
    cut_path = "x " * ((MAX_MESSAGE - 8) // 2) + "/srv/app/weights/owner/secret-name"
    assert "secret-name" not in for_visitors(cut_path) and len(for_visitors(cut_path)) <= MAX_MESSAGE + 1
