"""Turning failures into messages a person can act on, without ever taking the app down."""

from __future__ import annotations

import functools
import logging

import gradio as gr

from cyclegan_core import CycleGANError

log = logging.getLogger("cyclegan_studio")


def user_errors(fn):
    """Core errors become their own message; anything unexpected is logged and summarised."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except CycleGANError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except MemoryError:
            raise gr.Error("Out of memory for this image: try a smaller one.", print_exception=False) from None
        except Exception as e:  # keep serving; show what happened
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(e).__name__}: {e}). The app is still running; "
                           f"try again or with another image.", print_exception=False) from None

    return wrapper
