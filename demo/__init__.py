"""CycleGAN Studio's Gradio UI (the only package that imports gradio)."""

from .app import build_demo, launch_options

__all__ = ["build_demo", "launch_options"]
