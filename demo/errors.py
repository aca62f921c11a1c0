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


def visitor_message(error: BaseException, where: str = "handler") -> str:
    """What a visitor reads for `error` (the details go to the log for the Space's owner)."""
    if isinstance(error, gr.Error):
        return str(error.message)
    if isinstance(error, CycleGANError):
        shown = error.public or for_visitors(str(error))
        if shown != str(error):
            log.warning("%s: %s", where, error)
        return shown
    if isinstance(error, MemoryError):
        return "Out of memory: try a smaller image or crop size."
    log.error("unexpected error in %s", where, exc_info=error)
    return (f"Something went wrong ({type(error).__name__}: {for_visitors(str(error))}). The app is still "
            f"running; try again.")


def error_box(message: str, title: str = "That did not work") -> str:
    """`message` as Markdown for an error box that stays on the page: its line breaks kept, nothing in
    it read as markup."""
    lines = [re.sub(r"([\\`*_{}\[\]<>#|~])", r"\\\1", line.strip()) for line in str(message).splitlines()]
    return f"**{title}.**\n\n" + "  \n".join(line for line in lines if line)


def user_errors(fn):
    """Core errors become their message for visitors; anything unexpected is logged and summarised.
    Works for plain handlers and for streaming (generator) handlers."""

    @contextlib.contextmanager
    def translated():
        try:
            yield
        except gr.Error:
            raise
        except Exception as e:  # keep serving; show what happened
            raise gr.Error(visitor_message(e, getattr(fn, "__name__", "handler")), print_exception=False) from None

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
