"""Turning failures into messages a person can act on, without ever taking the app down.

A visitor reads what went wrong, never where on the server: core errors show their `public` text
where they have one, and any server path, address or setting name left in a message is reduced
(a path to its last part); an unexpected error reads as one sentence of ours, nothing of its class
or text. The full message goes to the server's log for the Space's owner.
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

_SETTING = re.compile(r"\b(?:CYCLEGAN|HF|GRADIO|TORCHINDUCTOR)_[A-Z0-9_]+\b")  # linear: no nested repeats
_PIECES = re.compile(r"""([\s'"`,;()\[\]]+)""")  # a message splits into words at spaces, quotes and brackets
MAX_MESSAGE = 600  # what a visitor reads of a message: any echoed input beyond this is cut


def _scrubbed(word: str) -> str:
    """One word of a message: an address becomes "(a server address)", a path its last part."""
    if "://" in word:
        scheme = word.split("://", 1)[0]
        if scheme[:1].isalpha() and all(c.isalnum() or c in "+.-" for c in scheme):
            return "(a server address)"
    core = word.rstrip(".:")
    if core.startswith(("/", "~/", "./", "../")) and "/" in core.rstrip("/"):
        return core.rstrip("/").rsplit("/", 1)[1] + word[len(core):]
    return word


def for_visitors(message: str) -> str:
    """`message` without server paths (kept: the last part), addresses or setting names, and cut to
    `MAX_MESSAGE` characters. Linear in the message's length: it is split once, word by word."""
    message = str(message)
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "…"
    pieces = _PIECES.split(message)  # words at even places, what separates them at odd ones
    message = "".join(_scrubbed(piece) if i % 2 == 0 and not pieces[i - 1].endswith("[") else piece
                      for i, piece in enumerate(pieces))
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
    log.error("unexpected error in %s", where, exc_info=error)  # the details are the owner's
    return "Something went wrong on the server. The app is still running; try again."


def error_box(message: str, title: str = "That did not work") -> str:
    """`message` as Markdown for an error box that stays on the page: its line breaks kept, nothing in
    it read as markup."""
    lines = [re.sub(r"([\\`*_{}\[\]<>#|~])", r"\\\1", line.strip()) for line in str(message).splitlines()]
    return f"**{title}.**\n\n" + "  \n".join(line for line in lines if line)


def error_update(message: str = "", title: str = "That did not work") -> dict:
    """An error box's update: `message` shown as `error_box` writes it, or the box hidden."""
    return gr.update(value=error_box(message, title) if message else "", visible=bool(message))


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


def in_the_box(fn, outputs: int, title: str = "That did not work"):
    """`fn` for the page, with one more output last: the view's message box. The box is emptied while `fn`
    answers; a failure (raised by `fn`, wrapped in `user_errors`) becomes words in the box and leaves
    every other output as it was: no toast, no "Error" badge over the outputs, for what is an ordinary
    situation (offline, nothing chosen yet). API callers get `fn` itself, raising (`page_and_api`)."""
    checked = user_errors(fn)

    def failed(error: gr.Error) -> tuple:
        return (*(gr.skip(),) * outputs, error_update(str(error.message), title))

    def with_box(result, box) -> tuple:
        return (*(result if outputs > 1 else (result,)), box)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                for result in checked(*args, **kwargs):
                    yield with_box(result, error_update())  # each time: the page may show only the latest
            except gr.Error as e:
                yield failed(e)
        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return with_box(checked(*args, **kwargs), error_update())
        except gr.Error as e:
            return failed(e)
    return call


def page_and_api(triggers, fn, *, inputs, outputs: list, box, api: "gr.Button", api_name: str,
                 title: str = "That did not work", **options):
    """Wire `fn` twice: for the page, on `triggers`, with its failures in `box` (`in_the_box`; private
    name `<api_name>_page`), and for API callers as `api_name` on `api` (a button never shown), where a
    failure is an error. Returns the page's event."""
    api.click(user_errors(fn), inputs=inputs, outputs=outputs, api_name=api_name, **options)
    return gr.on(triggers, in_the_box(fn, len(outputs), title), inputs=inputs, outputs=[*outputs, box],
                 api_name=f"{api_name}_page", api_visibility="private", **options)
