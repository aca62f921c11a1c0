"""`build_demo()`: the CycleGAN Studio Gradio app. Thin wiring over `cyclegan_core`; no model is
loaded until someone asks for one."""

from __future__ import annotations

import os

import gradio as gr
import torch
from fastapi import Depends
from fastapi.exceptions import RequestValidationError

from cyclegan_core import ModelStore
from cyclegan_core.engine.runtime import CoreShare, configure_threads

from .device import head_html, static_paths
from .learn_tab import build_learn_tab
from .model_cache import ModelCache
from .train_tab import build_train_tab
from .training import TrainingSlot
from .translate_tab import build_translate_tab
from .door import EventGuard, RouteDoor, WorkLedger, clean_validation_error
from .uploads import UploadGate, UploadJanitor, janitor_lifespan
from .visitors import Identities, app_secret
from .zerogpu import main_cpus

INTRO = """# CycleGAN Studio
Unpaired image-to-image translation with **CycleGAN** (Zhu et al., ICCV 2017): two generators learn
to turn one kind of picture into another, and back, from photos that were never paired. Drop in a
photo and translate it **at its full resolution**."""

# System fonts only: the page must not fetch anything from outside the app (offline, privacy).
THEME = gr.themes.Default(font=("ui-sans-serif", "system-ui", "sans-serif"),
                          font_mono=("ui-monospace", "SFMono-Regular", "monospace"))


def build_demo(cache: ModelCache | None = None) -> gr.Blocks:
    configure_threads()  # a Space's container may see the host's cores but own only two
    if main_cpus() == 1:
        torch.set_num_threads(1)  # ZeroGPU: GPU calls are forked from this process (`zerogpu.main_cpus`)
    gr.set_static_paths(static_paths())  # onnxruntime-web's files, when they are here (device.py)
    cache = cache or ModelCache(capacity=4)
    slot = TrainingSlot()
    share = CoreShare(main_cpus())  # training and translations size their CPU threads to their share
    # Uploads and results in Gradio's cache are deleted once they are CYCLEGAN_APP_CACHE_SECONDS old.
    keep = int(os.environ.get("CYCLEGAN_APP_CACHE_SECONDS", "3600"))
    with gr.Blocks(title="CycleGAN Studio", analytics_enabled=False, delete_cache=(min(600, keep), keep)) as demo:
        # Who is asking (visitors.py): a token the server signs, kept in the browser across reloads, and
        # in the session. The signing secret stays here; the browser state's own key protects nothing.
        remembered = gr.BrowserState("", storage_key="cyclegan-studio-visitor")
        visitor = gr.State("")
        loaded = demo.load(Identities(app_secret(ModelStore())).restore, inputs=remembered,
                           outputs=[visitor, remembered], api_visibility="private", queue=False)
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Translate", id="translate", elem_id="tab-translate"):
                task, extra = build_translate_tab(cache, visitor, loaded, share)
            with gr.Tab("Train", id="train", elem_id="tab-train"):
                build_train_tab(cache, slot, task, extra, visitor, loaded, share)
            with gr.Tab("Learn", id="learn", elem_id="tab-learn") as learn_tab:
                build_learn_tab(cache, visitor, loaded, extra, slot, learn_tab)
    # Two CPU cores: one job at a time per event family, a bounded waiting line that queued events
    # cannot skip (no direct runs through run/…: `api_open=False`).
    # Gradio summarises all kept events (up to 10,000, with pandas) after every event for its /monitoring
    # page; monitoring is off here (`launch_options`), so that CPU stays with the visitors.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))  # read by the queue made below
    demo.queue(max_size=32, default_concurrency_limit=1, api_open=False)
    # Unused uploads expire and the cache keeps to its budget (uploads.py); the janitor sweeps while the
    # server serves (`janitor_lifespan`, started and stopped with it by `launch_options()`).
    janitor = UploadJanitor.for_blocks(demo)
    EventGuard(demo, WorkLedger(), used_files=janitor.mark_used).install()  # every event, every route (door.py)
    return demo


# Layout the components do not give by themselves: the Translate tab's example strip (one row of
# thumbnails that wraps on a phone instead of hiding some), its progress box (a line of text over a
# full-width bar), captions that wrap, marked error boxes, and equations that scroll inside their box
# on a phone instead of being cut off.
CSS = """
#task-examples .grid-container { grid-template-columns: repeat(auto-fill, minmax(84px, 1fr)) !important;
                                 grid-template-rows: none !important; grid-auto-rows: 96px !important; }
#task-examples .grid-wrap { overflow-y: visible !important; min-height: 0 !important; height: auto !important; }
#translate-progress progress { display: block; width: 100%; height: 10px; margin-top: 6px; border: none;
                               border-radius: 5px; overflow: hidden; appearance: none; -webkit-appearance: none;
                               background: var(--neutral-200, #e5e7eb); }
#translate-progress progress::-webkit-progress-bar { background: var(--neutral-200, #e5e7eb); }
#translate-progress progress::-webkit-progress-value { background: var(--color-accent, #f97316); }
#translate-progress progress::-moz-progress-bar { background: var(--color-accent, #f97316); }
#task-examples .caption-label { display: none; }
/* A long choice in a dropdown ends in "…" before the arrow, never under it (the list shows it whole). */
.wrap-inner .secondary-wrap input { padding-right: 26px !important; text-overflow: ellipsis; }
.learn-pictures .caption-label { white-space: normal !important; overflow-wrap: anywhere; }
.block.error-box { border-left: 4px solid var(--error-border-color, #ef4444) !important; }
#learn-view { flex-wrap: wrap; }
.katex-display { overflow-x: auto; overflow-y: hidden; padding-bottom: 2px; }
/* A floating label sits above its pictures, not on them. */
.learn-grid .image-container, .learn-pictures .grid-wrap, #task-examples .grid-wrap { padding-top: 28px; }
@media (max-width: 640px) {
  .learn-pictures .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
  #learn-examples table { table-layout: fixed; width: 100%; }
  #learn-examples td, #learn-examples th { white-space: normal !important; overflow-wrap: anywhere; }
  .katex-display { font-size: 0.85em; }
}
"""


def launch_options() -> dict:
    """Options for `demo.launch()`; host and port come from GRADIO_SERVER_NAME/PORT when set."""
    # No run history: its routes would keep visitors' inputs and results and fetch assets for them, a
    # second door this app does not need (each visitor's own results are on their page).
    return {"theme": THEME, "css": CSS, "head": head_html(), "max_file_size": "100mb", "show_error": True,
            "run_history": False,
            "enable_monitoring": False,  # no /monitoring: visitors' timings are not a page for strangers
            "app_kwargs": {"dependencies": [Depends(RouteDoor()), Depends(UploadGate())],  # every route
                           "exception_handlers": {RequestValidationError: clean_validation_error},
                           "lifespan": janitor_lifespan}}
