"""Turning failures into messages a person can act on, without ever taking the app down."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging

import gradio as gr

from cyclegan_core import CycleGANError

log = logging.getLogger("cyclegan_studio")


def user_errors(fn):
    """Core errors become their own message; anything unexpected is logged and summarised.
    Works for plain handlers and for streaming (generator) handlers."""

    @contextlib.contextmanager
    def translated():
        try:
            yield
        except gr.Error:
            raise
        except CycleGANError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except MemoryError:
            raise gr.Error("Out of memory: try a smaller image or crop size.", print_exception=False) from None
        except Exception as e:  # keep serving; show what happened
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(e).__name__}: {e}). The app is still running; "
                           f"try again.", print_exception=False) from None

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            with translated():
                yield from fn(*args, **kwargs)
        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with translated():
            return fn(*args, **kwargs)
    return call
