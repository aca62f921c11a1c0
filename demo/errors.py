"""Turning failures into messages a person can act on, without ever taking the app down.

A visitor reads what went wrong, never where on the server: core errors show their `public` text
where they have one, and any server path, address or setting name left in a message is reduced
(a path to its last part). The full message goes to the server's log for the Space's owner.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import re

import gradio as gr

from cyclegan_core import CycleGANError

log = logging.getLogger("cyclegan_studio")

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"`)]+", re.IGNORECASE)
_SEGMENT = r"[^\s'\"`:,;()\[\]/]+"
_PATH = re.compile(rf"(?<![\w./\-\[])(?:~|\.{{1,2}})?/(?:{_SEGMENT}/)*({_SEGMENT})")
_SETTING = re.compile(r"\b(?:CYCLEGAN|HF|GRADIO|TORCHINDUCTOR)_[A-Z0-9_]+\b")


def for_visitors(message: str) -> str:
    """`message` without server paths (kept: the last part), addresses or setting names."""
    message = _URL.sub("(a server address)", message)
    message = _PATH.sub(lambda m: m.group(1), message)
    return _SETTING.sub("a server setting", message)


def user_errors(fn):
    """Core errors become their message for visitors; anything unexpected is logged and summarised.
    Works for plain handlers and for streaming (generator) handlers."""

    @contextlib.contextmanager
    def translated():
        try:
            yield
        except gr.Error:
            raise
        except CycleGANError as e:
            shown = e.public or for_visitors(str(e))
            if shown != str(e):
                log.warning("%s: %s", getattr(fn, "__name__", "handler"), e)  # the details, for the owner
            raise gr.Error(shown, print_exception=False) from None
        except MemoryError:
            raise gr.Error("Out of memory: try a smaller image or crop size.", print_exception=False) from None
        except Exception as e:  # keep serving; show what happened
            log.exception("unexpected error in %s", getattr(fn, "__name__", "handler"))
            raise gr.Error(f"Something went wrong ({type(e).__name__}: {for_visitors(str(e))}). The app is still "
                           f"running; try again.", print_exception=False) from None

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
