"""A handler's yield that names the outputs it changes: the others are left as they are.

A Gradio event with many outputs takes one value per output in a fixed order; `named(ORDER, a=…)`
gives that tuple with `gr.skip()` wherever a name is not given, so a handler says only what changes.
"""

from __future__ import annotations

from typing import Any

import gradio as gr


def named(order: tuple[str, ...], **values: Any) -> tuple:
    """`values` in the event's output `order`, gr.skip() for the outputs not named."""
    unknown = set(values) - set(order)
    if unknown:
        raise ValueError(f"not outputs of this event: {', '.join(sorted(unknown))}")
    return tuple(values.get(name, gr.skip()) for name in order)
